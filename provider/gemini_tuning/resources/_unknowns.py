"""Inputs that are not known yet at preview (outputs of resources still to be created)."""

from __future__ import annotations

from typing import Any

from pulumi.output import Output, Unknown
from pulumi.runtime import rpc


def is_unknown(value: Any) -> bool:
    """True for the engine's unknown markers, in each form the SDK hands them to a provider."""
    return isinstance(value, Unknown | Output) or (isinstance(value, str) and value == rpc.UNKNOWN)


def with_stand_ins(raw: dict[str, Any], stand_ins: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with each unknown value replaced by a plausible stand-in (or dropped), so the rest
    validates at preview; the real value is validated at `up`, once it is known."""
    return {
        key: stand_ins[key] if is_unknown(value) else value
        for key, value in raw.items()
        if not is_unknown(value) or key in stand_ins
    }
