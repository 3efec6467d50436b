"""The shipped stack files form chains that can run: every promoteFrom names a shipped stack on
the same backend (endpoint, project and location), and promotes nothing it does not carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

STACKS = Path(__file__).resolve().parents[2] / "stacks"
NAMESPACE = "gemini-tuning"
BACKEND_KEYS = ("apiEndpoint", "project", "location")


def _config(stack: str) -> dict[str, Any]:
    text = (STACKS / f"Pulumi.{stack}.yaml").read_text()
    config = (yaml.safe_load(text) or {}).get("config") or {}
    return {k.removeprefix(f"{NAMESPACE}:"): v for k, v in config.items()}


SHIPPED = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml")
)
PROMOTING = [s for s in SHIPPED if _config(s).get("promoteFrom")]


def test_the_demo_chain_and_the_cloud_chain_are_both_shipped() -> None:
    assert {"dev", "local-staging", "cloud-dev", "staging", "prod"} <= set(SHIPPED)
    assert _config("local-staging")["promoteFrom"].endswith("/dev")
    assert _config("staging")["promoteFrom"].endswith("/cloud-dev")
    assert _config("prod")["promoteFrom"].endswith("/staging")


@pytest.mark.parametrize("stack", PROMOTING)
def test_every_promote_from_is_a_shipped_stack_on_the_same_backend(stack: str) -> None:
    mine = _config(stack)
    source = str(mine["promoteFrom"]).rsplit("/", 1)[-1]
    assert source in SHIPPED, f"{stack} promotes from {source}, which is not shipped"
    theirs = _config(source)
    for key in BACKEND_KEYS:
        assert mine.get(key) == theirs.get(key), (
            f"{stack} and its source {source} differ in {key}: "
            f"{mine.get(key)!r} != {theirs.get(key)!r}"
        )
    carried = theirs["models"]
    carried_names = set(carried) if isinstance(carried, dict | list) else set()
    assert set(mine["models"]) <= carried_names, f"{stack} promotes models {source} lacks"
