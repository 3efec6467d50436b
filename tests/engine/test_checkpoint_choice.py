"""``checkpoint: best | last | <epoch>`` end to end (issue 25 item 4): the real engine, the
repo's program and squad-qa definition (3 epochs, a validation set), the emulator.

``best`` makes the checkpoint with the lowest validation loss the tuned model's default
("Select the best performing checkpoint before overfitting to be the default checkpoint",
https://cloud.google.com/vertex-ai/generative-ai/docs/models/tuning-checkpoints) with no second
tuning job; changing ``checkpoint`` is an update of the TuningJob (no replace), the tuned
model's endpoint follows the default checkpoint, and the evaluation runs again on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import Run, copy_project, emulator_project_stack, engine_env

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

BUCKET = "gt-checkpoint-choice"
TUNING_JOB = "dynamic/vertex:TuningJob"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05) as emulator:
        emulator.storage_client().create_bucket(BUCKET)
        yield emulator


def _stack(tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess) -> tuple[auto.Stack, Path]:
    project = copy_project(tmp_path / "project")
    config = {"gemini-tuning:models": json.dumps(["squad-qa"])}
    env = engine_env(tmp_path, pulumi_bin)
    stack = emulator_project_stack(
        project, env, pulumi_bin, emu, "dev", bucket=BUCKET, config=config
    )
    return stack, project / "stacks" / "models" / "squad-qa.yaml"


def _declare(definition: Path, checkpoint: str | None) -> None:
    lines = [
        line for line in definition.read_text().splitlines() if not line.startswith("checkpoint:")
    ]
    if checkpoint is not None:
        lines.insert(lines.index("labels:"), f"checkpoint: {checkpoint}")
    definition.write_text("\n".join(lines) + "\n")


def _jobs(emu: EmulatorProcess) -> list[Any]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.GenAiTuningServiceClient(
        client_options=emu.client_options,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        transport="rest",
    )
    return list(client.list_tuning_jobs(parent=emu.parent))


def _default_checkpoint(emu: EmulatorProcess, model: str) -> str:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.ModelServiceClient(
        client_options=emu.client_options,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        transport="rest",
    )
    return str(client.get_model(name=model).default_checkpoint_id)


def _ops(run: Run, type_suffix: str) -> list[str]:
    return [
        str(getattr(e.resource_pre_event.metadata.op, "value", e.resource_pre_event.metadata.op))
        for e in run.events
        if e.resource_pre_event and e.resource_pre_event.metadata.type.endswith(type_suffix)
    ]


def _model(stack: auto.Stack) -> dict[str, Any]:
    return dict(stack.outputs()["models"].value["squad-qa"])


def _up(stack: auto.Stack) -> Run:
    run = Run()
    stack.up(**run.kwargs())
    return run


def test_best_then_an_epoch_move_the_default_checkpoint_without_another_job(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess
) -> None:
    stack, definition = _stack(tmp_path, pulumi_bin, emu)
    _up(stack)
    first = _model(stack)
    (job,) = _jobs(emu)
    model = first["model"]
    assert _default_checkpoint(emu, model) == "3"  # the service's default: the last one
    assert "checkpoint" not in first  # not declared: nothing new in the outputs

    # best: the lowest validation loss of the job's own curve (a tie: the earlier epoch).
    _declare(definition, "best")
    preview = Run()
    stack.preview(**preview.kwargs())
    assert 'update: checkpoint changed ("last" -> "best")' in preview.text
    assert _ops(preview, TUNING_JOB) == ["update"]
    run = _up(stack)
    assert _ops(run, TUNING_JOB) == ["update"]
    losses = first["validation_loss_per_epoch"]
    assert len(losses) == 3
    best = min(range(3), key=lambda i: (losses[i], i)) + 1
    after_best = _model(stack)
    assert after_best["checkpoint"] == {"declared": "best", "id": str(best), "epoch": best}
    assert _default_checkpoint(emu, model) == str(best)
    assert [j.name for j in _jobs(emu)] == [job.name]  # no second tuning job
    assert after_best["evaluated_at"] != first["evaluated_at"]  # it ran on the default

    # An epoch other than the best: the endpoint moves, the evaluation runs again, on it.
    other = 1 if best != 1 else 2
    _declare(definition, str(other))
    run = _up(stack)
    assert _ops(run, TUNING_JOB) == ["update"]
    after_epoch = _model(stack)
    assert after_epoch["checkpoint"] == {"declared": other, "id": str(other), "epoch": other}
    assert _default_checkpoint(emu, model) == str(other)
    assert after_epoch["endpoint"] != first["endpoint"]
    assert after_epoch["evaluated_at"] != after_best["evaluated_at"]
    assert after_epoch["metrics"] != first["metrics"]  # an earlier checkpoint answers otherwise
    assert [j.name for j in _jobs(emu)] == [job.name]

    # Back to the default (the field removed): the last checkpoint serves again.
    _declare(definition, None)
    run = _up(stack)
    assert _ops(run, TUNING_JOB) == ["update"]
    assert _default_checkpoint(emu, model) == "3"
    assert _model(stack)["endpoint"] == first["endpoint"]
    assert [j.name for j in _jobs(emu)] == [job.name]
    stack.preview(expect_no_changes=True, color="never")


def test_best_declared_from_the_start_is_applied_by_the_create(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess
) -> None:
    stack, definition = _stack(tmp_path, pulumi_bin, emu)
    _declare(definition, "best")
    run = _up(stack)
    assert _ops(run, TUNING_JOB) == ["create"]
    (job,) = _jobs(emu)  # one CreateTuningJob: the choice needs no second job
    outputs = _model(stack)
    losses = outputs["validation_loss_per_epoch"]
    best = min(range(len(losses)), key=lambda i: (losses[i], i)) + 1
    assert outputs["checkpoint"] == {"declared": "best", "id": str(best), "epoch": best}
    assert _default_checkpoint(emu, outputs["model"]) == str(best)
    served = {int(c.epoch): c.endpoint for c in job.tuned_model.checkpoints}
    assert outputs["endpoint"] == served[best]  # what the evaluation scored
    assert f"default checkpoint of {outputs['model']}" in run.text or best == len(losses)
    stack.preview(expect_no_changes=True, color="never")
