"""Nothing billed is left behind (issue 22): every endpoint a job created (its checkpoints'
included) goes with destroy, with a cancelled job, and when the service refuses to delete the
tuned model; the stack ends empty either way.

"Intermediate checkpoints are deployed to new endpoints sequentially as tuning progresses"
(https://cloud.google.com/vertex-ai/generative-ai/docs/models/tuning-checkpoints): the emulator
does so, so a dev stack of two models (3 and 5 epochs) has 8 endpoints after `up`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import (
    Run,
    copy_project,
    emulator_config,
    emulator_project_stack,
    engine_env,
    inline_stack,
    job_inputs,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

BUCKET = "gt-checkpoint-data"
MODELS = {"squad-qa": 3, "number-successor": 5}  # the dev definitions and their epochs
KEPT = "the service kept tuned model "


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05) as emulator:
        emulator.storage_client().create_bucket(BUCKET)
        yield emulator


def _clients(emu: EmulatorProcess) -> tuple[Any, Any]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    opts = {
        "client_options": emu.client_options,
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
        "transport": "rest",
    }
    return aiplatform_v1.EndpointServiceClient(**opts), aiplatform_v1.ModelServiceClient(**opts)


def _endpoints(emu: EmulatorProcess) -> list[Any]:
    return list(_clients(emu)[0].list_endpoints(parent=emu.parent))


def _models(emu: EmulatorProcess) -> list[Any]:
    return list(_clients(emu)[1].list_models(parent=emu.parent))


def _dev(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess, extra: dict[str, str] | None = None
) -> auto.Stack:
    project = copy_project(tmp_path / "project")
    config = {
        "gemini-tuning:models": json.dumps(list(MODELS)),
        "gemini-tuning:aliases": '["dev"]',
        **(extra or {}),
    }
    env = engine_env(tmp_path, pulumi_bin)
    return emulator_project_stack(
        project, env, pulumi_bin, emu, "dev", bucket=BUCKET, config=config
    )


def _resources(stack: auto.Stack) -> list[dict[str, Any]]:
    deployment = stack.export_stack().deployment or {}
    return list(deployment.get("resources") or [])


def test_destroy_of_a_dev_stack_leaves_no_endpoint(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess
) -> None:
    stack = _dev(tmp_path, pulumi_bin, emu)
    stack.up(color="never")
    assert len(_endpoints(emu)) == sum(MODELS.values())  # one per checkpoint
    stack.destroy(color="never")
    assert _endpoints(emu) == []
    assert _models(emu) == []
    assert _resources(stack) == []


def test_a_refused_delete_still_empties_the_stack(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess
) -> None:
    stack = _dev(tmp_path, pulumi_bin, emu)
    stack.up(color="never")
    assert len(_endpoints(emu)) == sum(MODELS.values())
    emu.configure(refuse_tuned_model_delete=True)
    run = Run()
    stack.destroy(**run.kwargs())  # raises unless the engine exits 0

    kept = sorted({line for line in run.diagnostics if KEPT in line})
    assert len(kept) == len(MODELS), kept  # one line per model the service kept
    for line in kept:
        assert "its endpoints are gone and nothing serves it" in line
        assert "to remove it by hand: gcloud ai models delete " in line
        assert f"--region={emu.location}" in line
    assert "FAILED_PRECONDITION" not in run.text  # the service's words, not a raw 400
    assert _endpoints(emu) == []  # nothing serves (or bills for) what the service kept
    assert _resources(stack) == []
    survivors = _models(emu)
    assert len(survivors) == len(MODELS)
    for model in survivors:
        assert not model.deployed_models
        assert not [k for k in model.labels if k.startswith("gemini-tuning-claim-")]


def _running_job_program(data: Path) -> Any:
    def program() -> None:
        from gemini_tuning import TuningJob

        # 40 s of training: the destroy (engine start-up included) comes while it runs.
        slow = {"team": "search", "emulator-seconds-per-epoch": "8"}
        job = TuningJob("qa", **job_inputs(data, epoch_count=5, labels=slow, wait=False))
        pulumi.export("job", job.job_name)

    return program


def test_destroy_while_the_job_runs_leaves_no_endpoint(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    program = _running_job_program(data)
    config = {**emulator_config(emu), "gemini-tuning:datasetBucket": BUCKET}
    with inline_stack(tmp_path / "engine", pulumi_bin, program, config=config) as stack:
        job = stack.up(color="never").outputs["job"].value
        deadline = time.monotonic() + 60
        while not _endpoints(emu):  # the first checkpoint is deployed while the job runs
            assert time.monotonic() < deadline, "no checkpoint endpoint appeared"
            time.sleep(0.2)
        assert emu.job_metrics(job)["state"] == "JOB_STATE_RUNNING"
        run = Run()
        stack.destroy(**run.kwargs())
        assert f"cancelled running tuning job {job}" in run.text
        assert "deleted endpoint" in run.text
        assert _resources(stack) == []
    assert _endpoints(emu) == []
    assert emu.job_metrics(job)["state"] == "JOB_STATE_CANCELLED"


def test_prune_of_retained_versions_the_service_refuses_to_delete(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess
) -> None:
    """dev retains its versions (checkpoints' endpoints and all) on destroy; prune then removes
    every endpoint, and the service keeps the versions: prune exits 0, one line per version."""
    stack = _dev(tmp_path, pulumi_bin, emu, {"gemini-tuning:deletionPolicy": "retain"})
    stack.up(color="never")
    stack.destroy(color="never")
    assert len(_endpoints(emu)) == sum(MODELS.values())  # retained: still serving
    emu.configure(refuse_tuned_model_delete=True)
    env = engine_env(tmp_path, pulumi_bin)
    pruned = subprocess.run(
        [sys.executable, "-m", "gemini_tuning.cli", "releases", "prune", "--yes", "--stack", "dev"],
        cwd=tmp_path / "project",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert pruned.returncode == 0, pruned.stderr
    kept = [line for line in pruned.stdout.splitlines() if KEPT in line]
    assert len(kept) == len(MODELS), pruned.stdout
    assert all("its release record gs://" in line for line in kept)
    for name in MODELS:
        assert f"the service kept {name} v1 (" in pruned.stdout
    assert "FAILED_PRECONDITION" not in pruned.stdout + pruned.stderr
    assert _endpoints(emu) == []
    assert len(_models(emu)) == len(MODELS)
