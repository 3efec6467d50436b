"""TuningJob and TunedModel through the real engine against the emulator (issue 4)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import (
    CREATE_JOB,
    Run,
    emulator_config,
    inline_stack,
    job_program,
    job_reads,
    kill_process_tree,
    resources_of,
    wait_until,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]


def _stack(tmp: Path, pulumi_bin: Path, emu: EmulatorProcess, program: Callable[[], None]) -> Any:
    return inline_stack(tmp / "engine", pulumi_bin, program, config=emulator_config(emu))


def test_up_creates_waits_and_fills_outputs(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        run = Run()
        up = stack.up(**run.kwargs())
        job = up.outputs["job"].value
        assert job["job_state"] == "SUCCEEDED"
        assert "/tuningJobs/" in job["job_name"]
        assert job["tuned_model"].endswith("@1")
        assert "/endpoints/" in job["tuned_model_endpoint"]
        assert job["effective_epoch_count"] == 3
        assert job["epochs_completed"] == 3
        assert job["data_stats"]["examples"] == 24
        losses = job["loss_per_epoch"]
        assert len(losses) == 3
        assert losses[0] > losses[1] > losses[2] > 0
        assert job["training_dataset_uri"].startswith("gs://gt-datasets/gemini-tuning/datasets/")
        assert up.outputs["aliases"].value == ["default", "dev"] or sorted(
            up.outputs["aliases"].value
        ) == ["default", "dev"]
        assert "[gemini-tuning] qa: submitted tuning job" in run.text
        assert "qa: estimate: " in run.text  # cost at preview/up: tokens x 3 epochs, priced
        assert "tokens x 3 epochs), about $" in run.text
        assert "[gemini-tuning] qa: SUCCEEDED epoch 3/3" in run.text
        assert emulator.calls(CREATE_JOB) == 1

        stack.preview(expect_no_changes=True, color="never")
        stack.refresh(color="never")
        stack.preview(expect_no_changes=True, color="never")
        state = json.dumps(stack.export_stack().deployment)
        assert "engine-tests" not in state


def test_hyperparameter_change_replaces_only_that_field(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        stack.up(color="never")
        stack.workspace.program = job_program(data, epoch_count=4)
        run = Run()
        preview = stack.preview(diff=True, **run.kwargs())
        assert preview.change_summary.get("replace") == 1  # the job; its TunedModel moves in place
        assert preview.change_summary.get("update") == 1
        assert "epoch_count" in run.text
        assert "replace: epoch_count changed (3 -> 4)" in run.text
        steps = [e.resource_pre_event.metadata for e in run.events if e.resource_pre_event]
        replaced = [s for s in steps if s.op in ("replace", "create-replacement")]
        assert {tuple(s.keys or ()) for s in replaced if s.type.endswith("TuningJob")} == {
            ("epoch_count",)
        }
        up = stack.up(color="never")
        assert up.outputs["job"].value["effective_epoch_count"] == 4
        assert emulator.calls(CREATE_JOB) == 2


def test_label_change_updates_in_place(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        stack.up(color="never")
        stack.workspace.program = job_program(data, labels={"team": "ads"})
        up = stack.up(color="never")
        assert up.summary.resource_changes.get("update") == 1
        assert "replace" not in up.summary.resource_changes
        assert emulator.calls(CREATE_JOB) == 1
        from gemini_tuning.backends import Settings
        from gemini_tuning.backends.vertex import VertexBackend

        backend = VertexBackend(
            Settings(
                project=emulator.project, location=emulator.location, api_endpoint=emulator.url
            )
        )
        model = backend.get_model(up.outputs["job"].value["tuned_model"])
        assert model.labels["team"] == "ads"
        assert "google-vertex-llm-tuning-job-id" in model.labels or any(
            k.startswith("google-vertex") for k in model.labels
        )


def test_invalid_adapter_size_fails_preview_without_api_calls(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    emulator.reset_stats()
    with _stack(
        tmp_path,
        pulumi_bin,
        emulator,
        job_program(data, base_model="gemini-2.5-pro", adapter_size=16),
    ) as stack:
        run = Run()
        with pytest.raises(auto.errors.CommandError) as err:
            stack.preview(**run.kwargs())
        assert (
            "adapter size 16 is not supported for gemini-2.5-pro; allowed: 1, 2, 4, 8"
            in str(err.value) + run.text
        )
    assert emulator.stats()["total"] == 0


def test_job_failing_in_the_service_fails_up_with_its_message(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    program = job_program(data, labels={"emulator-fail": "simulated-quota-exhausted"})
    with _stack(tmp_path, pulumi_bin, emulator, program) as stack:
        with pytest.raises(auto.errors.CommandError) as err:
            stack.up(color="never")
        assert "ended FAILED" in str(err.value)
        assert "simulated-quota-exhausted" in str(err.value)
        assert resources_of(stack, "vertex:TuningJob") == []


def test_model_deleted_out_of_band_is_recreated_after_refresh(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        first = stack.up(color="never").outputs["job"].value
        from gemini_tuning.backends import Settings
        from gemini_tuning.backends.vertex import VertexBackend

        backend = VertexBackend(
            Settings(
                project=emulator.project, location=emulator.location, api_endpoint=emulator.url
            )
        )
        backend.delete_version(first["tuned_model"], first["tuned_model_endpoint"])
        stack.refresh(color="never")
        run = Run()
        up = stack.up(**run.kwargs())
        second = up.outputs["job"].value
        assert second["tuned_model"] != first["tuned_model"]
        assert backend.get_model(second["tuned_model"]).name == second["tuned_model"]
        assert emulator.calls(CREATE_JOB) == 2
        stack.preview(expect_no_changes=True, color="never")


def test_destroy_leaves_no_model_and_no_endpoint(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with _stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        stack.up(color="never")
        stack.destroy(color="never")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    opts = {
        "client_options": emulator.client_options,
        "credentials": AnonymousCredentials(),
        "transport": "rest",
    }
    parent = emulator.parent
    assert list(aiplatform_v1.ModelServiceClient(**opts).list_models(parent=parent)) == []
    assert list(aiplatform_v1.EndpointServiceClient(**opts).list_endpoints(parent=parent)) == []


def test_injected_503s_do_not_break_up(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    emulator.set_faults(rate_503=0.2)
    with _stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        up = stack.up(color="never")
        assert up.outputs["job"].value["job_state"] == "SUCCEEDED"
        stack.destroy(color="never")
    injected = emulator.stats()["faults"]
    assert sum(injected.values()) >= 1, injected  # faults really happened, and were retried
    assert emulator.calls(CREATE_JOB) >= 1


@pytest.mark.private_emulator
def test_sigkill_during_wait_then_up_adopts_the_running_job(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    slow = {"labels": {"team": "search", "emulator-seconds-per-epoch": "4"}}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.engine._up_in_child",
            str(tmp_path / "engine"),
            str(pulumi_bin),
            str(data),
            json.dumps(emulator_config(emulator)),
            json.dumps(slow),
        ],
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until("the create", lambda: emulator.calls(CREATE_JOB) == 1, child)
        # Inside the wait loop (the job needs about 12 s) once it has read the job again.
        reads = job_reads(emulator)
        wait_until("the first poll", lambda: job_reads(emulator) > reads, child)
    finally:
        # The whole tree, as a lost CI runner would, or the dynamic provider outlives the test.
        kill_process_tree(child)

    with _stack(tmp_path, pulumi_bin, emulator, job_program(data, **slow)) as stack:
        with pytest.raises(auto.errors.ConcurrentUpdateError):
            stack.up(color="never")  # the killed run still holds the stack's lock ...
        stack.cancel()  # ... which `pulumi cancel` releases, as the engine's message says
        run = Run()
        up = stack.up(**run.kwargs())
        assert up.outputs["job"].value["job_state"] == "SUCCEEDED"
        assert "adopting tuning job" in run.text
    assert emulator.calls(CREATE_JOB) == 1  # exactly one job was ever submitted
