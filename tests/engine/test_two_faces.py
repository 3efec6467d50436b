"""The shared lifecycle suite: the same scenarios through both faces of each resource, the
dynamic resources (``gemini_tuning.TuningJob``) and the provider plugin
(``gemini_tuning.plugin.sdk.TuningJob``, served by ``pulumi-resource-gemini-tuning``), against
the emulator. Both call the same controllers, so every assertion holds for both (issue 15)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from gemini_tuning import backends
from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import (
    CREATE_JOB,
    Run,
    emulator_config,
    inline_stack,
    job_inputs,
    resources_of,
    write_examples,
)
from tests.support.plugin import backend, plugin_env

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

FACES = {"dynamic": "gemini_tuning", "plugin": "gemini_tuning.plugin.sdk"}
JOB_TYPE = {"dynamic": "vertex:TuningJob", "plugin": "gemini-tuning:index:TuningJob"}


@pytest.fixture(params=sorted(FACES))
def face(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def program_for(face: str, data: Path, **overrides: Any) -> Callable[[], None]:
    def program() -> None:
        module = importlib.import_module(FACES[face])
        inputs = job_inputs(data, **overrides)
        job = module.TuningJob("qa", **inputs)
        model = module.TunedModel(
            "qa-model",
            model=job.tuned_model,
            endpoint=job.tuned_model_endpoint,
            version_aliases=["dev"],
        )
        keys = ("job_name", "job_state", "tuned_model", "effective_epoch_count", "epochs_completed")
        pulumi.export("job", {k: getattr(job, k) for k in keys})
        pulumi.export("aliases", model.current_aliases)

    return program


def _stack(tmp: Path, pulumi_bin: Path, emu: EmulatorProcess, program: Callable[[], None]) -> Any:
    env = plugin_env(tmp, pulumi_bin)  # the plugin on PATH (unused by the dynamic face)
    extra = {"PATH": env["PATH"]}
    return inline_stack(tmp / "engine", pulumi_bin, program, env=extra, config=emulator_config(emu))


def test_up_waits_fills_outputs_and_refresh_changes_nothing(
    face: str, tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, program_for(face, data)) as stack:
        run = Run()
        job = stack.up(**run.kwargs()).outputs["job"].value
        assert job["job_state"] == "SUCCEEDED"
        assert job["tuned_model"].endswith("@1")
        assert job["effective_epoch_count"] == 3
        assert job["epochs_completed"] == 3
        assert sorted(stack.outputs()["aliases"].value) == ["default", "dev"]
        assert "[gemini-tuning] qa: SUCCEEDED epoch 3/3" in run.text
        assert emulator.calls(CREATE_JOB) == 1
        assert len(resources_of(stack, JOB_TYPE[face])) == 1
        stack.preview(expect_no_changes=True, color="never")
        stack.refresh(color="never")
        stack.preview(expect_no_changes=True, color="never")


def test_hyperparameter_change_replaces_and_labels_update_in_place(
    face: str, tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, program_for(face, data)) as stack:
        first = stack.up(color="never").outputs["job"].value
        stack.workspace.program = program_for(face, data, labels={"team": "ads"})
        up = stack.up(color="never")
        assert up.summary.resource_changes.get("update") == 1
        assert "replace" not in (up.summary.resource_changes or {})
        assert backend(emulator).get_model(first["tuned_model"]).labels["team"] == "ads"

        stack.workspace.program = program_for(face, data, epoch_count=4)
        run = Run()
        preview = stack.preview(**run.kwargs())
        assert preview.change_summary.get("replace") == 1  # the job; the model moves in place
        assert "replace: epoch_count changed (3 -> 4)" in run.text
        second = stack.up(color="never").outputs["job"].value
        assert second["effective_epoch_count"] == 4
        assert emulator.calls(CREATE_JOB) == 2
        with pytest.raises(backends.NotFoundError):
            backend(emulator).get_model(first["tuned_model"])  # unclaimed: its owner deleted it


def test_invalid_input_fails_preview_naming_the_field_without_api_calls(
    face: str, tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    program = program_for(face, data, base_model="gemini-2.5-pro", adapter_size=16)
    emulator.reset_stats()
    with _stack(tmp_path, pulumi_bin, emulator, program) as stack:
        run = Run()
        with pytest.raises(auto.errors.CommandError) as err:
            stack.preview(**run.kwargs())
    text = str(err.value) + run.text
    assert "adapter size 16 is not supported for gemini-2.5-pro; allowed: 1, 2, 4, 8" in text
    assert emulator.stats()["total"] == 0


def test_a_job_failing_in_the_service_fails_up_with_its_message(
    face: str, tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    program = program_for(face, data, labels={"emulator-fail": "simulated-quota-exhausted"})
    with _stack(tmp_path, pulumi_bin, emulator, program) as stack:
        with pytest.raises(auto.errors.CommandError) as err:
            stack.up(color="never")
        assert "ended FAILED" in str(err.value)
        assert "simulated-quota-exhausted" in str(err.value)
        assert resources_of(stack, JOB_TYPE[face]) == []


def test_destroy_deletes_the_model_nobody_else_serves(
    face: str, tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, program_for(face, data)) as stack:
        model = stack.up(color="never").outputs["job"].value["tuned_model"]
        stack.destroy(color="never")
    with pytest.raises(backends.NotFoundError):
        backend(emulator).get_model(model)
