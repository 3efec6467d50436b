"""A shared `gs://` state backend and its locks (issue 14, item 1), through the real CLI.

The state lives in a bucket of the GCS emulator the repo already runs, opened by the engine's
own `gs://` driver, as a team's CI would open a real bucket. That works because (pulumi/pulumi
v3.259.0, read in ``pkg/backend/diy/backend.go`` and ``pkg/authhelpers/gcpauth.go``, and
gocloud.dev ``blob/gcsblob/gcsblob.go`` at the version it pins):

- for `gs://` the diy backend opens the bucket through ``authhelpers.GoogleCredentialsMux``,
  which first *requires* Google credentials: ``$GOOGLE_CREDENTIALS``, then
  ``$GOOGLE_OAUTH_ACCESS_TOKEN`` (a static token, not checked when read), then the default
  credentials; with none it fails ("missing google credentials: unable to find gcp
  credentials"). A dummy ``GOOGLE_OAUTH_ACCESS_TOKEN`` passes that step;
- gcsblob's ``openBucket`` then sees ``$STORAGE_EMULATOR_HOST`` and replaces the client:
  ``option.WithoutAuthentication()``, endpoint ``"http://" + host + "/storage/v1/"`` (so the
  variable is ``127.0.0.1:PORT``, without a scheme), the token is never sent.

So no S3 stand-in is needed. A project of one TuningJob, whose emulated training takes a few
seconds (the ``emulator-seconds-per-epoch`` label), is driven with the runbook's commands:

- two `pulumi up`s of one stack at once: the second is refused with the engine's lock message
  while the first runs on; the first's resources are all in state, and one job was submitted;
- a `pulumi up` killed (SIGKILL of its process tree) while the TuningJob waits leaves its lock
  in the bucket: the next `up` is refused, `pulumi cancel --yes` deletes the lock objects
  (``diyBackend.CancelCurrentUpdate`` lists ``.pulumi/locks/<org>/<project>/<stack>/`` and deletes
  every object), and the next `up` adopts the job the killed one submitted (one create). Both
  `up`s apply the same saved plan, as a re-run of the workflow's apply does: the engine drops the
  killed create's pending operation and plans a create again, which the plan holds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import (
    CREATE_JOB,
    Project,
    emulator_config,
    engine_env,
    job_reads,
    kill_process_tree,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator, pytest.mark.private_emulator]

STATE_BUCKET = "gt-pulumi-state"
STATE_PREFIX = "pulumi"  # gs://gt-pulumi-state/pulumi: a folder of a bucket, as teams often use
NAME = "gt-shared"
LOCKED = (
    "the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
    "or delete the lock file with `pulumi cancel`."
)

PROGRAM = """\
import os

import pulumi

from gemini_tuning import TuningJob

job = TuningJob(
    "qa",
    base_model="gemini-2.5-flash",
    training_dataset="train.jsonl",
    epoch_count=1,
    tuned_model_display_name="shared-qa",
    labels={"emulator-seconds-per-epoch": os.environ.get("GT_SECONDS_PER_EPOCH", "8")},
    poll_interval_seconds=0.2,
)
pulumi.export("job", job.job_name)
"""


def shared_backend_env(emu: EmulatorProcess) -> dict[str, str]:
    """What a process needs to open ``gs://STATE_BUCKET/STATE_PREFIX`` on the GCS emulator."""
    return {
        "PULUMI_BACKEND_URL": f"gs://{STATE_BUCKET}/{STATE_PREFIX}",
        "STORAGE_EMULATOR_HOST": emu.gcs_host.removeprefix("http://"),
        "GOOGLE_OAUTH_ACCESS_TOKEN": "unused-by-the-emulator",  # see the module docstring
    }


def _shared_project(tmp: Path, pulumi_bin: Path, emu: EmulatorProcess) -> Project:
    """Project NAME in ``tmp/NAME``, its stack ``dev`` created in the shared bucket."""
    emu.storage_client().create_bucket(STATE_BUCKET)
    env = {**os.environ, **engine_env(tmp, pulumi_bin), **shared_backend_env(emu)}
    work = tmp / NAME
    work.mkdir()
    (work / "Pulumi.yaml").write_text(
        f"name: {NAME}\nruntime:\n  name: python\n  options:\n    virtualenv: {sys.prefix}\n"
    )
    (work / "__main__.py").write_text(PROGRAM)
    write_examples(work / "train.jsonl")
    project = Project(work, tmp / "unused-local-backend", env)
    project.run("stack", "init")
    config = [f"--plaintext={key}={value}" for key, value in emulator_config(emu).items()]
    project.run("config", "set-all", *config)
    return project


def _objects(emu: EmulatorProcess, under: str) -> list[str]:
    prefix = f"{STATE_PREFIX}/.pulumi/{under}"
    return sorted(b.name for b in emu.storage_client().list_blobs(STATE_BUCKET, prefix=prefix))


