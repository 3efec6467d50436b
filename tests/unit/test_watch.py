"""The shared watcher: one list per tick serves every wait of the process; a job the list
misses is read alone; a filter that keeps missing is dropped; errors reach only their wait."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass, field

import pytest

from gemini_tuning.backends import BackendError, JobStatus, NotFoundError
from gemini_tuning.resources._watch import Watcher

CREATED = "2026-01-01T00:00:00Z"


@dataclass
class ListingBackend:
    """Jobs by name; ``hidden`` are left out of the list's answer (list lag, a misread
    filter); ``list_fails`` makes the list raise. Records every read."""

    jobs: dict[str, JobStatus]
    hidden: set[str] = field(default_factory=set)
    list_fails: bool = False
    lists: list[str | None] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)

    def read_key(self) -> str:
        return "fake"

    def read_jobs(
        self, names: Collection[str], created_since: str | None
    ) -> tuple[dict[str, JobStatus], int]:
        self.lists.append(created_since)
        if self.list_fails:
            raise BackendError("503 unavailable")
        found = {n: self.jobs[n] for n in names if n in self.jobs and n not in self.hidden}
        return found, 1

    def finish_status(self, status: JobStatus) -> JobStatus:
        return status

    def get_job(self, name: str) -> JobStatus:
        self.gets.append(name)
        if name not in self.jobs:
            raise NotFoundError(f"{name} not found")
        return self.jobs[name]

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        return None


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wait(self, _cond: threading.Condition, seconds: float) -> None:
        self.now += seconds


def _jobs(count: int, state: str = "RUNNING") -> dict[str, JobStatus]:
    return {
        f"jobs/{n}": JobStatus(name=f"jobs/{n}", state=state, create_time=CREATED)
        for n in range(count)
    }


def _watcher(backend: ListingBackend) -> tuple[Watcher, FakeTime]:
    time = FakeTime()
    return Watcher(backend, time, time.wait), time  # type: ignore[arg-type]


def test_one_list_serves_every_wait_whose_time_has_nearly_come() -> None:
    backend = ListingBackend(_jobs(50))
    watcher, time = _watcher(backend)
    keys = [watcher.register(name, CREATED) for name in backend.jobs]
    status, seen_at = watcher.status(keys[0], due=10.0)
    assert (status.name, seen_at, time.now) == ("jobs/0", 10.0, 10.0)
    for n, key in enumerate(keys[1:], 1):
        # each wants its next status a little later (jitter); half its interval early is fine
        status, seen_at = watcher.status(key, due=10.0 + n * 0.1, early=5.0)
        assert (status.name, seen_at) == (f"jobs/{n}", 10.0)
    assert watcher.reads_per_tick == [1]
    assert backend.lists == [CREATED]
    assert backend.gets == []


def test_a_wait_not_yet_due_makes_its_own_tick_later() -> None:
    backend = ListingBackend(_jobs(2))
    watcher, time = _watcher(backend)
    first, second = (watcher.register(name, CREATED) for name in backend.jobs)
    watcher.status(first, due=10.0)
    _, seen_at = watcher.status(second, due=30.0, early=5.0)  # 10 < 30 - 5: too early for it
    assert (seen_at, time.now) == (30.0, 30.0)
    assert watcher.reads_per_tick == [1, 1]


def test_a_job_the_list_misses_is_read_alone_in_the_same_tick() -> None:
    backend = ListingBackend(_jobs(3), hidden={"jobs/2"})
    watcher, _ = _watcher(backend)
    keys = [watcher.register(name, CREATED) for name in backend.jobs]
    watcher.status(keys[0], due=1.0)
    status, _ = watcher.status(keys[2], due=1.0)
    assert status.name == "jobs/2"
    assert backend.gets == ["jobs/2"]
    assert watcher.reads_per_tick == [2]  # the list and one get


def test_a_job_whose_creation_time_is_unknown_is_read_alone_until_it_is_known() -> None:
    backend = ListingBackend(_jobs(1))
    watcher, _ = _watcher(backend)
    key = watcher.register("jobs/0")
    watcher.status(key, due=1.0)
    watcher.status(key, due=2.0)
    assert backend.gets == ["jobs/0"]  # the first read learnt the creation time
    assert backend.lists == [CREATED]


def test_a_filter_that_keeps_missing_a_job_is_dropped_for_the_unfiltered_list() -> None:
    backend = ListingBackend(_jobs(1), hidden={"jobs/0"})
    watcher, _ = _watcher(backend)
    key = watcher.register("jobs/0", CREATED)
    for due in (1.0, 2.0, 3.0):
        watcher.status(key, due=due)
    assert backend.lists == [CREATED, CREATED, None]


def test_a_failed_list_falls_back_to_one_get_per_job() -> None:
    backend = ListingBackend(_jobs(2), list_fails=True)
    watcher, _ = _watcher(backend)
    keys = [watcher.register(name, CREATED) for name in backend.jobs]
    for key in keys:
        watcher.status(key, due=1.0)
    assert sorted(backend.gets) == ["jobs/0", "jobs/1"]
    assert watcher.reads_per_tick == [3]


def test_an_error_reaches_only_the_wait_of_its_job() -> None:
    backend = ListingBackend(_jobs(1))
    watcher, _ = _watcher(backend)
    gone = watcher.register("jobs/gone")
    live = watcher.register("jobs/0", CREATED)
    with pytest.raises(NotFoundError):
        watcher.status(gone, due=1.0)
    status, _ = watcher.status(live, due=1.0)
    assert status.name == "jobs/0"
    assert watcher.reads_per_tick == [2]


def test_waits_on_many_threads_share_one_read() -> None:
    """Twenty threads that all want a status now: the first makes the tick, the others are
    served by it (or wait for it to end); one list in all."""
    backend = ListingBackend(_jobs(20))
    watcher = Watcher(backend, lambda: 100.0, lambda cond, seconds: cond.wait(0.01))  # type: ignore[arg-type]
    keys = [watcher.register(name, CREATED) for name in backend.jobs]
    seen: list[str] = []
    threads = [
        threading.Thread(target=lambda k=key: seen.append(watcher.status(k, due=50.0)[0].name))
        for key in keys
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(seen) == sorted(backend.jobs)
    assert watcher.reads_per_tick == [1]
