"""Every JobState (google.cloud.aiplatform.v1.JobState): what is waited on, adopted, a success
or a failure; a failed job is never followed by another submission in the same process;
refresh follows the tuned model's endpoint as drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gemini_tuning import backends
from gemini_tuning.backends import JobStatus, ModelStatus
from gemini_tuning.resources import _submit, tuning_job
from gemini_tuning.resources._wait import wait_for_job

MODEL = "projects/1/locations/l/models/7@1"

# state -> (active: waited on, adoptable, succeeded, ended badly), without a tuned model
RULES = {
    "UNSPECIFIED": (True, True, False, False),
    "QUEUED": (True, True, False, False),
    "PENDING": (True, True, False, False),
    "RUNNING": (True, True, False, False),
    "PAUSED": (True, True, False, False),
    "UPDATING": (True, True, False, False),
    "CANCELLING": (True, False, False, False),
    "SUCCEEDED": (False, True, True, False),
    "PARTIALLY_SUCCEEDED": (False, False, False, True),
    "FAILED": (False, False, False, True),
    "CANCELLED": (False, False, False, True),
    "EXPIRED": (False, False, False, True),
}


@pytest.mark.parametrize(("state", "expected"), sorted(RULES.items()))
def test_each_state_is_waited_on_adopted_or_ended_as_documented(
    state: str, expected: tuple[bool, bool, bool, bool]
) -> None:
    job = JobStatus(name="jobs/1", state=state)
    assert (job.active, job.adoptable, job.succeeded, job.ended_badly) == expected


def test_a_partial_success_with_a_tuned_model_is_a_success() -> None:
    job = JobStatus(name="jobs/1", state="PARTIALLY_SUCCEEDED", tuned_model=MODEL)
    assert (job.active, job.adoptable, job.succeeded, job.ended_badly) == (
        False,
        True,
        True,
        False,
    )


@dataclass
class Scripted:
    """get_job answers the scripted states in order (the last one from then on)."""

    states: list[str]
    reads: int = 0

    def get_job(self, name: str) -> JobStatus:
        state = self.states[min(self.reads, len(self.states) - 1)]
        self.reads += 1
        tuned = MODEL if state == "SUCCEEDED" else None
        return JobStatus(name=name, state=state, tuned_model=tuned)

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_paused_updating_and_unspecified_are_waited_through_with_a_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend = Scripted(["RUNNING", "PAUSED", "PAUSED", "UPDATING", "UNSPECIFIED", "SUCCEEDED"])
    clock = Clock()
    status = wait_for_job(
        backend,  # type: ignore[arg-type]
        "jobs/1",
        resource="qa",
        timeout_seconds=3600,
        poll_seconds=1,
        clock=clock,
        sleep=clock.sleep,
    )
    assert status.state == "SUCCEEDED"
    assert backend.reads == 6
    err = capsys.readouterr().err
    assert "PAUSED (jobs/1)" in err
    assert "the service paused the job (it can be resumed): waiting for it" in err
    assert "the service is updating the job (it goes back to RUNNING)" in err
    assert "the service reported no state: reading it again" in err


class _NoEndpoints:
    """A backend whose job deployed nothing (the emulator-backed test in tests/backends shows a
    failed job's checkpoint endpoints removed)."""

    def delete_job_endpoints(self, _job: str) -> list[str]:
        return []


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED"])
def test_a_bad_end_fails_with_the_jobs_own_error_and_blocks_another_submission(
    state: str,
) -> None:
    _submit.forget_ended_badly()
    wanted = {"gemini-tuning-resource": "r", "gemini-tuning-spec": state.lower()}
    job = JobStatus(name="jobs/9", state=state, error="the data was bad at line 3")
    with pytest.raises(RuntimeError) as err:
        tuning_job._check_end(job, wanted, "qa", _NoEndpoints())
    assert f"tuning job jobs/9 ended {state}" in str(err.value)
    assert "the data was bad at line 3" in str(err.value)
    with pytest.raises(RuntimeError, match="not submitting another tuning job: jobs/9 ended"):
        _submit._refuse_if_ended_badly(wanted)
    _submit.forget_ended_badly()


def test_a_partial_success_with_a_model_is_used_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = JobStatus(
        name="jobs/9", state="PARTIALLY_SUCCEEDED", tuned_model=MODEL, error="2 shards lost"
    )
    tuning_job._check_end(job, {"gemini-tuning-resource": "r"}, "qa", _NoEndpoints())
    err = capsys.readouterr().err
    assert "warning: tuning job jobs/9 ended PARTIALLY_SUCCEEDED" in err
    assert f"2 shards lost; its tuned model {MODEL} is used" in err


@dataclass
class Found:
    """find_jobs answers ``jobs``; get_model finds every model."""

    jobs: list[JobStatus]
    models: list[str] = field(default_factory=list)

    def get_model(self, name: str) -> ModelStatus:
        self.models.append(name)
        return ModelStatus(name=name)


@pytest.mark.parametrize("state", ["PAUSED", "UPDATING", "UNSPECIFIED"])
def test_a_held_job_is_adopted_instead_of_submitting_another(state: str) -> None:
    older = JobStatus(name="jobs/1", state="FAILED", create_time="2026-01-01T00:00:00Z")
    held = JobStatus(name="jobs/2", state=state, create_time="2026-01-02T00:00:00Z")
    backend = Found([older, held])
    adopted = _submit.reusable(backend, _submit.Existing(backend.jobs))  # type: ignore[arg-type]
    assert adopted is held


def _props(endpoint: str) -> dict[str, Any]:
    return {
        "resource_name": "qa",
        "stack": "p/s",
        "backend": "vertex",
        "base_model": "gemini-2.5-flash",
        "training_dataset": "gs://b/t.jsonl",
        "training_dataset_uri": "gs://b/t.jsonl",
        "tuned_model": MODEL,
        "tuned_model_endpoint": endpoint,
        "owner_token": "t",
    }


def test_refresh_follows_a_changed_endpoint_as_drift_not_a_replacement(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    new_endpoint = "projects/1/locations/l/endpoints/new"

    class Refreshed(Found):
        def get_job(self, name: str) -> JobStatus:
            return JobStatus(name=name, state="SUCCEEDED", tuned_model=MODEL, endpoint=new_endpoint)

    monkeypatch.setattr(backends, "backend_for", lambda _kind: Refreshed([]))
    provider = tuning_job.TuningJobProvider()
    old = _props("projects/1/locations/l/endpoints/old")
    read = provider.read("jobs/1", old)
    assert read.outs["tuned_model_endpoint"] == new_endpoint
    assert "endpoint changed outside Pulumi" in capsys.readouterr().err
    news = {k: v for k, v in read.outs.items() if k in tuning_job.INPUT_KEYS}
    diff = provider.diff("jobs/1", read.outs, news)  # the same program after the refresh
    assert (diff.changes, diff.replaces) == (False, [])
