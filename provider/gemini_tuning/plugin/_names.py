"""Property names: snake_case (the controllers, Python) <-> camelCase (the schema, the wire)."""

from __future__ import annotations

import re

_UPPER = re.compile(r"[A-Z]")


def to_wire(name: str) -> str:
    """``training_dataset_uri`` -> ``trainingDatasetUri``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def from_wire(name: str) -> str:
    """``trainingDatasetUri`` -> ``training_dataset_uri``."""
    return _UPPER.sub(lambda m: "_" + m.group(0).lower(), name)
