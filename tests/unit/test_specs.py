"""Spec validation: every failure names the property it concerns (for CheckFailure)."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_tuning.specs import SpecError, TunedModelSpec, TuningJobSpec, parse

JOB: dict[str, Any] = {
    "resource_name": "qa",
    "base_model": "gemini-2.5-flash",
    "training_dataset": "t.jsonl",
}


def _failures(model: type, raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as err:
        parse(model, raw)
    return err.value.failures


def test_valid_job_parses_with_defaults() -> None:
    spec = parse(TuningJobSpec, JOB)
    assert spec.wait is True
    assert spec.deletion_policy == "delete"
    assert spec.backend == "vertex"


@pytest.mark.parametrize(
    ("extra", "prop", "fragment"),
    [
        ({"base_model": "gemini-9"}, "base_model", "cannot be tuned"),
        ({"base_model": "gemini-2.0-flash-001"}, "base_model", "retired for tuning in 2026-02"),
        (
            {"base_model": "gemini-2.5-pro", "adapter_size": 16},
            "adapter_size",
            "allowed: 1, 2, 4, 8",
        ),
        ({"adapter_size": 3}, "adapter_size", "does not exist"),
        ({"epoch_count": 0}, "epoch_count", "greater than or equal to 1"),
        ({"learning_rate_multiplier": 11}, "learning_rate_multiplier", "less than or equal to 10"),
        ({"labels": {"Team": "x"}}, "labels", "lowercase"),
        ({"labels": {"gemini-tuning-spec": "x"}}, "labels", "reserved"),
        ({"batch_size": 4}, "batch_size", "Gemini API setting"),
        ({"pre_tuned_model": "projects/p/locations/l/models/1"}, "base_model", "exactly one"),
        ({"tuned_model_display_name": "x" * 129}, "tuned_model_display_name", "128"),
        ({"training_dataset": "gs://bucket-only"}, "training_dataset", "gs://BUCKET/OBJECT"),
        ({"deletion_policy": "keep"}, "deletion_policy", "'delete', 'abandon', 'prevent' or"),
        ({"surprise": 1}, "surprise", "unknown property"),
        ({"base_model": "gemini-3.5-flash", "encryption_key": "k"}, "encryption_key", "CMEK"),
    ],
)
def test_each_fault_names_its_property(extra: dict[str, Any], prop: str, fragment: str) -> None:
    failures = _failures(TuningJobSpec, {**JOB, **extra})
    assert any(p == prop and fragment in reason for p, reason in failures), failures


def test_gemini_api_backend_accepts_its_legacy_models_and_rejects_vertex_fields() -> None:
    raw = {**JOB, "backend": "gemini-api", "base_model": "models/gemini-1.5-flash-001-tuning"}
    assert parse(TuningJobSpec, {**raw, "batch_size": 2}).batch_size == 2
    failures = _failures(TuningJobSpec, {**raw, "adapter_size": 4})
    assert failures[0][0] == "adapter_size"


def test_adopted_models_take_aliases_only() -> None:
    raw = {"resource_name": "m", "model": "projects/p/locations/l/models/1@1", "adopted": True}
    assert parse(TunedModelSpec, {**raw, "version_aliases": ["staging"]}).version_aliases == [
        "staging"
    ]
    assert _failures(TunedModelSpec, {**raw, "display_name": "x"})[0][0] == "display_name"
    assert (
        "belongs to the service"
        in _failures(TunedModelSpec, {**raw, "version_aliases": ["default"]})[0][1]
    )


def test_gemini_api_tuned_models_take_no_aliases_or_labels() -> None:
    raw = {"resource_name": "m", "backend": "gemini-api", "model": "tunedModels/x"}
    assert _failures(TunedModelSpec, {**raw, "version_aliases": ["dev"]})[0][0] == "version_aliases"
    assert _failures(TunedModelSpec, {**raw, "labels": {"a": "b"}})[0][0] == "labels"
