"""``checkpoint: best | last | <epoch>`` (issue 25 item 4): the choice rule, the definition's
file:line errors, and the TuningJob diff (an update of the same job, never a replace)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.backends import Checkpoint
from gemini_tuning.definitions import DefinitionError, load_definition
from gemini_tuning.resources._checkpoints import CheckpointChoiceError, choose
from gemini_tuning.resources._lifecycle import (
    JOB_REPLACE_KEYS,
    JOB_UPDATE_KEYS,
    plan_diff,
    spec_hash,
)
from gemini_tuning.resources.evaluation import EvaluationProvider
from gemini_tuning.specs import SpecError, TuningJobSpec, parse

FIVE = [Checkpoint(str(e), e, e * 10, f"endpoints/{e}") for e in range(1, 6)]


@pytest.mark.parametrize(
    ("choice", "losses", "epoch"),
    [
        ("best", [0.9, 0.5, 0.4, 0.45, 0.6], 3),  # the validation loss turns up after epoch 3
        ("best", [0.9, 0.4, 0.5, 0.4, 0.6], 2),  # a tie goes to the earlier epoch
        ("best", [0.9, 0.8, 0.7, 0.6, 0.5], 5),  # still improving: the last one
        ("best", [0.9, 0.3], 2),  # only the epochs with a loss compete
        ("last", [0.9, 0.3, 0.5, 0.6, 0.7], 5),
        ("last", [], 5),
        (2, [], 2),
        (2.0, [], 2),  # Pulumi hands numbers back as floats
        ("4", [], 4),
    ],
)
def test_the_choice_names_one_checkpoint(choice: Any, losses: list[float], epoch: int) -> None:
    chosen = choose(choice, FIVE, losses)
    assert chosen is not None
    assert chosen.checkpoint.epoch == epoch
    assert chosen.checkpoint.checkpoint_id == str(epoch)


def test_best_says_which_loss_won() -> None:
    chosen = choose("best", FIVE, [0.9, 0.5, 0.4, 0.45, 0.6])
    assert chosen is not None
    assert chosen.validation_loss == pytest.approx(0.4)
    assert "lowest validation loss 0.4 at epoch 3" in chosen.reason


def test_checkpoints_are_ordered_by_epoch_whatever_order_the_service_lists_them() -> None:
    chosen = choose("last", list(reversed(FIVE)), [])
    assert chosen is not None
    assert chosen.checkpoint.epoch == 5


def test_last_without_listed_checkpoints_leaves_the_service_default() -> None:
    assert choose("last", [], []) is None


@pytest.mark.parametrize(
    ("choice", "checkpoints", "losses", "says"),
    [
        ("best", FIVE, [], "published none for epochs 1, 2, 3, 4, 5"),
        ("best", [], [0.1], "lists no checkpoints"),
        (3, [], [], "lists no checkpoints"),
        (7, FIVE, [], "no checkpoint at epoch 7 (it saved epochs 1, 2, 3, 4, 5"),
    ],
)
def test_a_choice_the_job_cannot_meet_says_what_it_has(
    choice: Any, checkpoints: list[Checkpoint], losses: list[float], says: str
) -> None:
    with pytest.raises(CheckpointChoiceError, match=r".*") as failed:
        choose(choice, checkpoints, losses)
    assert says in str(failed.value)


# -- the spec (checked at preview) -------------------------------------------------------------

SPEC: dict[str, Any] = {
    "resource_name": "qa",
    "base_model": "gemini-2.5-flash",
    "training_dataset": "gs://b/train.jsonl",
    "validation_dataset": "gs://b/validation.jsonl",
    "epoch_count": 3,
}


@pytest.mark.parametrize("choice", ["best", "last", 1, 3])
def test_the_spec_takes_what_the_job_can_have(choice: Any) -> None:
    assert parse(TuningJobSpec, {**SPEC, "checkpoint": choice}).checkpoint == choice


def test_the_spec_defaults_to_last() -> None:
    assert parse(TuningJobSpec, SPEC).checkpoint == "last"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"checkpoint": 4}, "the job tunes 3 epochs: choose an epoch from 1 to 3"),
        ({"checkpoint": 0}, "checkpoint"),
        ({"checkpoint": "first"}, "checkpoint"),
        ({"checkpoint": 2, "epoch_count": None}, "epoch_count is not set"),
        ({"checkpoint": "best", "validation_dataset": None}, "no validation data"),
        ({"checkpoint": "best", "export_last_checkpoint_only": True}, "keeps only the last"),
    ],
)
def test_the_spec_refuses_a_checkpoint_the_job_cannot_have(
    change: dict[str, Any], says: str
) -> None:
    raw = {k: v for k, v in {**SPEC, **change}.items() if v is not None}
    with pytest.raises(SpecError) as failed:
        parse(TuningJobSpec, raw)
    assert [prop for prop, _ in failed.value.failures] == ["checkpoint"]
    assert says in str(failed.value)


# -- the definition: file, line, field ---------------------------------------------------------

DEFINITION = """\
version: 1
base_model: gemini-2.5-flash
datasets:
  training: train.jsonl
  validation: validation.jsonl
