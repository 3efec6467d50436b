"""Pure lifecycle rules shared by the resources: which change replaces, updates or only stores,
the labels that identify a job's declaring resource, and the spec hash. No I/O here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gemini_tuning.resources import _deletion
from gemini_tuning.resources._unknowns import is_unknown
from gemini_tuning.specs import EVALUATION, TUNED_MODEL, TUNING_JOB

RESOURCE_LABEL = "gemini-tuning-resource"
SPEC_LABEL = "gemini-tuning-spec"
NAME_LABEL = "gemini-tuning-name"

# What a change of each input does is declared beside the input (specs.py: REPLACES, UPDATES);
# keys not named here are stored only.
# TuningJob: jobs are immutable, so most inputs replace. Local datasets are compared by content
# (their fingerprint), not by path: moving a file is no reason to pay for a new tuning.
JOB_REPLACE_KEYS = TUNING_JOB.replace_keys
JOB_UPDATE_KEYS = TUNING_JOB.update_keys

# Re-pointing a TunedModel at another model (a new tuning, or a promotion/rollback to another
# version) moves its aliases in place: the resource stands for a role, not for one version.
# Ownership changes in place too: a replace would run the old resource's delete, and deleting
# the owned model it was just told to adopt is the one thing that must never happen.
MODEL_REPLACE_KEYS = TUNED_MODEL.replace_keys
MODEL_UPDATE_KEYS = TUNED_MODEL.update_keys

# Evaluation: these re-run the evaluation (an in-place update: the resource is the measurement
# of a role, like TunedModel). Everything else is stored.
EVAL_RERUN_KEYS = EVALUATION.update_keys

# Inputs the diff never compares: where the deletion policy is declared moves with every edit
# above it in the file, and is read from the new inputs whenever it is named; a TunedModel's
# ``promotion`` changes with the version, which its ``model`` already shows.
UNDIFFED_KEYS = (_deletion.SOURCE_KEY, "promotion")


@dataclass(frozen=True)
class DiffPlan:
    replaces: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # in the order of ``reasons``

    @property
    def changed(self) -> list[str]:
        return [*self.replaces, *self.updates, *self.stored]

    def describe(self) -> list[str]:
        """One line per change: 'replace: ...', 'update: ...' or 'store: ...' (no API call)."""
        verbs = {**dict.fromkeys(self.stored, "store"), **dict.fromkeys(self.updates, "update")}
        verbs.update(dict.fromkeys(self.replaces, "replace"))
        return [
            f"{verbs[key]}: {reason}" for key, reason in zip(self.keys, self.reasons, strict=True)
        ]


def plan_diff(
    spec_type: type[BaseModel],
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    replace_keys: Sequence[str],
    update_keys: Sequence[str],
    extra_reasons: Mapping[str, str] | None = None,
) -> DiffPlan:
    """Compare recorded inputs (``olds``, from the last outputs) with new inputs.

    A key missing on one side counts as its spec default, so state written before a new input
    existed does not show a change. Keys that are neither replace nor update keys are stored only.
    ``deletion_policy`` compares by meaning (``retain`` is ``abandon``); UNDIFFED_KEYS not at all.
    """
    defaults = _defaults(spec_type)
    keys = [
        *replace_keys,
        *update_keys,
        *(k for k in defaults if k not in (*replace_keys, *update_keys)),
    ]
    plan = DiffPlan()
    for key in keys:
        if key in UNDIFFED_KEYS:
            continue
        default = defaults.get(key)
        old, new = olds.get(key, default), news.get(key, default)
        if _comparable(key, old) == _comparable(key, new):
            continue
        bucket = (
            plan.replaces
            if key in replace_keys
            else plan.updates
            if key in update_keys
            else plan.stored
        )
        bucket.append(key)
        plan.keys.append(key)
        plan.reasons.append(_reason(key, old, new, extra_reasons))
    return plan


def _reason(key: str, old: Any, new: Any, extra: Mapping[str, str] | None) -> str:
    if is_unknown(new):
        # Not known until an earlier resource is applied: the engine asks again then, with the
        # value, and nothing happens if it is the same. Say so instead of promising a change.
        return f"{key} is known after apply; only if it differs from {_short(old)}"
    return (extra or {}).get(key) or f"{key} changed ({_short(old)} -> {_short(new)})"


def _comparable(key: str, value: Any) -> Any:
    if key == "deletion_policy" and isinstance(value, str):
        return _deletion.policy(value)
    return normal(value)


def _defaults(spec_type: type[BaseModel]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for name, info in spec_type.model_fields.items():
        if name == "resource_name":
            continue
        defaults[name] = (
            info.get_default(call_default_factory=True) if not info.is_required() else None
        )
    # Computed inputs added by check(); absent means "no dataset".
    for computed in ("training_dataset_fingerprint", "validation_dataset_fingerprint"):
        defaults.setdefault(computed, None)
    return defaults


def normal(value: Any) -> Any:
    """Pulumi hands numbers back as floats and empty collections as None; compare meaning."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value in ({}, []):
        return None
    if isinstance(value, Mapping):
        return {k: normal(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    return value


def _short(value: Any) -> str:
    if is_unknown(value):  # an SDK marker, or the engine's placeholder string (the plugin's face)
        return "known after apply"
    text = json.dumps(normal(value), sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def spec_hash(inputs: Mapping[str, Any]) -> str:
    """A stable hash of everything that makes a tuning job what it is (the replace keys)."""
    identity = {key: normal(inputs.get(key)) for key in JOB_REPLACE_KEYS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def owner_label(stack: str, resource_name: str) -> str:
    """The ``gemini-tuning-resource`` value of the resource ``resource_name`` of ``stack``
    (``project/stack``): how `gemini-tuning sweep --stack` finds a stack's jobs and models."""
    return hashlib.sha256(f"{stack}/{resource_name}".encode()).hexdigest()[:20]


def identity_labels(stack: str, resource_name: str, inputs: Mapping[str, Any]) -> dict[str, str]:
    """Labels stamped on each submitted job: a retried `pulumi up` finds it and never pays twice."""
    owner = owner_label(stack, resource_name)
    readable = re.sub(r"[^a-z0-9_-]+", "-", resource_name.lower()).strip("-")[:63]
    return {RESOURCE_LABEL: owner, SPEC_LABEL: spec_hash(inputs), NAME_LABEL: readable}


def dataset_change_reason(which: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """E.g. 'training dataset content changed (sha256 ab12.. -> cd34.., 480 -> 512 examples)'."""
    old_fp, new_fp = (
        old.get(f"{which}_dataset_fingerprint"),
        new.get(f"{which}_dataset_fingerprint"),
    )
    if old_fp is None or new_fp is None:
        return f"{which} dataset {'added' if old_fp is None else 'removed'}"
    old_examples = old.get(f"{which}_dataset_examples")
    new_examples = new.get(f"{which}_dataset_examples")
    counts = f", {old_examples} -> {new_examples} examples" if old_examples != new_examples else ""
    return f"{which} dataset content changed ({_fingerprints(old_fp, new_fp)}{counts})"


def pre_tuned_change_reason(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """E.g. 'pre_tuned_model: continues another model version (models/12@1 -> models/12@3):
    a tuning job starts from one version, so another is a new job'. Names are shortened to
    ``models/ID@N``: the project and location do not change (a job continues a model where
    the model lives)."""
    before, after = old.get("pre_tuned_model"), new.get("pre_tuned_model")
    if is_unknown(after):
        return "pre_tuned_model is known after apply; only if it differs from " + _short(before)
    if not before or not after:
        return (
            f"pre_tuned_model {'added' if after else 'removed'} (continuous tuning "
            f"{'from ' + _model_short(after) if after else 'no more'}): a new tuning job"
        )
    return (
        f"pre_tuned_model: continues another model version ({_model_short(before)} -> "
        f"{_model_short(after)}): a tuning job starts from one version, so another is a new job"
    )


def _model_short(name: Any) -> str:
    text = str(name)
    return "models/" + text.rsplit("/models/", 1)[-1] if "/models/" in text else text


def _fingerprints(old: str, new: str) -> str:
    """'sha256 ab12.. -> cd34..' for local files; the object versions for gs:// inputs."""
    old_kind, _, old_digest = old.partition(":")
    new_kind, _, new_digest = new.partition(":")
    if old_kind == new_kind == "sha256":
        return f"sha256 {old_digest[:4]}.. -> {new_digest[:4]}.."
    return f"{old} -> {new}"
