"""gemini-tuning's policy pack: cost, base model, region, labels and promotion guardrails.

Run it with ``pulumi preview --policy-pack policies/pack`` (README.md beside this file says why
the launcher and not the directory, and lists the config). The checks live in ``_rules.py``;
this file only wires them into ``pulumi_policy`` policies.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _rules as rules
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY


def _schema(policy: str, **types: dict[str, Any]) -> PolicyConfigSchema:
    return PolicyConfigSchema(
        {key: {**spec, "default": rules.DEFAULTS[policy][key]} for key, spec in types.items()}
    )


def _on(
    kind: str, check: Callable[[ResourceValidationArgs], list[str]]
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type != kind:
            return
        for message in check(args):
            report(message)

    return validate


def _name(args: ResourceValidationArgs) -> str:
    return str(args.props.get("resource_name") or args.name)


def _config(args: ResourceValidationArgs | StackValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def _provider_props(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """The stack config as the default provider's inputs (read key by key: never copied, so a
    secret config value is never touched)."""
    return args.provider.props if args.provider is not None else None


def _stack_resources(args: StackValidationArgs) -> list[rules.Resource]:
    return [rules.Resource(r.resource_type, r.name, r.urn, r.props) for r in args.resources]


def _stack_check(
    check: Callable[[StackValidationArgs], list[str]],
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message in check(args):
            report(message)

    return validate


NUMBER = {"type": "number", "minimum": 0}
STRINGS = {"type": "array", "items": {"type": "string"}}

POLICIES = [
    ResourceValidationPolicy(
        name="cost-ceiling-per-model",
        description="A tuning job's estimated cost stays under a ceiling (USD).",
        enforcement_level=MANDATORY,
        config_schema=_schema("cost-ceiling-per-model", maxUsd=NUMBER),
        validate=_on(
            rules.TUNING_JOB, lambda a: rules.cost_per_model(_name(a), a.props, _config(a))
        ),
    ),
    StackValidationPolicy(
        name="cost-ceiling-per-stack",
        description="The tuning jobs a stack declares stay under a total ceiling (USD).",
        enforcement_level=MANDATORY,
        config_schema=_schema("cost-ceiling-per-stack", maxUsd=NUMBER),
        validate=_stack_check(lambda a: rules.cost_per_stack(_stack_resources(a), _config(a))),
    ),
    ResourceValidationPolicy(
        name="allowed-base-models",
        description="Tuning jobs start from an allowed base model.",
        enforcement_level=MANDATORY,
        config_schema=_schema("allowed-base-models", models=STRINGS),
        validate=_on(rules.TUNING_JOB, lambda a: rules.base_model(_name(a), a.props, _config(a))),
    ),
    ResourceValidationPolicy(
        name="allowed-regions",
        description="Tuning jobs run in an allowed region (stack config gemini-tuning:location).",
        enforcement_level=MANDATORY,
        config_schema=_schema("allowed-regions", regions=STRINGS),
        validate=_on(
            rules.TUNING_JOB, lambda a: rules.region(_name(a), _provider_props(a), _config(a))
        ),
    ),
    ResourceValidationPolicy(
        name="required-labels",
        description="Tuning jobs carry the required labels (team, ...).",
        enforcement_level=MANDATORY,
        config_schema=_schema("required-labels", labels=STRINGS),
        validate=_on(rules.TUNING_JOB, lambda a: rules.labels(_name(a), a.props, _config(a))),
    ),
    StackValidationPolicy(
        name="promoting-stack-creates-no-tuning-job",
        description="A promoting stack adopts released versions and never tunes.",
        enforcement_level=MANDATORY,
        validate=_stack_check(lambda a: rules.promoting_stack_tunes(_stack_resources(a))),
    ),
    ResourceValidationPolicy(
        name="prod-promotions-carry-a-gate",
        description="Every model promoted into prod carries an evaluation gate.",
        enforcement_level=MANDATORY,
        config_schema=_schema("prod-promotions-carry-a-gate", stacks=STRINGS),
        validate=_on(
            rules.TUNED_MODEL,
            lambda a: rules.promotion_gate(_name(a), a.urn, a.props, _config(a)),
        ),
    ),
]

PolicyPack(name="gemini-tuning", policies=POLICIES, enforcement_level=MANDATORY)
