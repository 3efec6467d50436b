"""TunedModel: a tuned model version this stack serves. Docs: tuned_model.md.

It never deletes a model: only the TuningJob that produced a version may (see _claims). It
records this stack's claim on the version (labels any stack can read), sets its aliases and,
for a model this stack tuned (*owned*), its display name, description and labels. An *adopted*
model (``adopted=True``, tuned by another stack: promotion) gets only the claim and aliases.
On delete, or when it moves to another version, it removes its own aliases and claim.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Unpack

import pulumi
import pulumi.dynamic as dyn

from gemini_tuning import _claims as claims
from gemini_tuning import backends
from gemini_tuning.resources import _deletion
from gemini_tuning.resources._declared import TunedModelArgs, TunedModelAttributes
from gemini_tuning.resources._lifecycle import MODEL_REPLACE_KEYS, MODEL_UPDATE_KEYS, plan_diff
from gemini_tuning.resources._props import declared_props, protected_if_prevented
from gemini_tuning.resources._unknowns import with_stand_ins
from gemini_tuning.resources._wait import say
from gemini_tuning.specs import (
    RESERVED_LABEL_PREFIX,
    TUNED_MODEL,
    SpecError,
    TunedModelSpec,
    parse,
)

OUTPUTS = TUNED_MODEL.provider_outputs
# Labels Vertex itself puts on a tuned model version (the emulator mirrors them:
# emulator/_vertex.py TUNING_LABELS): not the user's, so `pulumi import` leaves them out.
SERVICE_LABELS = frozenset(
    {"google-vertex-llm-tuning-base-model-id", "google-vertex-llm-tuning-job-id", "tune-type"}
)
# The spec's fields (``promotion`` among them: set on an adopted model by the program, read by
# policy packs, ignored by the diff) and ``stack``.
INPUT_KEYS = TUNED_MODEL.input_keys


class TunedModelProvider(dyn.ResourceProvider):
    serialize_as_secret_always = False  # holds nothing; a unit test asserts vars(self) == {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        backends.configure(req.config.get)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        raw = {k: v for k, v in news.items() if k in TunedModelSpec.model_fields}
        stand_ins = {"model": "projects/p/locations/l/models/unknown", "endpoint": None}
        try:
            parse(TunedModelSpec, with_stand_ins(raw, stand_ins))
        except SpecError as err:
            return dyn.CheckResult(news, [dyn.CheckFailure(p, r) for p, r in err.failures])
        return dyn.CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        plan = plan_diff(
            TunedModelSpec,
            olds,
            news,
            replace_keys=MODEL_REPLACE_KEYS,
            update_keys=MODEL_UPDATE_KEYS,
        )
        resource = str(news.get("resource_name"))
        lines = plan.describe()
        for line in lines:
            say(resource, line)
        if plan.replaces:
            why = [line.removeprefix("replace: ") for line in lines if line.startswith("replace:")]
            _deletion.refuse_replace(resource, olds, news, why, _what_it_holds(olds))
        return dyn.DiffResult(
            changes=bool(plan.changed), replaces=plan.replaces, delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = parse(TunedModelSpec, _spec_inputs(props))
        backend = backends.backend_for(spec.backend)
        try:
            target = backend.version_name(spec.model)
        except backends.NotFoundError as err:
            raise RuntimeError(f"model {spec.model} does not exist: {err}") from err
        _apply_metadata(backend, spec, target, str(props.get("stack")), previous_labels={})
        status = backend.merge_aliases(target, add=spec.version_aliases, remove=[])
        verb = "adopted" if spec.adopted else "manages"
        say(spec.resource_name, f"{verb} {status.name}, aliases {list(status.version_aliases)}")
        return dyn.CreateResult(status.name, _outputs(props, status))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        backend = backends.backend_for(str(props.get("backend") or "vertex"))
        current = str(props.get("model_name") or id_)
        try:
            status = backend.get_model(current)
        except backends.NotFoundError:
            say(str(props.get("resource_name")), f"model {current} is gone")
            return dyn.ReadResult("", {})
        if "model" not in props:  # `pulumi import`: no recorded inputs
            props = _imported_inputs(props, status)
        outs = _outputs(props, status)
        # Record what is really there, so an alias removed behind our back shows as an update.
        declared = props.get("version_aliases") or []
        outs["version_aliases"] = [a for a in declared if a in status.version_aliases]
        return dyn.ReadResult(id_, outs, {k: props[k] for k in INPUT_KEYS if k in props})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        spec = parse(TunedModelSpec, _spec_inputs(news))
        backend = backends.backend_for(spec.backend)
        stack = str(news.get("stack") or olds.get("stack"))
        old_model = str(olds.get("model_name") or olds.get("model"))
        old_aliases = set(olds.get("version_aliases") or [])
        # A bare name or an alias is resolved to the version it means now: if that moved (the
        # model's default is another version), this stack moves with it.
        target = backend.version_name(spec.model)
        same = _same_model(old_model, target)
        if same:
            add = [a for a in spec.version_aliases if a not in old_aliases]
            remove = sorted(old_aliases - set(spec.version_aliases))
        else:
            _release(
                backend,
                spec.backend,
                old_model,
                sorted(old_aliases),
                stack=stack,
                resource=spec.resource_name,
            )
            add, remove = list(spec.version_aliases), []
            say(spec.resource_name, f"moving from {old_model} to {target}")
        previous = olds.get("labels") or {} if same else {}
        _apply_metadata(backend, spec, target, stack, previous_labels=previous)
        status = backend.merge_aliases(target, add=add, remove=remove)
        return dyn.UpdateResult(_outputs(news, status))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Never deletes the model: removes this stack's aliases and claim (see _claims), under
        ``delete`` and ``abandon`` alike (a claim left behind by a stack that no longer tracks
        the version would keep it from `releases prune` forever); ``prevent`` refuses."""
        _deletion.refuse_delete(str(props.get("resource_name")), props, _what_it_holds(props))
        backend = backends.backend_for(str(props.get("backend") or "vertex"))
        current = str(props.get("model_name") or id_)
        aliases = list(props.get("version_aliases") or [])
        stack = str(props.get("stack") or "")
        resource = str(props.get("resource_name"))
        kind = str(props.get("backend") or "vertex")
        _release(backend, kind, current, aliases, stack=stack, resource=resource)
        say(
            str(props.get("resource_name")),
            f"left model {current} in place (only its TuningJob deletes it); "
            f"removed aliases {aliases} and this stack's claim",
        )


