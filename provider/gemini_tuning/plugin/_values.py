"""Pulumi property values <-> the plain dicts the controllers take: pure, no I/O.

The controllers (the ``ResourceProvider`` classes in ``gemini_tuning.resources``) speak the
dynamic providers' dialect: snake_case keys, plain Python values, unknowns as the SDK's unknown
marker. The plugin speaks the package schema's: camelCase top-level property names (what a YAML
or TypeScript program writes), ``PropertyValue``s with secret bits. Only top-level names are
translated: map keys inside ``labels``, ``gate`` or ``metrics`` are the user's or the service's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.runtime.rpc import UNKNOWN  # the marker the dynamic servicer hands controllers

from gemini_tuning.plugin._names import from_wire, to_wire

__all__ = [
    "PropertyValue",
    "from_plain",
    "from_wire",
    "props_in",
    "props_out",
    "to_plain",
    "to_wire",
]


def to_plain(value: PropertyValue) -> Any:
    """A property value as the dynamic servicer would hand it over (secrets unwrapped)."""
    inner = value.value
    if isinstance(inner, Computed):
        return UNKNOWN
    if isinstance(inner, Mapping):
        return {k: to_plain(v) for k, v in inner.items()}
    if isinstance(inner, tuple | list):
        return [to_plain(v) for v in inner]
    return inner


def from_plain(value: Any, *, secret: bool = False) -> PropertyValue:
    """A plain value as a property value; ints become numbers (the wire has no integers)."""
    if isinstance(value, str) and value == UNKNOWN:
        # The wire form of an unknown; the SDK (3.259) cannot marshal its own Computed value.
        return PropertyValue(UNKNOWN, is_secret=secret)
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        wrapped: Any = value
    elif isinstance(value, int):
        wrapped = float(value)
    elif isinstance(value, Mapping):
        wrapped = {str(k): from_plain(v) for k, v in value.items()}
    elif isinstance(value, list | tuple):
        wrapped = [from_plain(v) for v in value]
    else:
        raise TypeError(f"cannot send a {type(value).__name__} to the engine: {value!r}")
    return PropertyValue(wrapped, is_secret=secret)


def props_in(wire: Mapping[str, PropertyValue]) -> dict[str, Any]:
    """Engine properties -> controller props."""
    return {from_wire(k): to_plain(v) for k, v in wire.items()}


def props_out(
    plain: Mapping[str, Any], *, secret: Iterable[str] = (), keep: Iterable[str] | None = None
) -> dict[str, PropertyValue]:
    """Controller props -> engine properties; ``secret`` names (snake_case) are marked secret,
    ``keep`` (if given) is the allow-list of names sent at all. Top-level None values are left
    out, as the dynamic servicer's serializer leaves them out: an absent input then counts as
    its spec default in the controllers' diffs, the same on both faces."""
    hidden, allowed = set(secret), None if keep is None else set(keep)
    return {
        to_wire(k): from_plain(v, secret=k in hidden)
        for k, v in plain.items()
        if (allowed is None or k in allowed) and not k.startswith("__") and v is not None
    }
