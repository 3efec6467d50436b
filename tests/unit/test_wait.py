"""Waiting: backoff grows with jitter, progress names the resource, the deadline never cancels."""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Any

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

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        return None


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


def _wait(
    backend: Any, clock: FakeClock, *, poll_seconds: float, timeout_seconds: float = 3600
) -> JobStatus:
    """wait_for_job on ``clock`` for jobs/1 of the resource "qa"."""
    return wait_for_job(
        backend,
        "jobs/1",
        resource="qa",
        timeout_seconds=timeout_seconds,
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=clock.sleep,
    )


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
    status = _wait(backend, clock, poll_seconds=1)
    assert status.state == "SUCCEEDED"
    err = capsys.readouterr().err
    assert "[gemini-tuning] qa: RUNNING epoch 2/3 (jobs/1)" in err
    assert err.count("\n") == 4  # one line per change, not per poll


def test_deadline_raises_without_cancelling() -> None:
    clock = FakeClock()
    backend = ScriptedBackend([_job("RUNNING", 1)])
    with pytest.raises(JobStillRunningError, match=r"NOT cancelled\. Run `pulumi up` again"):
        _wait(backend, clock, poll_seconds=5, timeout_seconds=30)
    assert backend.cancelled == []
    assert clock.now <= 31


def test_a_silent_service_still_gets_a_line_every_few_minutes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    running = JobStatus(name="jobs/1", state="RUNNING", epoch_count=3)
    backend = ScriptedBackend([_job("PENDING"), *[running] * 400, _job("SUCCEEDED", 3)])
    _wait(backend, clock, poll_seconds=15, timeout_seconds=10 * 3600)
    lines = capsys.readouterr().err.splitlines()
    running_lines = [line for line in lines if "RUNNING" in line]
    assert len(running_lines) > 10
    assert all("no estimate" in line for line in running_lines)
    times = [_seconds(line) for line in lines]
    assert max(b - a for a, b in itertools.pairwise(times)) <= 5 * 60


def test_an_estimate_is_extrapolated_only_from_reported_progress(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    backend = ScriptedBackend(
        [_job("RUNNING", 1), _job("RUNNING", 2), _job("RUNNING", 2), _job("SUCCEEDED", 3)]
    )
    _wait(backend, clock, poll_seconds=600)
    err = capsys.readouterr().err
    assert "RUNNING epoch 1/3 (jobs/1), elapsed" in err
    assert "left (extrapolated)" in err


def _seconds(line: str) -> int:
    found = re.search(r"elapsed (?:(\d+)h)?(\d+)m(\d+)s", line)
    assert found, line
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass
class TimedBackend:
    """A job that runs from t=0 to t=``length`` on ``clock``, reporting a whole percentage done
    (as the Gemini API does)."""

    clock: FakeClock
    length: float
    polls: list[tuple[float, str]] = field(default_factory=list)

    def get_job(self, name: str) -> JobStatus:
        share = min(1.0, self.clock.now / self.length)
        state = "SUCCEEDED" if share >= 1 else "RUNNING"
        self.polls.append((self.clock.now, state))
        return JobStatus(name=name, state=state, percent=float(int(share * 100)))

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        return None


@pytest.mark.parametrize("seed", range(10))  # the jitter moves the polls
def test_the_poll_after_the_expected_end_sees_the_job_done_without_a_full_interval(
    seed: int,
) -> None:
    random.seed(seed)
    clock = FakeClock()
    clock.now = 1.0
    backend = TimedBackend(clock, length=300.0)
    _wait(backend, clock, poll_seconds=60)
    seen_done = backend.polls[-1][0]
    assert backend.polls[-1][1] == "SUCCEEDED"
    # The job ends at 300 s; intervals of 48-72 s alone would see it done up to 72 s later.
    assert 300 <= seen_done <= 300 + 0.05 * 300, backend.polls
    assert len(backend.polls) <= 8


@dataclass
class EndsAt:
    """A job that reports nothing but RUNNING until ``end`` on ``clock`` (as Vertex does)."""

    clock: FakeClock
    end: float
    polls: list[float] = field(default_factory=list)

    def get_job(self, name: str) -> JobStatus:
        self.polls.append(self.clock.now)
        state = "SUCCEEDED" if self.clock.now >= self.end else "RUNNING"
        return JobStatus(name=name, state=state)

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        return None


@pytest.mark.parametrize("end", [7.0, 30.0, 100.0, 250.0])
def test_without_progress_a_job_is_seen_done_within_a_fifth_of_its_wait(end: float) -> None:
    random.seed(int(end))
    clock = FakeClock()
    backend = EndsAt(clock, end)
    _wait(backend, clock, poll_seconds=0.5)
    # x1.5 backoff alone reaches intervals of half the time waited (about 50 s at 100 s).
    assert backend.polls[-1] <= end * (1 + 0.2 * 1.2) + 0.6, backend.polls
    assert len(backend.polls) <= 40


@dataclass
class EpochBackend:
    """A job of ``epochs`` epochs of ``epoch_seconds`` each from t=0 on ``clock``, reporting the
    whole epochs done (as the emulator does)."""

    clock: FakeClock
    epochs: int
    epoch_seconds: float
    polls: list[tuple[float, str]] = field(default_factory=list)

    def get_job(self, name: str) -> JobStatus:
        done = min(self.epochs, int(self.clock.now / self.epoch_seconds))
        state = "SUCCEEDED" if done >= self.epochs else "RUNNING"
        self.polls.append((self.clock.now, state))
        return JobStatus(name=name, state=state, epoch_count=self.epochs, epochs_done=done)

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        return None


@pytest.mark.parametrize("seed", range(10))
def test_whole_epochs_are_counted_halfway_so_the_end_is_not_polled_half_an_epoch_late(
    seed: int,
) -> None:
    random.seed(seed)
    clock = FakeClock()
    clock.now = 0.05
    backend = EpochBackend(clock, epochs=3, epoch_seconds=20.0)
    _wait(backend, clock, poll_seconds=10)
    seen_done = backend.polls[-1][0]
    # The job ends at 60 s. Counting epoch 2/3 as two thirds done put the expected end up to
    # half an epoch (10 s) late; counted halfway, the first poll past the end is at most the
    # late interval (5% of the wait) after it.
    assert 60 <= seen_done <= 60 + 0.05 * 60 * 1.2 + 0.5, backend.polls
