"""Through the real engine, the provider survives the real service's hazards (issue 12): create
answers lost after the effect, the concurrent-job quota, slow and never-ending operations, a
service that reports no progress (and publishes no loss)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, provider_hooks
from tests.support.engine import (
    Run,
    client_options,
    emulator_config,
    inline_stack,
    jobs_by_resource,
    jobs_program,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

CREATE = "GenAiTuningService.CreateTuningJob"
ANSWERS = ("503", "timeout", "drop", "500", "504")


@pytest.fixture
def stack_config(emulator: EmulatorProcess) -> Iterator[dict[str, str]]:
    yield {**emulator_config(emulator), "gemini-tuning:requestTimeoutSeconds": "2"}
    emulator.clear_faults()


def test_twenty_creates_that_lose_their_answer_make_one_job_each(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, stack_config: dict[str, str]
) -> None:
    """Five `up`s each add four TuningJobs; every create is applied and then answered with 503,
    a timeout, a dropped connection, 500 or 504 in turn (20 lost answers in all)."""
    data = write_examples(tmp_path / "train.jsonl")
    emulator.configure(hang_seconds=4.0)
    answers = itertools.cycle(ANSWERS)
    runs: list[Run] = []
    with inline_stack(
        tmp_path / "engine", pulumi_bin, jobs_program(data, 1), config=stack_config
    ) as stack:
        for count in range(4, 21, 4):
            for answer in itertools.islice(answers, 4):
                emulator.add_fault(answer, method="CreateTuningJob", when="after", next=1)
            stack.workspace.program = jobs_program(data, count)
            run = Run()
            up = stack.up(**run.kwargs())
            assert set(up.outputs["states"].value) == {"SUCCEEDED"}
            said = "".join(run.diagnostics)  # the engine may join lines into one event
            assert said.count("the lost create did reach the service") == 4, said
            runs.append(run)
        stack.preview(expect_no_changes=True, color="never")
        exported = set(stack.outputs()["jobs"].value)
    jobs = jobs_by_resource(emulator)
    assert sorted(jobs) == sorted(f"qa-{n}" for n in range(20))
    assert all(len(names) == 1 for names in jobs.values()), jobs  # no job was submitted twice
    assert exported == {names[0] for names in jobs.values()}
    assert emulator.calls(CREATE) == 20
    injected = emulator.stats()["faults"]
    assert {key.split(":")[1] for key in injected} == set(ANSWERS), injected
    assert sum(injected.values()) == 20


def test_twenty_jobs_under_a_quota_of_four_queue_and_all_succeed(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, stack_config: dict[str, str]
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    emulator.configure(max_running_jobs=4)
    program = jobs_program(data, 20, labels={"emulator-seconds-per-epoch": "1"})
    with inline_stack(tmp_path / "engine", pulumi_bin, program, config=stack_config) as stack:
        run = Run()
        up = stack.up(parallel=32, **run.kwargs())
        assert up.outputs["states"].value == ["SUCCEEDED"] * 20
        stack.preview(expect_no_changes=True, color="never")
    jobs = jobs_by_resource(emulator)
    assert len(jobs) == 20
    assert all(len(names) == 1 for names in jobs.values()), jobs
    assert "queued: 429" in run.text
    assert "The following quota metrics exceed quota limits" in run.text


def test_destroy_waits_for_slow_operations_and_names_one_that_never_ends(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, stack_config: dict[str, str]
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    config = {**stack_config, "gemini-tuning:operationTimeoutSeconds": "3"}
    with inline_stack(
        tmp_path / "engine", pulumi_bin, jobs_program(data, 1), config=config
    ) as stack:
        stack.up(color="never")
        emulator.configure(lro_never_done=True)
        run = Run()
        with pytest.raises(auto.errors.CommandError) as err:
            stack.destroy(**run.kwargs())
        text = str(err.value) + run.text
        assert re.search(
            r"the undeploy_model operation projects/\d+/locations/us-central1/endpoints/\d+/"
            r"operations/\d+ did not finish within 3 s",
            text,
        ), text
        assert "TimeoutError" not in text
        emulator.configure(lro_never_done=False, lro_polls=3)
        emulator.reset_stats()
        stack.destroy(color="never")
    assert emulator.calls("Operations.GetOperation") >= 9  # undeploy, endpoint, model: 3 each
    parent = emulator.parent
    models = aiplatform_v1.ModelServiceClient(**client_options(emulator))
    endpoints = aiplatform_v1.EndpointServiceClient(**client_options(emulator))
    assert list(models.list_models(parent=parent)) == []
    assert list(endpoints.list_endpoints(parent=parent)) == []


def test_a_long_silent_job_gets_a_progress_line_every_few_minutes_and_no_invented_loss(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, stack_config: dict[str, str]
) -> None:
    """Real-service shape (no epoch progress while RUNNING) and no published loss; the
    provider's clock runs 60x, so 3 epochs of 4 s are 12 minutes of simulated waiting."""
    data = write_examples(tmp_path / "train.jsonl")
    emulator.configure(publish_metrics=False)
    program = jobs_program(
        data,
        1,
        epoch_count=3,
        poll_interval_seconds=15,
        labels={"emulator-seconds-per-epoch": "4"},
    )
    env = provider_hooks(tmp_path / "hooks", clock_scale=60)
    with inline_stack(
        tmp_path / "engine", pulumi_bin, program, config=stack_config, env=env
    ) as stack:
        run = Run()
        up = stack.up(**run.kwargs())
    emulator.configure(publish_metrics=True)
    assert up.outputs["states"].value == ["SUCCEEDED"]
    assert up.outputs["losses"].value == [[]]  # nothing published: nothing invented
    lines = [line for line in run.diagnostics if "qa-0: " in line and "elapsed" in line]
    waited = [_elapsed(line) for line in lines]
    assert waited[-1] >= 10 * 60, lines
    assert max(b - a for a, b in itertools.pairwise(waited)) <= 5 * 60, lines
    running = [line for line in lines if "RUNNING" in line]
    assert len(running) >= 3, lines
    assert all("reports no progress while a job runs, so no estimate" in line for line in running)
    assert "qa-0: loss not available: the job names no experiment" in run.text


def _elapsed(line: str) -> int:
    found = re.search(r"elapsed (?:(\d+)h)?(\d+)m(\d+)s", line)
    assert found, line
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return hours * 3600 + minutes * 60 + seconds
