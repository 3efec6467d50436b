"""Which change replaces, updates, or is only stored; identity labels; reasons shown at preview."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_tuning.resources._lifecycle import (
    JOB_REPLACE_KEYS,
    JOB_UPDATE_KEYS,
    dataset_change_reason,
    identity_labels,
    plan_diff,
    spec_hash,
)
from gemini_tuning.specs import TuningJobSpec

BASE: dict[str, Any] = {
    "resource_name": "qa",
    "base_model": "gemini-2.5-flash",
    "training_dataset": "data/train.jsonl",
    "training_dataset_fingerprint": "sha256:" + "ab" * 32,
    "training_dataset_examples": 480,
    "epoch_count": 3,
    "labels": {"team": "search"},
}


def _plan(olds: dict[str, Any], news: dict[str, Any]):  # type: ignore[no-untyped-def]
    return plan_diff(
        TuningJobSpec, olds, news, replace_keys=JOB_REPLACE_KEYS, update_keys=JOB_UPDATE_KEYS
    )


def test_identical_inputs_have_no_diff() -> None:
    assert _plan(BASE, dict(BASE)).changed == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epoch_count", 4),
        ("adapter_size", 4),
        ("base_model", "gemini-2.5-pro"),
        ("learning_rate_multiplier", 0.5),
        ("tuned_model_display_name", "x"),
    ],
)
def test_immutable_fields_replace(key: str, value: Any) -> None:
    plan = _plan(BASE, {**BASE, key: value})
    assert plan.replaces == [key]
    assert plan.updates == []


def test_labels_and_description_update_in_place() -> None:
    plan = _plan(BASE, {**BASE, "labels": {"team": "ads"}, "description": "v2"})
    assert plan.replaces == []
    assert sorted(plan.updates) == ["description", "labels"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("wait", False),
        ("timeout_minutes", 5.0),
        ("deletion_policy", "retain"),
        ("poll_interval_seconds", 1.0),
    ],
)
def test_wait_and_policy_settings_are_stored_only(key: str, value: Any) -> None:
    plan = _plan(BASE, {**BASE, key: value})
    assert plan.stored == [key]
    assert plan.replaces == plan.updates == []


def test_moving_a_local_file_without_changing_it_is_not_a_change() -> None:
    assert _plan(BASE, {**BASE, "training_dataset": "elsewhere/train.jsonl"}).replaces == []


def test_changed_content_replaces_with_a_reason() -> None:
    news = {
        **BASE,
        "training_dataset_fingerprint": "sha256:" + "cd" * 32,
        "training_dataset_examples": 512,
    }
    plan = _plan(BASE, news)
    assert plan.replaces == ["training_dataset_fingerprint"]
    assert dataset_change_reason("training", BASE, news) == (
        "training dataset content changed (sha256 abab.. -> cdcd.., 480 -> 512 examples)"
    )


def test_server_defaults_and_engine_number_types_are_not_changes() -> None:
    """Recorded outputs hold floats where the program gave ints, and None where it gave {}."""
    olds = {
        **BASE,
        "epoch_count": 3.0,
        "labels": {"team": "search"},
        "validation_dataset": None,
        "effective_epoch_count": 3,
    }
    assert _plan(olds, BASE).changed == []
    assert _plan({**BASE, "labels": None}, {**BASE, "labels": {}}).changed == []


def test_state_written_before_an_input_existed_shows_no_change() -> None:
    olds = {k: v for k, v in BASE.items() if k != "export_last_checkpoint_only"}
    assert _plan(olds, {**BASE, "export_last_checkpoint_only": False}).changed == []


def test_spec_hash_ignores_mutable_and_stored_fields() -> None:
    assert spec_hash(BASE) == spec_hash({**BASE, "labels": {"x": "y"}, "wait": False})
    assert spec_hash(BASE) != spec_hash({**BASE, "epoch_count": 4})


def test_identity_labels_are_valid_label_values() -> None:
    labels = identity_labels("proj/dev", "QA Model (v2)", BASE)
    assert labels["gemini-tuning-name"] == "qa-model-v2"
    assert len(labels["gemini-tuning-resource"]) == 20
    assert (
        identity_labels("proj/prod", "QA Model (v2)", BASE)["gemini-tuning-resource"]
        != labels["gemini-tuning-resource"]
    )


def test_tuned_model_ownership_and_target_change_in_place_never_by_replace() -> None:
    from gemini_tuning.resources._lifecycle import MODEL_REPLACE_KEYS, MODEL_UPDATE_KEYS
    from gemini_tuning.specs import TunedModelSpec

    olds = {"resource_name": "m", "model": "projects/p/locations/l/models/1@1", "adopted": False}
    news = {**olds, "adopted": True, "model": "projects/p/locations/l/models/1@2"}
    plan = plan_diff(
        TunedModelSpec, olds, news, replace_keys=MODEL_REPLACE_KEYS, update_keys=MODEL_UPDATE_KEYS
    )
    assert plan.replaces == []
    assert sorted(plan.updates) == ["adopted", "model"]


@pytest.mark.parametrize("unknown", ["sdk-marker", "engine-placeholder"])
def test_an_unknown_input_is_shown_as_known_after_apply_never_as_its_placeholder(
    unknown: str,
) -> None:
    """The plugin hands controllers the engine's placeholder string for an unknown; the dynamic
    provider an SDK marker. Neither is a value: the reason says it is known after apply and
    that the change happens only if the value then differs."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    marker: Any = Unknown() if unknown == "sdk-marker" else rpc.UNKNOWN
    olds = {**BASE, "description": "old"}
    plan = _plan(olds, {**olds, "description": marker})
    (line,) = plan.describe()
    assert line == ('update: description is known after apply; only if it differs from "old"')
    assert rpc.UNKNOWN not in line
