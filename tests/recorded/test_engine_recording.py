"""The way a team records the real service, through the real engine against the emulator:
GEMINI_TUNING_RECORD reaches the dynamic-provider processes of `pulumi up` and `pulumi destroy`,
their files hold no project, bucket, id or user text, and merged they replay clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gemini_tuning import _recording
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.recorded.replay import Replayer
from tests.support.engine import BUCKET, emulator_config, inline_stack, job_program, write_examples

pytestmark = [pytest.mark.engine, pytest.mark.emulator]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        yield emu


def test_up_and_destroy_are_recorded_redacted_and_replay(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    recordings = tmp_path / "recordings"
    program = job_program(data)
    with inline_stack(
        tmp_path / "engine",
        pulumi_bin,
        program,
        config=emulator_config(emulator),
        env={_recording.ENV: str(recordings)},
    ) as stack:
        stack.up(color="never")
        stack.destroy(color="never")

    files = sorted(recordings.glob("recording-*.json"))
    assert len(files) >= 2  # the up's provider process and the destroy's
    written = "\n".join(f.read_text() for f in files)
    for private in (emulator.project, emulator.project_number, BUCKET, "region 0", "Bearer"):
        assert private not in written
    merged = _recording.merge(recordings)
    calls = {(ex["method"], ex["path"].rsplit("/", 1)[-1]) for ex in merged["exchanges"]}
    assert ("POST", "tuningJobs") in calls
    assert any(method == "DELETE" for method, _ in calls)

    problems = Replayer(emulator, poll_timeout=20.0).run(merged)
    assert not problems, "\n".join(problems)
