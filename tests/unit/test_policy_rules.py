"""The policy pack's checks (policies/_rules.py) on their own: defaults, config, edge cases.
The engine tests (tests/engine/test_policies.py) show them enforced by `pulumi preview`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

RULES_FILE = Path(__file__).resolve().parents[2] / "policies" / "_rules.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gemini_tuning_policy_rules", RULES_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


rules = _load()
URN = "urn:pulumi:{stack}::gemini-tuning::{type}::{name}"


def resource(kind: str, name: str, stack: str = "dev", **props: Any) -> Any:
    return rules.Resource(kind, name, URN.format(stack=stack, type=kind, name=name), props)


def estimate(usd: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "base_model": "gemini-2.5-flash",
        "dataset_tokens": 1000,
        "epochs": 3,
        "epochs_chosen_by_service": False,
        "training_tokens": 3000,
        "usd_per_million_tokens": 5.0,
        "usd": usd,
        **extra,
    }


def test_stack_of_reads_the_urn() -> None:
    assert rules.stack_of(URN.format(stack="prod", type="a:b:C", name="x")) == "prod"


def test_stack_config_decodes_objects_as_the_provider_records_them() -> None:
    props = {"gemini-tuning:models": '{"qa": 2}', "gemini-tuning:location": "europe-west4"}
    assert rules.stack_config(props, "models") == {"qa": 2}
    assert rules.stack_config(props, "location") == "europe-west4"
    assert rules.stack_config(None, "location") is None


def test_cost_per_model_default_ceiling_and_config() -> None:
    assert rules.cost_per_model("qa", {"cost_estimate": estimate(99.0)}, {}) == []
    [message] = rules.cost_per_model("qa", {"cost_estimate": estimate(150.0)}, {})
    assert message == (
        "qa: estimated tuning cost $150.00 (3,000 training tokens = 1,000 tokens x 3 epochs of "
        "gemini-2.5-flash at $5 per 1M tokens) is over the per-model ceiling $100.00 "
        "(policy config cost-ceiling-per-model.maxUsd)"
    )
    assert rules.cost_per_model("qa", {"cost_estimate": estimate(150.0)}, {"maxUsd": 200}) == []


def test_cost_per_model_says_when_the_service_chooses_the_epochs() -> None:
    props = {"cost_estimate": estimate(150.0, epochs=1, epochs_chosen_by_service=True)}
    [message] = rules.cost_per_model("qa", props, {})
    assert "$150.00 per epoch (the service chooses the epochs)" in message


@pytest.mark.parametrize("props", [{}, {"cost_estimate": estimate(None)}])
def test_no_estimate_no_cost_verdict(props: dict[str, Any]) -> None:
    assert rules.cost_per_model("qa", props, {"maxUsd": 0}) == []


def test_base_model_and_region() -> None:
    assert rules.base_model("qa", {"base_model": "gemini-2.5-flash"}, {}) == []
    assert rules.base_model("qa", {"pre_tuned_model": "projects/p/models/1"}, {}) == []
    [message] = rules.base_model("qa", {"base_model": "gemini-1.5-pro-002"}, {})
    assert "base model gemini-1.5-pro-002 is not allowed (allowed: gemini-2.5-flash," in message
    assert rules.region("qa", {}, {}) == []  # the backends' default, us-central1
    [message] = rules.region("qa", {"gemini-tuning:location": "asia-east1"}, {})
    assert message.startswith("qa: region asia-east1 (stack config gemini-tuning:location)")


def test_required_labels_count_empty_values_as_missing() -> None:
    assert rules.labels("qa", {"labels": {"team": "search"}}, {}) == []
    [message] = rules.labels("qa", {"labels": {"team": " "}}, {"labels": ["team", "owner"]})
    assert message == (
        "qa: missing required label(s) owner (it has none); required label(s) team blank (an "
        "empty value does not count); set them under `labels:` in its definition (policy config "
        "required-labels.labels)"
    )
    [message] = rules.labels("qa", {"labels": {"owner": "x"}}, {"labels": ["team", "owner"]})
    assert message.startswith("qa: missing required label(s) team (it has owner); set them")


def test_the_gate_rule_applies_to_adopted_models_in_the_configured_stacks() -> None:
    urn = URN.format(stack="prod", type=rules.TUNED_MODEL, name="qa-model")
    gated = {"from": "o/p/staging", "version": 2, "gate": {"exact_match": 0.6}}
    ungated = {**gated, "gate": {}}
    assert rules.promotion_gate("qa-model", urn, {"adopted": True, "promotion": gated}, {}) == []
    [message] = rules.promotion_gate("qa-model", urn, {"adopted": True, "promotion": ungated}, {})
    assert message.startswith(
        "qa-model: the promotion v2 from o/p/staging into prod carries no evaluation gate"
    )
    staging = urn.replace(":prod::", ":staging::")
    assert (
        rules.promotion_gate("qa-model", staging, {"adopted": True, "promotion": ungated}, {}) == []
    )
    assert rules.promotion_gate("qa-model", urn, {"adopted": False}, {}) == []
    [missing] = rules.promotion_gate("qa-model", urn, {"adopted": True}, {})
    assert "(no promotion recorded)" in missing


def test_the_stack_ceiling_sums_every_job() -> None:
    jobs = [
        resource(rules.TUNING_JOB, "a", cost_estimate=estimate(300.0)),
        resource(rules.TUNING_JOB, "b", cost_estimate=estimate(250.0)),
        resource(rules.TUNING_JOB, "c"),  # created before jobs recorded an estimate
    ]
    [message] = rules.cost_per_stack(jobs, {})
    assert message == (
        "stack dev: its tuning jobs are estimated at $550.00 in all (a $300.00, b $250.00), "
        "over the per-stack ceiling $500.00 (policy config cost-ceiling-per-stack.maxUsd)"
    )
    assert rules.cost_per_stack(jobs, {"maxUsd": 600}) == []


def test_a_promoting_stack_is_recognised_by_config_or_by_adoption() -> None:
    job = resource(rules.TUNING_JOB, "qa", stack="staging")
    provider = resource(
        rules.DYNAMIC_PROVIDER,
        "default",
        stack="staging",
        **{"gemini-tuning:promoteFrom": "o/p/dev"},
    )
    adopted = resource(rules.TUNED_MODEL, "qa-model", stack="staging", adopted=True)
    owned = resource(rules.TUNED_MODEL, "qa-model", stack="dev", adopted=False)
    assert rules.promoting_stack_tunes([job, owned]) == []  # a tuning stack
    assert rules.promoting_stack_tunes([provider, adopted]) == []  # a promoting stack
    [by_config] = rules.promoting_stack_tunes([provider, job])
    assert by_config.startswith(
        "stack staging is a promoting stack (gemini-tuning:promoteFrom is o/p/dev) but declares "
        "tuning job(s) qa"
    )
    [by_adoption] = rules.promoting_stack_tunes([job, adopted])
    assert "(it adopts qa-model)" in by_adoption