def _locks(emu: EmulatorProcess) -> list[str]:
    return _objects(emu, f"locks/organization/{NAME}/dev/")


def _state(emu: EmulatorProcess) -> dict[str, Any]:
    key = f"{STATE_PREFIX}/.pulumi/stacks/{NAME}/dev.json"
    blob = emu.storage_client().bucket(STATE_BUCKET).blob(key)
    checkpoint: dict[str, Any] = json.loads(blob.download_as_bytes())
    return checkpoint


def _wait_for(what: str, ready: Callable[[], bool], child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert child.poll() is None, f"`pulumi up` ended (rc {child.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.1)


def _resources(checkpoint: dict[str, Any]) -> dict[str, dict[str, Any]]:
    latest = checkpoint["checkpoint"].get("latest") or {}
    return {r["urn"].rsplit("::", 1)[1]: r for r in latest.get("resources", [])}


def _assert_locked_message(stderr: str, child: subprocess.Popen[bytes]) -> None:
    """The engine's refusal, naming the lock object in the bucket and who holds it."""
    assert LOCKED in stderr, stderr
    lock_url = f"gs://{STATE_BUCKET}/{STATE_PREFIX}/.pulumi/locks/organization/{NAME}/dev/"
    lock_line = rf"{re.escape(lock_url)}[0-9a-f-]+\.json: created by \S+ \(pid (\d+)\) at "
    holder = re.search(lock_line, stderr)
    assert holder, stderr
    assert int(holder.group(1)) == child.pid  # the pulumi CLI that holds it


def test_two_concurrent_ups_of_one_stack_one_runs_the_other_is_refused_nothing_lost(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    project = _shared_project(tmp_path, pulumi_bin, emulator)
    first = project.start_up(0)
    try:
        _wait_for("a lock in the bucket", lambda: bool(_locks(emulator)), first)
        _wait_for("the create", lambda: emulator.calls(CREATE_JOB) == 1, first)
        second = project.run("up", "--yes", "--skip-preview", check=False)
        assert first.poll() is None, "the first up must still be running when the second ends"
    finally:
        rc = first.wait(timeout=120)
    print(second.stderr)
    assert second.returncode != 0
    _assert_locked_message(second.stderr, first)
    assert rc == 0  # the refused up took nothing from the running one

    job = _resources(_state(emulator))["qa"]
    assert job["outputs"]["job_state"] == "SUCCEEDED"
    assert emulator.calls(CREATE_JOB) == 1  # one job, one bill
    assert _locks(emulator) == []  # the first up released its lock when it ended
    project.run("preview", "--expect-no-changes")  # nothing lost: state matches the program
    assert (
        json.loads(project.run("stack", "output", "--json").stdout)["job"]
        == job["outputs"]["job_name"]
    )


def test_a_runner_killed_mid_wait_leaves_a_lock_cancel_releases_it_and_up_resumes_the_job(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    project = _shared_project(tmp_path, pulumi_bin, emulator)
    plan = tmp_path / "plan.json"  # as the workflow applies: the reviewed plan
    project.run("preview", "--refresh", "--save-plan", str(plan))
    apply = ("up", "--yes", "--skip-preview", "--plan", str(plan))
    killed = subprocess.Popen(
        project.command(*apply),
        cwd=project.work,
        env=project.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_for("the create", lambda: emulator.calls(CREATE_JOB) == 1, killed)
    # The TuningJob is in its wait loop once it has read the job again after submitting it.
    reads = job_reads(emulator)
    _wait_for("the first poll", lambda: job_reads(emulator) > reads, killed)
    (lock,) = _locks(emulator)
    kill_process_tree(killed)
    assert _locks(emulator) == [lock]  # a killed runner cannot delete its lock

    refused = project.run(*apply, check=False)
    assert refused.returncode != 0
    _assert_locked_message(refused.stderr, killed)

    project.run("cancel", "--yes")
    assert _locks(emulator) == []  # cancel deleted the lock object from the bucket
    resumed = project.run(*apply)  # a re-run of the workflow's apply: the same plan holds
    print(resumed.stdout)
    # Whatever state the killed up's job reached meanwhile (PENDING on a loaded machine,
    # RUNNING, or SUCCEEDED if the 8 s of training ended while the stack was locked), the
    # re-run adopts it instead of submitting another.
    adopted = re.search(
        r"adopting tuning job (\S+) \((PENDING|QUEUED|RUNNING|SUCCEEDED)\)", resumed.stdout
    )
    assert adopted, resumed.stdout
    assert emulator.calls(CREATE_JOB) == 1  # the killed up's job, not a second one
    job = _resources(_state(emulator))["qa"]
    assert job["outputs"]["job_name"] == adopted.group(1)
    assert job["outputs"]["job_state"] == "SUCCEEDED"
    assert _locks(emulator) == []
    project.run("preview", "--expect-no-changes")
