"""Release: the durable record of one tuned model version (see gemini_tuning._releases).

A tuning stack declares one per model; it writes ``<store>/<model>/v<version>.json`` once the
model and its evaluation are known, and rewrites it only when what it records changes. Delete
leaves the object in place: a record outlives the stack's current version (staging may still
serve it), and ``gemini-tuning releases prune`` removes it together with its version.
"""

from __future__ import annotations

from typing import Any, Unpack

import pulumi
import pulumi.dynamic as dyn

from gemini_tuning import backends
from gemini_tuning.resources._declared import ReleaseArgs, ReleaseAttributes
from gemini_tuning.resources._lifecycle import normal
from gemini_tuning.resources._props import declared_props
from gemini_tuning.resources._wait import say
from gemini_tuning.specs import RELEASE

# Declared in specs.ReleaseSpec and specs.ReleaseOutputs.
INPUT_KEYS = RELEASE.arguments
# What the resource holds as inputs in state: its declared inputs and its name.
STATE_INPUTS = RELEASE.input_keys
OUTPUTS = RELEASE.provider_outputs


class ReleaseProvider(dyn.ResourceProvider):
    serialize_as_secret_always = False  # holds nothing; a unit test asserts vars(self) == {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        backends.configure(req.config.get)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        store = news.get("store")
        if isinstance(store, str) and not store.startswith("gs://"):
            return dyn.CheckResult(news, [dyn.CheckFailure("store", f"not a gs:// URI: {store}")])
        return dyn.CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in INPUT_KEYS if _same(olds.get(k)) != _same(news.get(k))]
        if changed:
            fields = _changed_fields(olds.get("record") or {}, news.get("record") or {})
            say(
                str(news.get("resource_name")),
                f"update: release record ({', '.join(fields or changed)} changed)",
            )
        return dyn.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        outs = _write(props)
        return dyn.CreateResult(f"release-{props['resource_name']}", outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        # All of them: a refresh that dropped one would make a refreshed preview's saved plan
        # differ from the `up` that applies it.
        inputs = {k: props[k] for k in STATE_INPUTS if k in props}
        return dyn.ReadResult(id_, props, inputs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(_write(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("record_uri"):
            say(
                str(props.get("resource_name")),
                f"kept release record {props['record_uri']} (durable; `gemini-tuning releases "
                "prune` removes it with its version)",
            )


# One instance per process; pickled by reference into each resource's state.
_PROVIDER = ReleaseProvider()


class Release(ReleaseAttributes, dyn.Resource, module="vertex", name="Release"):
    """The durable record of a released model version, in the release store."""

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[ReleaseArgs],
    ) -> None:
        props = declared_props("Release", resource_name, args, RELEASE)
        super().__init__(_PROVIDER, resource_name, props, opts)


def _same(value: Any) -> Any:
    """What a record means: the engine drops null map entries from state, so None is absent."""
    if isinstance(value, dict):
        return normal({k: _same(v) for k, v in value.items() if v is not None})
    return normal(value)


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in {*old, *new} if _same(old.get(k)) != _same(new.get(k)))


def _write(props: dict[str, Any]) -> dict[str, Any]:
    from gemini_tuning import _releases

    outs = {k: props.get(k) for k in STATE_INPUTS}
    record = dict(props.get("record") or {})
    if not record.get("tuned_model"):
        say(str(props["resource_name"]), "no tuned model yet: nothing to record")
        return {**outs, "record_uri": None, "record_digest": None}
    # The engine hands numbers back as floats: the record says version 2, not 2.0.
    record["version"] = int(record["version"])
    uri = _releases.record_uri(str(props["store"]), str(record["model"]), record["version"])
    _releases.write_record(backends.settings(), uri, record)
    say(str(props["resource_name"]), f"recorded {record['model']} v{record['version']} at {uri}")
    return {**outs, "record_uri": uri, "record_digest": _releases.digest(record)}
