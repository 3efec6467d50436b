"""``deletion_policy`` (issue 22, item 7): parsing in specs and definitions, precedence, the old
``retain`` spelling, and what TuningJob/TunedModel diff and delete do under each policy. The
engine's own refusals (``protect``) are in tests/engine/test_deletion_policy.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from gemini_tuning.definitions import DefinitionError, load_definition
from gemini_tuning.resources import _deletion
from gemini_tuning.resources._lifecycle import JOB_REPLACE_KEYS, JOB_UPDATE_KEYS, plan_diff
from gemini_tuning.resources._props import protected_if_prevented
from gemini_tuning.resources.tuned_model import TunedModelProvider
from gemini_tuning.resources.tuning_job import TuningJobProvider
from gemini_tuning.specs import SpecError, TunedModelSpec, TuningJobSpec, parse

MODEL = "projects/p/locations/l/models/m@1"
ENDPOINT = "projects/p/locations/l/endpoints/e"
JOB_NAME = "projects/p/locations/l/tuningJobs/1"
SOURCE = "stacks/models/qa.yaml:8"

# What a TuningJob records (its outputs echo its inputs), as diff and delete receive it.
JOB: dict[str, Any] = {
    "resource_name": "qa",
    "stack": "gemini-tuning/dev",
    "backend": "vertex",
    "base_model": "gemini-2.5-flash",
    "training_dataset": "data/train.jsonl",
    "training_dataset_fingerprint": "sha256:" + "ab" * 32,
    "epoch_count": 3,
    "job_state": "SUCCEEDED",
    "tuned_model": MODEL,
    "tuned_model_endpoint": ENDPOINT,
}


# -- the policy values ------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["delete", "abandon", "prevent", "retain"])
def test_every_policy_and_the_old_spelling_parse_on_both_resources(policy: str) -> None:
    job = {"resource_name": "qa", "base_model": "gemini-2.5-flash", "training_dataset": "t.jsonl"}
    assert parse(TuningJobSpec, {**job, "deletion_policy": policy}).deletion_policy == policy
    model = {"resource_name": "m", "model": MODEL, "deletion_policy": policy}
    assert parse(TunedModelSpec, model).deletion_policy == policy


def test_an_unknown_policy_names_the_values_it_takes() -> None:
    with pytest.raises(SpecError) as err:
        parse(TunedModelSpec, {"resource_name": "m", "model": MODEL, "deletion_policy": "keep"})
    assert err.value.failures[0][0] == "deletion_policy"
    assert "'delete', 'abandon', 'prevent' or 'retain'" in err.value.failures[0][1]


@pytest.mark.parametrize(
    ("declared", "meant"),
    [(None, "delete"), ("", "delete"), ("delete", "delete"), ("retain", "abandon"),
     ("abandon", "abandon"), ("prevent", "prevent")],
)  # fmt: skip
def test_retain_means_abandon_and_unset_means_delete(declared: str | None, meant: str) -> None:
    assert _deletion.policy(declared) == meant


# -- precedence: the definition, then the stack config, then delete ---------------------------


def test_the_definition_wins_over_the_stack_config_and_names_its_line() -> None:
    chosen = _deletion.choose("abandon", SOURCE, "prevent", "stacks/Pulumi.prod.yaml:9")
    assert chosen == {"deletion_policy": "abandon", "deletion_policy_source": SOURCE}


def test_the_stack_config_applies_when_the_definition_is_silent() -> None:
    chosen = _deletion.choose(None, SOURCE, "prevent", "stacks/Pulumi.prod.yaml:9")
    assert chosen == {
        "deletion_policy": "prevent",
        "deletion_policy_source": "stacks/Pulumi.prod.yaml:9",
    }


def test_the_old_stack_config_value_retain_is_passed_on_unchanged() -> None:
    # State written from it holds `retain`: passing it on keeps that state free of diffs.
    assert _deletion.choose(None, SOURCE, "retain", "x")["deletion_policy"] == "retain"


def test_neither_set_is_delete_declared_nowhere() -> None:
    assert _deletion.choose(None, SOURCE, None, "") == {"deletion_policy": "delete"}


def test_a_wrong_stack_config_value_is_refused() -> None:
    with pytest.raises(ValueError, match="must be delete, abandon or prevent, got 'keep'"):
        _deletion.choose(None, SOURCE, "keep", "x")


# -- definitions ------------------------------------------------------------------------------


def _definition(tmp_path: Path, policy_line: str) -> Path:
    (tmp_path / "train.jsonl").write_text('{"contents": []}\n')
    path = tmp_path / "qa.yaml"
    path.write_text(
        "version: 1\n"
        "base_model: gemini-2.5-flash\n"
        "datasets:\n"
        "  training: train.jsonl\n"
        "hyperparameters:\n"
        "  epoch_count: 2\n"
        f"{policy_line}\n"
    )
    return path


def test_a_definition_declares_its_policy_and_knows_the_line(tmp_path: Path) -> None:
    definition = load_definition(_definition(tmp_path, "deletion_policy: prevent"))
    assert definition.deletion_policy == "prevent"
    assert definition.line_of("deletion_policy") == 7
    assert definition.line_of("hyperparameters.epoch_count") == 6


def test_a_definition_without_a_policy_leaves_it_to_the_stack(tmp_path: Path) -> None:
    definition = load_definition(_definition(tmp_path, "labels: {team: qa}"))
    assert definition.deletion_policy is None
    assert definition.line_of("deletion_policy") is None


def test_retain_is_not_a_definition_value_and_the_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as err:
        load_definition(_definition(tmp_path, "deletion_policy: retain"))
    assert ":7: deletion_policy: Input should be 'delete', 'abandon' or 'prevent'" in str(err.value)


# -- diff: stored only, by meaning; the source is never a change ------------------------------


def _plan(olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return plan_diff(
        TuningJobSpec, olds, news, replace_keys=JOB_REPLACE_KEYS, update_keys=JOB_UPDATE_KEYS
    )


def test_state_holding_retain_shows_no_change_when_the_config_says_abandon() -> None:
    assert (
        _plan({**JOB, "deletion_policy": "retain"}, {**JOB, "deletion_policy": "abandon"}).changed
        == []
    )


def test_where_the_policy_is_declared_is_never_a_change() -> None:
    olds = {**JOB, "deletion_policy_source": SOURCE}
    assert _plan(olds, {**JOB, "deletion_policy_source": "stacks/models/qa.yaml:12"}).changed == []
    assert _plan(JOB, olds).changed == []


def test_changing_the_policy_alone_is_stored_only() -> None:
    plan = _plan({**JOB, "deletion_policy": "prevent"}, {**JOB, "deletion_policy": "delete"})
    assert plan.stored == ["deletion_policy"]
    assert plan.replaces == plan.updates == []


# -- TuningJob: diff refuses a replace under prevent ------------------------------------------


def test_prevent_refuses_a_replace_naming_the_file_line_and_the_model(capsys: Any) -> None:
    olds = {**JOB, "deletion_policy": "prevent", "deletion_policy_source": SOURCE}
    news = {**olds, "epoch_count": 4}
    with pytest.raises(_deletion.DeletionPreventedError) as err:
        TuningJobProvider().diff(JOB_NAME, olds, news)
    message = str(err.value)
    assert message.startswith(
        f"deletion_policy: prevent ({SOURCE}) refuses this change: epoch_count changed (3 -> 4)."
    )
    assert f"tuned model {MODEL} and its endpoint would go" in message
    assert "set deletion_policy: delete there and run `pulumi up`" in message
    assert "replace: epoch_count changed (3 -> 4)" in capsys.readouterr().err


def test_prevent_recorded_in_state_refuses_a_replace_declared_with_delete() -> None:
    """Unlocking and replacing in one `up` would run the old resource's delete under prevent:
    the policy change goes first, on its own."""
    olds = {**JOB, "deletion_policy": "prevent", "deletion_policy_source": SOURCE}
    news = {**JOB, "deletion_policy": "delete", "epoch_count": 4}
    with pytest.raises(_deletion.DeletionPreventedError) as err:
        TuningJobProvider().diff(JOB_NAME, olds, news)
    assert str(err.value).startswith(f"the state records deletion_policy: prevent ({SOURCE})")
    assert "Run `pulumi up` with the policy change alone first" in str(err.value)


def test_prevent_lets_in_place_updates_and_policy_changes_through() -> None:
    olds = {**JOB, "deletion_policy": "prevent", "labels": {"team": "a"}}
    labels = TuningJobProvider().diff(JOB_NAME, olds, {**olds, "labels": {"team": "b"}})
    assert labels.changes is True
    assert labels.replaces == []
    unlock = TuningJobProvider().diff(JOB_NAME, olds, {**olds, "deletion_policy": "delete"})
    assert unlock.changes is True
    assert unlock.replaces == []


def test_a_model_deleted_out_of_band_under_prevent_is_refused_too() -> None:
    olds = {**JOB, "deletion_policy": "prevent", "tuned_model_missing": True}
    with pytest.raises(_deletion.DeletionPreventedError, match="deleted outside Pulumi"):
        TuningJobProvider().diff(JOB_NAME, olds, dict(olds))


# -- TuningJob: delete under each policy ------------------------------------------------------


def test_prevent_refuses_a_delete_before_any_api_call() -> None:
    # No backend is configured: reaching the service would fail otherwise than this.
    props = {**JOB, "deletion_policy": "prevent", "deletion_policy_source": SOURCE}
    with pytest.raises(_deletion.DeletionPreventedError) as err:
        TuningJobProvider().delete(JOB_NAME, props)
    assert str(err.value).startswith(
        f"deletion_policy: prevent ({SOURCE}) refuses to delete qa (tuned model {MODEL} and its "
        "endpoint would go); nothing was deleted."
    )


@pytest.mark.parametrize("policy", ["abandon", "retain"])
def test_abandon_and_its_old_spelling_leave_everything_in_one_line(
    policy: str, capsys: Any
) -> None:
    props = {**JOB, "deletion_policy": policy, "deletion_policy_source": SOURCE}
    TuningJobProvider().delete(JOB_NAME, props)  # no API call: no backend is configured
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"[gemini-tuning] qa: abandoned by deletion_policy: {policy} ({SOURCE}): left tuned "
        f"model {MODEL}, endpoint {ENDPOINT} and tuning job {JOB_NAME} in the service; only this "
        "stack's state forgets them. `pulumi up` with the same declaration adopts them again; "
        "`gemini-tuning releases list` shows the version, `gemini-tuning releases prune` "
        "deletes it once no stack claims it"
    ]


def test_abandoning_a_running_job_says_it_was_not_cancelled(capsys: Any) -> None:
    props = {**JOB, "deletion_policy": "abandon", "job_state": "RUNNING", "tuned_model": None}
    props["tuned_model_endpoint"] = None
    TuningJobProvider().delete(JOB_NAME, props)
    line = capsys.readouterr().err
    assert f"left tuning job {JOB_NAME} (RUNNING when last read, not cancelled) in" in line


# -- TunedModel -------------------------------------------------------------------------------

TUNED: dict[str, Any] = {
    "resource_name": "qa-model",
    "stack": "gemini-tuning/prod",
    "backend": "vertex",
    "model": MODEL,
    "model_name": MODEL,
    "adopted": True,
    "version_aliases": ["prod"],
    "deletion_policy": "prevent",
    "deletion_policy_source": "stacks/Pulumi.prod.yaml:14",
}


def test_a_prevented_tuned_model_refuses_its_delete_keeping_aliases_and_claim() -> None:
    with pytest.raises(_deletion.DeletionPreventedError) as err:
        TunedModelProvider().delete(MODEL, TUNED)
    assert str(err.value).startswith(
        "deletion_policy: prevent (stacks/Pulumi.prod.yaml:14) refuses to delete qa-model "
        f"(this stack's aliases ['prod'] and claim on {MODEL} would go)"
    )


def test_a_prevented_tuned_model_refuses_a_replace() -> None:
    with pytest.raises(_deletion.DeletionPreventedError, match="backend changed"):
        TunedModelProvider().diff(MODEL, TUNED, {**TUNED, "backend": "gemini-api"})


# -- the resource option ----------------------------------------------------------------------


def test_prevent_sets_protect_and_nothing_else_does() -> None:
    base = pulumi.ResourceOptions(additional_secret_outputs=["error"])
    protected = protected_if_prevented(base, "prevent")
    assert protected.protect is True
    assert protected.additional_secret_outputs == ["error"]
    assert protected_if_prevented(None, "prevent").protect is True
    for other in ("delete", "abandon", "retain", None):
        assert protected_if_prevented(base, other) is base


# -- where the stack config sets it -----------------------------------------------------------


def test_the_stack_config_source_names_the_stack_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemini_tuning.program._stack import config_source

    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(
        "config:\n  gemini-tuning:project: p\n  gemini-tuning:deletionPolicy: prevent\n"
    )
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    assert config_source(tmp_path) == "stacks/Pulumi.prod.yaml:3"
    monkeypatch.setattr(pulumi, "get_stack", lambda: "staging")  # no file: set elsewhere
    assert config_source(tmp_path) == "stack config gemini-tuning:deletionPolicy"
