"""The emulator as a process: restart keeps state, the CLI, loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1

from gemini_tuning.testing import run_emulator
from tests.support.emulator import FACTS, dataset_lines, gapic, new_job, squad_prompt, wait_job

pytestmark = pytest.mark.emulator


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with run_emulator(tmp_path / "state", seconds_per_epoch=0.05) as emu:
        uri = emu.upload(("\n".join(dataset_lines()) + "\n").encode(), "gs://data/train.jsonl")
        tuning = gapic(emu, aiplatform_v1.GenAiTuningServiceClient)
        done = wait_job(tuning, new_job(tuning, emu, uri, epochs=1).name)
        assert done.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
        slow = new_job(tuning, emu, uri, labels={"emulator-seconds-per-epoch": "0.4"}, epochs=3)
        wait_job(
            tuning, slow.name, until=lambda j: j.state == aiplatform_v1.JobState.JOB_STATE_RUNNING
        )
        port = emu.port
        assert emu.calls("GenAiTuningService.CreateTuningJob") == 2
        prediction = gapic(emu, aiplatform_v1.PredictionServiceClient)
        prompts = [squad_prompt(country, context) for _, country, context in FACTS]

        def answers() -> list[str]:
            return [
                prediction.generate_content(
                    model=done.tuned_model.endpoint,
                    contents=[{"role": "user", "parts": [{"text": p}]}],
                )
                .candidates[0]
                .content.parts[0]
                .text
                for p in prompts
            ]

        learned = answers()  # the job's learner, kept in the store

        emu.restart()
        assert emu.port == port  # same address, so existing clients keep working
        assert emu.calls("GenAiTuningService.CreateTuningJob") == 0  # counters are per process
        again = tuning.get_tuning_job(name=done.name)
        assert again == done
        assert answers() == learned  # the restarted emulator serves the same trained model
        models = gapic(emu, aiplatform_v1.ModelServiceClient)
        assert models.get_model(name=done.tuned_model.model).version_id == "1"
        # The running job carries on from its timestamps and finishes after the restart.
        finished = wait_job(tuning, slow.name)
        assert finished.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
        assert len(finished.tuned_model.checkpoints) == 3
        # GCS objects persist too: a new job can read the dataset uploaded before the restart.
        assert wait_job(tuning, new_job(tuning, emu, uri, epochs=1).name).state == (
            aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
        )


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from gemini_tuning.emulator._cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_start_status_stop(tmp_path: Path) -> None:
    env = {**os.environ, "GEMINI_TUNING_EMULATOR_HOME": str(tmp_path / "home")}
    assert _cli("status", env=env).returncode == 1
    started = _cli("start", "--seconds-per-epoch", "0.05", env=env)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    info = json.loads((tmp_path / "home" / "emulator.json").read_text())
    assert info["url"] == url
    assert url.startswith("http://127.0.0.1:")
    assert info["gcs_host"].startswith("http://127.0.0.1:")
    assert info["pid"] > 0
    try:
        status = _cli("status", env=env)
        assert status.returncode == 0
        assert url in status.stdout
        again = _cli("start", env=env)
        assert again.returncode == 0
        assert "already running" in again.stdout
        assert (tmp_path / "home" / "emulator.log").exists()
    finally:
        stopped = _cli("stop", env=env)
    assert stopped.returncode == 0
    deadline = time.monotonic() + 5
    while _cli("status", env=env).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cli("status", env=env).returncode == 1
    assert not (tmp_path / "home" / "emulator.json").exists()


def test_refuses_non_loopback_hosts(tmp_path: Path) -> None:
    env = {**os.environ}
    result = _cli("run", "--host", "0.0.0.0", "--state-dir", str(tmp_path), env=env)  # noqa: S104
    assert result.returncode == 2
    assert "only listens on 127.0.0.1" in result.stderr


def test_answers_are_not_held_back_by_nagle() -> None:
    """An answer's headers and body are two writes; with Nagle's algorithm the body waited for
    the client's delayed ACK, 40 ms on every call. Accepted sockets inherit TCP_NODELAY."""
    import socket

    from gemini_tuning.emulator._server import bind

    listening = bind(0)
    try:
        client = socket.create_connection(listening.getsockname())
        accepted, _ = listening.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listening.close()
