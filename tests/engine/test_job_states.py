"""Through the real engine (issue 22, items 5 and 6): a label filter that answers nothing plus a
lost create answer still makes exactly one job per TuningJob; jobs the service holds in PAUSED
(or UPDATING) for a while are waited through, never submitted again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import CREATE_JOB as CREATE
from tests.support.engine import Run, emulator_config, inline_stack, jobs_program, write_examples
from tests.support.engine import jobs_by_resource as _jobs_by_resource

pytestmark = [pytest.mark.engine, pytest.mark.emulator]


@pytest.fixture
def stack_config(emulator: EmulatorProcess) -> Iterator[dict[str, str]]:
    yield {**emulator_config(emulator), "gemini-tuning:requestTimeoutSeconds": "2"}
    emulator.clear_faults()


def test_a_filter_answering_nothing_and_a_lost_create_answer_make_one_job_each(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, stack_config: dict[str, str]
) -> None:
    """The label filter of tuningJobs.list answers nothing (as an undocumented filter could),
    and the first create's answer is lost after the job was made: the provider finds that job
    in the unfiltered list and adopts it. Before, the empty answer read as "no job" and the
    create was submitted again (3 jobs for 2 TuningJobs)."""
    data = write_examples(tmp_path / "train.jsonl")
    emulator.configure(tuning_job_list_filter="labels_empty")
    emulator.add_fault("503", method="CreateTuningJob", when="after", next=1)
    with inline_stack(
        tmp_path / "engine", pulumi_bin, jobs_program(data, 2), config=stack_config
    ) as stack:
        run = Run()
        up = stack.up(**run.kwargs())
        assert up.outputs["states"].value == ["SUCCEEDED", "SUCCEEDED"]
        stack.preview(expect_no_changes=True, color="never")
    assert "the lost create did reach the service" in run.text
    emulator.configure(tuning_job_list_filter="honest")
    jobs = _jobs_by_resource(emulator)
    assert sorted(jobs) == ["qa-0", "qa-1"]
    assert all(len(names) == 1 for names in jobs.values()), jobs
    assert emulator.calls(CREATE) == 2


@pytest.mark.parametrize("state", ["PAUSED", "UPDATING"])
def test_jobs_held_paused_or_updating_for_a_while_are_waited_through(
    tmp_path: Path,
    pulumi_bin: Path,
    emulator: EmulatorProcess,
    stack_config: dict[str, str],
    state: str,
) -> None:
    """Each job reports PAUSED (UPDATING) for 2 s after it starts, several polls; the `up`
    waits, says why, and succeeds with one job per TuningJob. The label filter answers nothing
    too, as in the observed run."""
    data = write_examples(tmp_path / "train.jsonl")
    emulator.configure(hold_seconds=2.0, hold_state=state, tuning_job_list_filter="labels_empty")
    with inline_stack(
        tmp_path / "engine", pulumi_bin, jobs_program(data, 2), config=stack_config
    ) as stack:
        run = Run()
        up = stack.up(**run.kwargs())
        assert up.outputs["states"].value == ["SUCCEEDED", "SUCCEEDED"]
    said = "".join(run.diagnostics)
    assert said.count(f"{state} (projects/") >= 2, said  # each job's line names the state
    held = "paused the job" if state == "PAUSED" else "is updating the job"
    assert held in said
    emulator.configure(tuning_job_list_filter="honest")
    jobs = _jobs_by_resource(emulator)
    assert sorted(jobs) == ["qa-0", "qa-1"]
    assert all(len(names) == 1 for names in jobs.values()), jobs
    assert emulator.calls(CREATE) == 2
