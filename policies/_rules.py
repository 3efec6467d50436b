"""The guardrails as pure functions: resource properties and policy config in, messages out.

No import of ``pulumi_policy`` here (``__main__.py`` wires these into the pack), so the unit
tests run them in the project's own venv. Each function returns the violation messages (empty:
compliant). What the policies see of our dynamic resources (README.md, "What the pack sees"):
the type token ``pulumi-python:dynamic/vertex:<Resource>``, the inputs after the provider's
``check`` (so a TuningJob's ``cost_estimate``), and the default provider
``pulumi:providers:pulumi-python``, whose inputs are the stack config (``gemini-tuning:...``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TUNING_JOB = "pulumi-python:dynamic/vertex:TuningJob"
TUNED_MODEL = "pulumi-python:dynamic/vertex:TunedModel"
DYNAMIC_PROVIDER = "pulumi:providers:pulumi-python"
NAMESPACE = "gemini-tuning"
DEFAULT_LOCATION = "us-central1"  # the backends' default (gemini_tuning.backends._settings)

# Policy config defaults (`--policy-pack-config FILE`, keyed by policy name; README.md).
DEFAULTS: dict[str, dict[str, Any]] = {
    "cost-ceiling-per-model": {"maxUsd": 100.0},
    "cost-ceiling-per-stack": {"maxUsd": 500.0},
    "allowed-base-models": {
        "models": ["gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"]
    },
    "allowed-regions": {"regions": ["us-central1"]},
    "required-labels": {"labels": ["team"]},
    "prod-promotions-carry-a-gate": {"stacks": ["prod"]},
}


@dataclass(frozen=True)
class Resource:
    """What a policy sees of one resource: its type, name, URN and properties."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]


def setting(policy: str, key: str, config: Mapping[str, Any]) -> Any:
    """``config[key]`` (the policy's config from --policy-pack-config), else the default."""
    value = config.get(key)
    return DEFAULTS[policy][key] if value is None else value


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def stack_config(provider_props: Mapping[str, Any] | None, key: str) -> Any:
    """A ``gemini-tuning:`` stack config value as the default provider records it (objects
    are JSON text there)."""
    value = (provider_props or {}).get(f"{NAMESPACE}:{key}")
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.6f}".rstrip("0")


def _count(value: Any) -> str:
    """A count as the engine hands it over (protobuf numbers are floats): ``1,234``."""
    return f"{int(value or 0):,}"


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(values) or "nothing"


# -- per resource ----------------------------------------------------------------------------