hyperparameters:
  epoch_count: 3
checkpoint: {choice}
"""


def _write(tmp_path: Path, text: str) -> Path:
    for name in ("train.jsonl", "validation.jsonl"):
        (tmp_path / name).write_text('{"contents": []}\n')
    path = tmp_path / "qa.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("choice", "reason"),
    [
        ("5", "checkpoint: 5, but the job tunes 3 epochs: choose an epoch from 1 to 3"),
        ("first", "checkpoint"),
        ("0", "checkpoint"),
    ],
)
def test_a_bad_checkpoint_names_the_file_the_line_and_the_field(
    tmp_path: Path, choice: str, reason: str
) -> None:
    path = _write(tmp_path, DEFINITION.format(choice=choice))
    with pytest.raises(DefinitionError) as failed:
        load_definition(path)
    assert f"{path}:8: checkpoint: " in str(failed.value)
    assert reason in str(failed.value)


def test_best_without_validation_data_is_refused_at_its_line(tmp_path: Path) -> None:
    text = DEFINITION.format(choice="best").replace("  validation: validation.jsonl\n", "")
    path = _write(tmp_path, text)
    with pytest.raises(DefinitionError) as failed:
        load_definition(path)
    assert f"{path}:7: checkpoint: checkpoint: best picks the checkpoint with the lowest" in str(
        failed.value
    )


@pytest.mark.parametrize(("choice", "loaded"), [("best", "best"), ("last", "last"), ("2", 2)])
def test_a_good_checkpoint_loads(tmp_path: Path, choice: str, loaded: Any) -> None:
    assert load_definition(_write(tmp_path, DEFINITION.format(choice=choice))).checkpoint == loaded


# -- the diff: an update of the same job ---------------------------------------------------------

OLDS: dict[str, Any] = {**SPEC, "training_dataset_fingerprint": "sha256:" + "ab" * 32}


def _plan(olds: dict[str, Any], news: dict[str, Any]):  # type: ignore[no-untyped-def]
    return plan_diff(
        TuningJobSpec, olds, news, replace_keys=JOB_REPLACE_KEYS, update_keys=JOB_UPDATE_KEYS
    )


def test_state_from_before_checkpoints_shows_no_change() -> None:
    assert _plan(OLDS, dict(OLDS)).changed == []
    assert _plan(OLDS, {**OLDS, "checkpoint": "last"}).changed == []
    assert _plan({**OLDS, "checkpoint": 2.0}, {**OLDS, "checkpoint": 2}).changed == []


@pytest.mark.parametrize(("old", "new"), [("last", "best"), (None, 2), ("best", None), (2, 3)])
def test_a_changed_checkpoint_is_an_update_named_in_the_diff(old: Any, new: Any) -> None:
    olds = {**OLDS, **({"checkpoint": old} if old is not None else {})}
    news = {**OLDS, **({"checkpoint": new} if new is not None else {})}
    plan = _plan(olds, news)
    assert plan.replaces == []
    assert plan.updates == ["checkpoint"]
    assert plan.describe() == [
        f"update: checkpoint changed ({_shown(old)} -> {_shown(new)})",
    ]
    assert spec_hash(olds) == spec_hash(news)  # the same job: adoption finds it, nothing is paid


def _shown(value: Any) -> str:
    return '"last"' if value is None else f'"{value}"' if isinstance(value, str) else str(value)


def test_a_new_default_checkpoint_reruns_the_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    olds = {
        "resource_name": "qa-eval",
        "target": "projects/p/locations/l/endpoints/5",
        "eval_dataset": "eval.jsonl",
        "eval_dataset_fingerprint": "sha256:aa",
        "checkpoint_id": "5",
    }
    news = {**olds, "target": "projects/p/locations/l/endpoints/3", "checkpoint_id": "3"}
    result = EvaluationProvider().diff("id", olds, news)
    assert result.changes
    assert result.replaces == []
    assert 're-evaluate: checkpoint_id changed ("5" -> "3")' in capsys.readouterr().err
    # state from before checkpoints (no checkpoint_id) and a program that passes none: no change
    before = {k: v for k, v in olds.items() if k != "checkpoint_id"}
    assert not EvaluationProvider().diff("id", before, dict(before)).changes


# -- applying the choice (a fake backend: the calls made, not the wire) --------------------------


class _FakeVertex:
    """What _default_checkpoint calls: the version's default checkpoint and labels, and the job
    whose tunedModel.endpoint follows the default."""

    def __init__(self, labels: dict[str, str] | None = None) -> None:
        self.default = "5"
        self.labels = labels or {}
        self.writes: list[tuple[str, str]] = []

    def version_name(self, name: str) -> str:
        return name

    def get_model(self, name: str) -> Any:
        from gemini_tuning.backends import ModelStatus

        return ModelStatus(name=name, labels=self.labels, default_checkpoint_id=self.default)

    def set_default_checkpoint(self, name: str, checkpoint_id: str) -> Any:
        self.writes.append((name, checkpoint_id))
        self.default = checkpoint_id
        return self.get_model(name)

    def get_job(self, name: str) -> Any:
        return _status(endpoint=f"endpoints/{self.default}")


def _status(endpoint: str = "endpoints/5") -> Any:
    from gemini_tuning.backends import JobStatus

    return JobStatus(
        name="projects/p/locations/l/tuningJobs/1",
        state="SUCCEEDED",
        tuned_model="projects/p/locations/l/models/m@1",
        endpoint=endpoint,
        checkpoints=tuple(FIVE),
        validation_loss_per_epoch=(0.9, 0.5, 0.4, 0.45, 0.6),
    )


def test_best_writes_the_default_once_and_the_endpoint_follows() -> None:
    from gemini_tuning.resources.tuning_job import _checkpoint_outputs, _default_checkpoint

    fake = _FakeVertex()
    status, chosen = _default_checkpoint(fake, "best", _status(), "qa", "p/dev")  # type: ignore[arg-type]
    assert fake.writes == [("projects/p/locations/l/models/m@1", "3")]
    assert status.endpoint == "endpoints/3"
    outs = _checkpoint_outputs(status, chosen)
    assert outs["default_checkpoint_id"] == "3"
    assert outs["default_checkpoint_epoch"] == 3
    assert outs["checkpoints"][2] == {
        "checkpoint_id": "3",
        "epoch": 3,
        "step": 30,
        "validation_loss": 0.4,
    }
    _default_checkpoint(fake, "best", _status(), "qa", "p/dev")  # type: ignore[arg-type]
    assert len(fake.writes) == 1  # already the default: nothing written


def test_last_on_a_fresh_model_writes_nothing() -> None:
    from gemini_tuning.resources.tuning_job import _default_checkpoint

    fake = _FakeVertex()
    _, chosen = _default_checkpoint(fake, "last", _status(), "qa", "p/dev")  # type: ignore[arg-type]
    assert fake.writes == []
    assert chosen is not None
    assert chosen.checkpoint.checkpoint_id == "5"


def test_a_version_another_stack_serves_keeps_its_default_checkpoint() -> None:
    from gemini_tuning import _claims
    from gemini_tuning.resources.tuning_job import _default_checkpoint

    labels = {**_claims.claim_labels("p/staging"), **_claims.claim_labels("p/dev")}
    fake = _FakeVertex(labels)
    with pytest.raises(RuntimeError) as refused:
        _default_checkpoint(fake, 2, _status(), "qa", "p/dev")  # type: ignore[arg-type]
    assert fake.writes == []
    assert "staging" in str(refused.value)
    assert "would serve another checkpoint without a promotion. Nothing was changed" in str(
        refused.value
    )


def test_a_choice_the_job_cannot_meet_keeps_the_job_and_says_so() -> None:
    from gemini_tuning.resources.tuning_job import _default_checkpoint

    fake = _FakeVertex()
    with pytest.raises(RuntimeError) as failed:
        _default_checkpoint(fake, 7, _status(), "qa", "p/dev")  # type: ignore[arg-type]
    assert "no checkpoint at epoch 7" in str(failed.value)
    assert "tuningJobs/1 and its model projects/p/locations/l/models/m@1 are kept" in str(
        failed.value
    )
    assert fake.writes == []


def test_the_tuning_job_diff_says_the_job_stays(capsys: pytest.CaptureFixture[str]) -> None:
    from gemini_tuning.resources.tuning_job import TuningJobProvider

    olds = {**OLDS, "tuned_model": "projects/p/locations/l/models/m@1"}
    result = TuningJobProvider().diff("job", olds, {**OLDS, "checkpoint": "best"})
    assert result.changes
    assert result.replaces == []
    assert (
        'update: checkpoint changed ("last" -> "best"): the default checkpoint of '
        "projects/p/locations/l/models/m@1 moves; no new tuning job"
    ) in capsys.readouterr().err
