"""Waiting: backoff grows with jitter, progress names the resource, the deadline never cancels."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gemini_tuning.backends import JobStatus
from gemini_tuning.resources._wait import JobStillRunningError, Poller, wait_for_job


@dataclass
class ScriptedBackend:
    """Returns the scripted states in order; records cancels (there must be none)."""

    states: list[JobStatus]
    cancelled: list[str] = field(default_factory=list)

    def get_job(self, name: str) -> JobStatus:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def cancel_job(self, name: str) -> None:
        self.cancelled.append(name)


def _job(state: str, epochs: int = 0) -> JobStatus:
    return JobStatus(name="jobs/1", state=state, epoch_count=3, epochs_done=epochs)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_poller_grows_to_its_maximum_with_jitter() -> None:
    poller = Poller(initial=10, maximum=60)
    intervals = [poller.next_interval() for _ in range(12)]
    assert 8 <= intervals[0] <= 12
    assert all(i <= 72 for i in intervals)
    assert intervals[-1] >= 48


def test_wait_reports_progress_until_success(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    backend = ScriptedBackend(
        [_job("PENDING"), _job("RUNNING", 1), _job("RUNNING", 2), _job("SUCCEEDED", 3)]
    )
    status = wait_for_job(
        backend,
        "jobs/1",
        resource="qa",
        timeout_seconds=3600,
        poll_seconds=1,
        clock=clock,
        sleep=clock.sleep,
    )
    assert status.state == "SUCCEEDED"
    err = capsys.readouterr().err
    assert "[gemini-tuning] qa: RUNNING epoch 2/3 (jobs/1)" in err
    assert err.count("\n") == 4  # one line per change, not per poll


def test_deadline_raises_without_cancelling() -> None:
    clock = FakeClock()
    backend = ScriptedBackend([_job("RUNNING", 1)])
    with pytest.raises(JobStillRunningError, match=r"NOT cancelled\. Run `pulumi up` again"):
        wait_for_job(
            backend,
            "jobs/1",
            resource="qa",
            timeout_seconds=30,
            poll_seconds=5,
            clock=clock,
            sleep=clock.sleep,
        )
    assert backend.cancelled == []
    assert clock.now <= 31