# One instance per process; pickled by reference into each resource's state.
_PROVIDER = TunedModelProvider()


class TunedModel(TunedModelAttributes, dyn.Resource, module="vertex", name="TunedModel"):
    """A tuned model's metadata and aliases; adopting one is how a model is promoted."""

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[TunedModelArgs],
    ) -> None:
        props = declared_props("TunedModel", resource_name, args, TUNED_MODEL)
        props["stack"] = f"{pulumi.get_project()}/{pulumi.get_stack()}"
        opts = protected_if_prevented(opts, args.get("deletion_policy"))
        super().__init__(_PROVIDER, resource_name, props, opts)


def _imported_inputs(props: dict[str, Any], status: backends.ModelStatus) -> dict[str, Any]:
    """The inputs a program declaring this existing version would have: its metadata, user
    labels (not claims or ownership marks) and aliases (not the service's ``default``). A read
    writes nothing: this stack's claim is recorded by the resource's next update."""
    found = {
        "resource_name": props["resource_name"],
        "stack": props["stack"],
        "backend": str(props.get("backend") or "vertex"),
        "model": status.name,
        "endpoint": status.endpoints[0] if status.endpoints else None,
        "display_name": status.display_name,
        "description": status.description,
        "labels": {
            k: v
            for k, v in status.labels.items()
            if not k.startswith(RESERVED_LABEL_PREFIX) and k not in SERVICE_LABELS
        },
        "version_aliases": [a for a in status.version_aliases if a not in claims.SERVICE_ALIASES],
    }
    return {k: v for k, v in found.items() if v is not None}


def _what_it_holds(props: dict[str, Any]) -> str:
    """What this stack would stop serving, for a refusal: its aliases and claim on the model."""
    model = props.get("model_name") or props.get("model")
    aliases = list(props.get("version_aliases") or [])
    return f"this stack's aliases {aliases} and claim on {model}"


def _same_model(a: str, b: str) -> bool:
    """``b`` is an exact version name (resolved); ``a`` a recorded one (a bare name recorded by
    an earlier provider version counts as the same model)."""
    return a == b or (a.split("@", 1)[0] == b.split("@", 1)[0] and "@" not in a)


def _release(
    backend: backends.TuningBackend,
    kind: str,
    model: str,
    aliases: list[str],
    *,
    stack: str,
    resource: str,
) -> None:
    """This stack stops serving ``model``: its aliases and claim go (already gone is fine).
    A claim that stays after the version's own labels lost it sits on the model (a bare-name
    write by an earlier provider version): the version stays claimed, and the user is told."""
    with contextlib.suppress(backends.NotFoundError):
        model = backend.version_name(model)
        if aliases:
            backend.merge_aliases(model, add=[], remove=aliases)
        if kind == "vertex" and stack:
            status = backend.update_labels(
                model, lambda labels: claims.without_claim(labels, stack)
            )
            stuck = claims.claim_key(stack)
            if stuck in status.labels:
                say(
                    resource,
                    f"warning: the claim {stuck} is still on {model}: it is a label of the "
                    f"model {model.split('@', 1)[0]} (every version shows it), not of the "
                    "version; remove it there (UpdateModel on the bare model name, labels). "
                    "`gemini-tuning releases list` reports such claims",
                )


def _spec_inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k in TunedModelSpec.model_fields}


def _apply_metadata(
    backend: backends.TuningBackend,
    spec: TunedModelSpec,
    target: str,
    stack: str,
    previous_labels: dict[str, str],
) -> None:
    """This stack's claim on the version ``target`` (``models/X@N``), and for an owned model
    its labels (on that version) and display name and description (the model's: every version
    shows them; see tuned_model.md)."""
    if not spec.adopted:
        backend.update_model(target, display_name=spec.display_name, description=spec.description)
    if spec.backend != "vertex":
        return  # the Gemini API has no labels: no claim can be recorded there (see docs)

    def claimed(labels: Mapping[str, str]) -> dict[str, str]:
        kept = {k: v for k, v in labels.items() if k not in previous_labels}
        return claims.with_claim({**kept, **({} if spec.adopted else spec.labels)}, stack)

    backend.update_labels(target, claimed)


def _outputs(props: dict[str, Any], status: backends.ModelStatus) -> dict[str, Any]:
    outs = {k: props.get(k) for k in INPUT_KEYS}
    outs.update(
        model_name=status.name,
        version_id=status.name.rsplit("@", 1)[-1] if "@" in status.name else None,
        current_aliases=list(status.version_aliases),
        endpoints=list(status.endpoints),
    )
    return outs
