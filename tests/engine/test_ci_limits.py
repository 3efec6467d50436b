"""CI limits (issue 14, item 5): an `up` that must end before a hosted runner's job limit.

GEMINI_TUNING_WAIT_MINUTES (330 by default on GitHub Actions) ends the wait of this `up` without
cancelling the job; the next `up` adopts the running job by its identity labels and finishes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import (
    CREATE_JOB,
    Run,
    emulator_config,
    inline_stack,
    job_program,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]


def test_a_spent_wait_budget_ends_up_leaves_the_job_running_and_the_next_up_resumes(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    slow = {"labels": {"team": "search", "emulator-seconds-per-epoch": "4"}}  # about 12 s
    program = job_program(data, **slow)
    config = emulator_config(emulator)
    budget = {"GEMINI_TUNING_WAIT_MINUTES": "0.05"}  # 3 seconds
    first = inline_stack(tmp_path / "engine", pulumi_bin, program, env=budget, config=config)
    with first as st, pytest.raises(auto.errors.CommandError) as err:
        st.up(color="never")
    message = str(err.value)
    assert "wait budget, GEMINI_TUNING_WAIT_MINUTES=0.05 minutes, is spent" in message
    assert "it was NOT cancelled" in message
    assert emulator.calls(CREATE_JOB) == 1
    assert emulator.calls("GenAiTuningService.CancelTuningJob") == 0

    # The next run (a re-run of the workflow, a scheduled run) has its own budget: it adopts.
    again = {"GEMINI_TUNING_WAIT_MINUTES": "none"}
    with inline_stack(tmp_path / "engine", pulumi_bin, program, env=again, config=config) as st:
        run = Run()
        up = st.up(**run.kwargs())
        assert up.outputs["job"].value["job_state"] == "SUCCEEDED"
        assert "adopting tuning job" in run.text
        st.preview(expect_no_changes=True, color="never")
    assert emulator.calls(CREATE_JOB) == 1  # one job, one bill
