"""Probe: a dynamic resource that calls no API. It proves the engine, the language host and the
dynamic-provider plumbing work (setup checks, `make demo` before the emulator is up, tests).

Its ``value`` is echoed as ``echo``; the id is a digest of it. Changing ``value`` updates in place.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from gemini_tuning.resources._wait import say


class ProbeProvider(dyn.ResourceProvider):
    serialize_as_secret_always = False  # holds nothing; a unit test asserts vars(self) == {}

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        if not isinstance(news.get("value"), str) or not news["value"]:
            return dyn.CheckResult(
                news, [dyn.CheckFailure("value", "value must be a non-empty string")]
            )
        return dyn.CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = olds.get("value") != news.get("value")
        return dyn.DiffResult(changes=changed, replaces=[])

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        say(str(props.get("resource_name")), f"created with value {props['value']!r}")
        return dyn.CreateResult(_digest(props["value"]), _outputs(props))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(
            id_,
            _outputs(props),
            {"value": props["value"], "resource_name": props.get("resource_name")},
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(_outputs(news))


# One instance per process; pickled by reference into each resource's state.
_PROVIDER = ProbeProvider()


class Probe(dyn.Resource, module="testing", name="Probe"):
    echo: pulumi.Output[str]
    digest: pulumi.Output[str]

    def __init__(
        self, name: str, value: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {"value": value, "resource_name": name, "echo": None, "digest": None}
        super().__init__(_PROVIDER, name, props, opts)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _outputs(props: dict[str, Any]) -> dict[str, Any]:
    value = props["value"]
    return {
        "value": value,
        "resource_name": props.get("resource_name"),
        "echo": value,
        "digest": _digest(value),
    }