def cost_per_model(name: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    ceiling = float(setting("cost-ceiling-per-model", "maxUsd", config))
    estimate = props.get("cost_estimate") or {}
    usd = estimate.get("usd")
    if usd is None or float(usd) <= ceiling:
        return []
    per_epoch = (
        " per epoch (the service chooses the epochs)"
        if estimate.get("epochs_chosen_by_service")
        else ""
    )
    return [
        f"{name}: estimated tuning cost {_usd(float(usd))}{per_epoch} "
        f"({_count(estimate.get('training_tokens'))} training tokens = "
        f"{_count(estimate.get('dataset_tokens'))} tokens x {_count(estimate.get('epochs'))} "
        "epochs of "
        f"{estimate.get('base_model')} at ${estimate.get('usd_per_million_tokens'):g} per 1M "
        f"tokens) is over the per-model ceiling {_usd(ceiling)} "
        "(policy config cost-ceiling-per-model.maxUsd)"
    ]


def base_model(name: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    allowed = [str(m) for m in setting("allowed-base-models", "models", config)]
    model = props.get("base_model")
    if model is None or str(model) in allowed:
        return []  # continuous tuning (pre_tuned_model) names no base model
    return [
        f"{name}: base model {model} is not allowed (allowed: {_allowed(allowed)}; "
        "policy config allowed-base-models.models)"
    ]


def region(
    name: str, provider_props: Mapping[str, Any] | None, config: Mapping[str, Any]
) -> list[str]:
    allowed = [str(r) for r in setting("allowed-regions", "regions", config)]
    location = stack_config(provider_props, "location") or DEFAULT_LOCATION
    if str(location) in allowed:
        return []
    return [
        f"{name}: region {location} (stack config {NAMESPACE}:location) is not allowed "
        f"(allowed: {_allowed(allowed)}; policy config allowed-regions.regions)"
    ]


def labels(name: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    required = [str(label) for label in setting("required-labels", "labels", config)]
    present = dict(props.get("labels") or {})
    filled = sorted(key for key, value in present.items() if str(value or "").strip())
    absent = [label for label in required if label not in present]
    blank = [label for label in required if label in present and label not in filled]
    problems = []
    if absent:
        problems.append(
            f"missing required label(s) {', '.join(absent)} (it has {', '.join(filled) or 'none'})"
        )
    if blank:
        problems.append(
            f"required label(s) {', '.join(blank)} blank (an empty value does not count)"
        )
    if not problems:
        return []
    return [
        f"{name}: {'; '.join(problems)}; set them under `labels:` in its definition "
        "(policy config required-labels.labels)"
    ]


def promotion_gate(
    name: str, urn: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    stacks = [str(s) for s in setting("prod-promotions-carry-a-gate", "stacks", config)]
    stack = stack_of(urn)
    if not props.get("adopted") or stack not in stacks:
        return []
    promotion = dict(props.get("promotion") or {})
    gate = {k: v for k, v in dict(promotion.get("gate") or {}).items() if v is not None}
    if gate:
        return []
    what = (
        f"v{int(promotion.get('version') or 0)} from {promotion.get('from')}"
        if promotion
        else "(no promotion recorded)"
    )
    return [
        f"{name}: the promotion {what} into {stack} carries no evaluation gate; give the "
        "definition an `evaluation:` with a `gate:` (exact_match, token_f1) so only a version "
        "whose recorded evaluation meets it reaches this stack "
        "(policy config prod-promotions-carry-a-gate.stacks)"
    ]


# -- per stack -------------------------------------------------------------------------------


def cost_per_stack(resources: Iterable[Resource], config: Mapping[str, Any]) -> list[str]:
    ceiling = float(setting("cost-ceiling-per-stack", "maxUsd", config))
    jobs = [r for r in resources if r.type == TUNING_JOB]
    costs = {
        job.name: float(usd)
        for job in jobs
        if (usd := (job.props.get("cost_estimate") or {}).get("usd")) is not None
    }
    total = sum(costs.values())
    if total <= ceiling or not jobs:
        return []
    parts = ", ".join(f"{name} {_usd(usd)}" for name, usd in sorted(costs.items()))
    return [
        f"stack {stack_of(jobs[0].urn)}: its tuning jobs are estimated at {_usd(total)} in all "
        f"({parts}), over the per-stack ceiling {_usd(ceiling)} "
        "(policy config cost-ceiling-per-stack.maxUsd)"
    ]


def promoting_stack_tunes(resources: Iterable[Resource]) -> list[str]:
    """A promoting stack (stack config ``promoteFrom``, as program.py decides, or any adopted
    TunedModel) adopts released versions; it must never submit (and pay for) a tuning job."""
    resources = list(resources)
    jobs = sorted(r.name for r in resources if r.type == TUNING_JOB)
    if not jobs:
        return []
    sources = {
        str(source)
        for r in resources
        if r.type == DYNAMIC_PROVIDER and (source := stack_config(r.props, "promoteFrom"))
    }
    adopted = sorted(r.name for r in resources if r.type == TUNED_MODEL and r.props.get("adopted"))
    if not sources and not adopted:
        return []
    why = []
    if sources:
        why.append(f"{NAMESPACE}:promoteFrom is {', '.join(sorted(sources))}")
    if adopted:
        why.append(f"it adopts {', '.join(adopted)}")
    return [
        f"stack {stack_of(resources[0].urn)} is a promoting stack ({'; '.join(why)}) but "
        f"declares tuning job(s) {', '.join(jobs)}: a promoting stack serves versions another "
        "stack tuned and released, and never tunes (or pays) again"
    ]
