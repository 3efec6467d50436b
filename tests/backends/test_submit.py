"""Submitting exactly once (resources/_submit.py) against the emulator's hazards: answers lost
after the effect, the concurrent-job quota, a mis-filtering list, a job being cancelled."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gemini_tuning.backends import JobRequest, Settings, vertex
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.resources import _submit
from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import emulator_with_training_file

pytestmark = pytest.mark.emulator

CREATE = "GenAiTuningService.CreateTuningJob"
IDENTITY = {"gemini-tuning-resource": "r1", "gemini-tuning-spec": "s1"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with emulator_with_training_file(tmp_path_factory, seconds_per_epoch=0.05) as emulator:
        yield emulator


@pytest.fixture
def emu(served: EmulatorProcess) -> Iterator[EmulatorProcess]:
    served.reset()
    yield served
    served.clear_faults()
    served.configure(
        max_running_jobs=None, tuning_job_list_filter="honest", hang_seconds=30.0, hold_seconds=0
    )
    vertex.forget_listings()
    _submit.forget_ended_badly()


@pytest.fixture
def backend(emu: EmulatorProcess) -> VertexBackend:
    settings = Settings(
        project=emu.project,
        location=emu.location,
        api_endpoint=emu.url,
        request_timeout_seconds=1.0,
    )
    return VertexBackend(settings)


def _request(labels: dict[str, str], spe: str = "0.05") -> JobRequest:
    return JobRequest(
        display_name=None,
        base_model="gemini-2.5-flash",
        pre_tuned_model=None,
        training_uri="gs://b/t.jsonl",
        validation_uri=None,
        labels={**labels, "emulator-seconds-per-epoch": spe},
        epoch_count=1,
    )


TIMING = _submit.Timing(
    deadline_seconds=60, poll_seconds=0.2, clock=time.monotonic, sleep=time.sleep
)


def _submit_once(backend: VertexBackend, labels: dict[str, str] = IDENTITY) -> str:
    existing = _submit.existing_jobs(backend, labels)
    return _submit.submit_once(
        backend, _request(labels), labels, existing, resource="r", timing=TIMING
    ).name


@pytest.mark.parametrize("answer", ["503", "500", "504", "timeout", "drop"])
def test_a_lost_answer_adopts_the_job_it_created(
    emu: EmulatorProcess, backend: VertexBackend, answer: str
) -> None:
    emu.configure(hang_seconds=2.0)
    emu.add_fault(answer, method="CreateTuningJob", when="after", next=1)
    name = _submit_once(backend)
    assert emu.calls(CREATE) == 1
    assert [j.name for j in backend.find_jobs(IDENTITY)] == [name]


def test_a_lost_answer_that_created_nothing_submits_again(
    emu: EmulatorProcess, backend: VertexBackend
) -> None:
    emu.add_fault("503", method="CreateTuningJob", when="before", next=2)
    name = _submit_once(backend)
    assert emu.calls(CREATE) == 3
    assert [j.name for j in backend.find_jobs(IDENTITY)] == [name]


def test_an_older_job_of_the_same_identity_is_not_taken_for_the_lost_one(
    emu: EmulatorProcess, backend: VertexBackend
) -> None:
    old = backend.submit_job(_request(IDENTITY, spe="5")).name  # still running when cancelled
    backend.cancel_job(old)
    emu.add_fault("503", method="CreateTuningJob", when="after", next=1)
    name = _submit_once(backend)
    assert name != old
    assert len(backend.find_jobs(IDENTITY)) == 2


def test_under_the_quota_the_submission_waits_for_a_slot(
    emu: EmulatorProcess, backend: VertexBackend
) -> None:
    emu.configure(max_running_jobs=1)
    backend.submit_job(_request({"other": "job"}, spe="1.5"))
    started = time.monotonic()
    name = _submit_once(backend)
    assert time.monotonic() - started > 1  # it queued behind the running job
    assert [j.name for j in backend.find_jobs(IDENTITY)] == [name]
    assert sum(v for k, v in emu.stats()["faults"].items()) == 0  # 429s are answers, not faults


@pytest.mark.parametrize("mode", ["ignore", "refuse"])
def test_a_job_whose_labels_differ_from_the_filters_answer_is_not_adopted(
    emu: EmulatorProcess, backend: VertexBackend, mode: str
) -> None:
    foreign = {"gemini-tuning-resource": "r1", "gemini-tuning-spec": "other"}
    backend.submit_job(_request(foreign, spe="5"))
    emu.configure(tuning_job_list_filter=mode)
    existing = _submit.existing_jobs(backend, IDENTITY)
    assert existing.jobs == []
    assert _submit.reusable(backend, existing) is None


def test_a_cancelling_job_is_not_adopted(emu: EmulatorProcess, backend: VertexBackend) -> None:
    emu.configure(cancelling_seconds=30.0)
    try:
        job = backend.submit_job(_request(IDENTITY, spe="5"))
        backend.cancel_job(job.name)
        assert backend.get_job(job.name).state == "CANCELLING"
        existing = _submit.existing_jobs(backend, IDENTITY)
        assert [j.state for j in existing.jobs] == ["CANCELLING"]
        assert _submit.reusable(backend, existing) is None
    finally:
        emu.configure(cancelling_seconds=None)


def test_a_running_job_is_adopted(emu: EmulatorProcess, backend: VertexBackend) -> None:
    job = backend.submit_job(_request(IDENTITY, spe="5"))
    adopted = _submit.reusable(backend, _submit.existing_jobs(backend, IDENTITY))
    assert adopted is not None
    assert adopted.name == job.name


def test_a_lost_answer_under_a_filter_that_answers_nothing_makes_one_job(
    emu: EmulatorProcess, backend: VertexBackend
) -> None:
    """The label filter answers nothing (an undocumented filter could): the job the lost
    create made is found in the unfiltered list, matched on the client."""
    vertex.forget_listings()
    backend.submit_job(_request({"someone": "else"}))  # another job in the location
    emu.configure(tuning_job_list_filter="labels_empty")
    emu.add_fault("503", method="CreateTuningJob", when="after", next=1)
    name = _submit_once(backend)
    assert emu.calls(CREATE) == 2  # the other job, and ours once
    emu.configure(tuning_job_list_filter="honest")
    assert [j.name for j in backend.find_jobs(IDENTITY)] == [name]


def test_a_killed_runners_job_is_found_when_the_filter_answers_nothing(
    emu: EmulatorProcess, backend: VertexBackend
) -> None:
    vertex.forget_listings()
    earlier = backend.submit_job(_request(IDENTITY, spe="5"))
    emu.configure(tuning_job_list_filter="labels_empty")
    existing = _submit.existing_jobs(backend, IDENTITY)
    adopted = _submit.reusable(backend, existing)
    assert adopted is not None
    assert adopted.name == earlier.name
    assert emu.calls(CREATE) == 1


def test_a_paused_job_is_adopted_not_submitted_again(
    emu: EmulatorProcess, backend: VertexBackend
) -> None:
    emu.configure(hold_seconds=30.0, hold_state="PAUSED")
    job = backend.submit_job(_request(IDENTITY, spe="0.4"))
    emu.configure(hold_seconds=0)
    deadline = time.monotonic() + 20
    while backend.get_job(job.name).state != "PAUSED":
        assert time.monotonic() < deadline, backend.get_job(job.name)
        time.sleep(0.05)
    adopted = _submit.reusable(backend, _submit.existing_jobs(backend, IDENTITY))
    assert adopted is not None
    assert (adopted.name, adopted.state) == (job.name, "PAUSED")


def test_after_a_job_of_this_identity_ended_badly_nothing_more_is_submitted(
    emu: EmulatorProcess, backend: VertexBackend
) -> None:
    failed = backend.submit_job(_request(IDENTITY))
    _submit.note_ended_badly(IDENTITY, failed)
    with pytest.raises(RuntimeError, match="not submitting another tuning job"):
        _submit_once(backend)
    assert emu.calls(CREATE) == 1


@pytest.mark.parametrize("mode", ["honest", "labels_empty", "refuse"])
def test_one_list_reads_every_waited_job(
    emu: EmulatorProcess, backend: VertexBackend, mode: str
) -> None:
    jobs = [backend.submit_job(_request({"n": str(n)}, spe="5")) for n in range(3)]
    backend.submit_job(_request({"n": "not-waited"}, spe="5"))
    emu.configure(tuning_job_list_filter=mode)
    emu.reset_stats()
    since = min(j.create_time or "" for j in jobs)
    found, reads = backend.read_jobs([j.name for j in jobs], since)
    assert sorted(found) == sorted(j.name for j in jobs)
    assert reads == 1 + (mode == "refuse")  # a refused filter: once more, unfiltered
    assert emu.calls("GenAiTuningService.ListTuningJobs") == reads
    assert emu.calls("GenAiTuningService.GetTuningJob") == 0
