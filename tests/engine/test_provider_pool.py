"""The dynamic-provider server waits for more than four tuning jobs at once (issue 24, item 2).

The SDK's server runs every call on a pool of 4 workers; a create holds one for the whole wait.
gemini_tuning/_process.py widens that pool when the first provider is unpickled in that process,
and nowhere else. Six creates that wait for 30 minutes each: the emulator sees all six submitted
only if the server runs more than four calls at once (with 4 workers, the 5th and 6th creates
would queue behind the first four's waits).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1

from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import (
    CREATE_JOB,
    emulator_config,
    inline_stack,
    job_inputs,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

JOBS = 6
SLOW = {"team": "search", "emulator-seconds-per-epoch": "600"}  # 3 epochs: 30 minutes a job


def test_the_dynamic_provider_waits_for_six_jobs_at_once(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")

    def program() -> None:
        from gemini_tuning import TuningJob

        for i in range(JOBS):
            TuningJob(f"qa-{i}", **job_inputs(data, labels=SLOW))

    ended: dict[str, Any] = {}
    config = emulator_config(emulator)
    with inline_stack(tmp_path / "engine", pulumi_bin, program, config=config) as stack:

        def up() -> None:
            try:
                stack.up(parallel=JOBS * 2, color="never")
            except Exception as error:  # noqa: BLE001 - the cancelled jobs fail the up
                ended["error"] = error

        running = threading.Thread(target=up, daemon=True)
        running.start()
        try:
            all_submitted = _wait_for(lambda: emulator.calls(CREATE_JOB) >= JOBS, running)
        finally:
            _end_the_up(emulator, running)
    assert all_submitted, f"only {emulator.calls(CREATE_JOB)} of {JOBS} jobs were submitted"
    assert not running.is_alive()


def _wait_for(ready: Any, running: threading.Thread, seconds: float = 180) -> bool:
    """Poll ``ready()`` until true (True), or until the up ends or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while not ready():
        if not running.is_alive() or time.monotonic() > deadline:
            return bool(ready())
        time.sleep(0.2)
    return True


def _end_the_up(emu: EmulatorProcess, running: threading.Thread, seconds: float = 300) -> None:
    """Cancel the jobs, and any that a queued create submits next, until the up has ended."""
    deadline = time.monotonic() + seconds
    while running.is_alive() and time.monotonic() < deadline:
        _cancel_every_job(emu)
        running.join(timeout=1)


def _cancel_every_job(emu: EmulatorProcess) -> None:
    client = aiplatform_v1.GenAiTuningServiceClient(
        transport="rest",
        client_options=emu.client_options,
        credentials=AnonymousCredentials(),
    )
    running = (aiplatform_v1.JobState.JOB_STATE_PENDING, aiplatform_v1.JobState.JOB_STATE_RUNNING)
    for job in client.list_tuning_jobs(parent=emu.parent):
        if job.state in running:
            client.cancel_tuning_job(name=job.name)
