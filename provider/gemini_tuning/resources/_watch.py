"""One read of the service per tick for every job this process waits on.

Vertex counts every read against a per-minute quota per project and region ("Resource
management (CRUD) requests: 600 per minute", https://cloud.google.com/vertex-ai/docs/quotas):
50 jobs polled one GetTuningJob each would spend it 50 times as fast as one. So the waits of a
process share a ``Watcher`` per service and location (``backend.read_key()``):

- each wait says when it wants its next status (``due``, from its own backoff and expected end,
  see _wait.py) and how much earlier a read may serve it (``early``, half its interval: an early
  status costs nothing but an earlier next poll);
- the wait that reaches its due time first, with no read under way, makes the tick: one
  ``backend.read_jobs`` (one ListTuningJobs of the jobs created since the oldest one waited on,
  paged only past a page of them) for every job registered, and an individual get for each job
  the list did not answer (list lag, a misread filter), or for a job whose creation time is not
  known yet;
- every wait whose ``due - early`` the tick's start reached takes its status from it and is
  woken; the others keep waiting (a later tick serves them).

So the tick interval follows the soonest due of all waits, and each tick costs one read plus
the gets of jobs the list missed. ``reads_per_tick`` (and the timing log's ``watch_tick`` events,
for bench/parallel_up.py) count the read calls of each tick. Per-call retries of transient
errors stay in the backend. A backend without ``read_jobs`` (the Gemini API: its operations are
read one by one) is read one get per job per tick, as before.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gemini_tuning import _timing
from gemini_tuning.backends import BackendError, JobStatus, TuningBackend

Wait = Callable[[threading.Condition, float], object]
EARLY_SHARE = 0.5


@runtime_checkable
class BatchReads(Protocol):
    def read_key(self) -> Hashable: ...

    def read_jobs(
        self, names: Collection[str], created_since: str | None
    ) -> tuple[dict[str, JobStatus], int]: ...

    def finish_status(self, status: JobStatus) -> JobStatus: ...


@dataclass
class _Waiter:
    name: str
    create_time: str | None = None
    due: float = float("-inf")
    early: float = 0.0
    status: JobStatus | None = None
    listed: bool = False  # ``status`` came from the list: the backend's finish_status is due
    error: BaseException | None = None
    seen_at: float = float("-inf")  # the start of the tick that read ``status``
    misses: int = 0  # ticks in a row the filtered list missed this job that a get then found

    def served_by(self, tick: float) -> bool:
        return tick >= self.due - self.early


@dataclass
class Watcher:
    """The shared reads of the jobs one process waits on (see the module docstring)."""

    backend: TuningBackend
    clock: Callable[[], float]
    wait: Wait
    reads_per_tick: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._waiters: dict[int, _Waiter] = {}
        self._ids = itertools.count()
        self._ticking = False
        self._list_misses_filter = False
        self._last_reads = 0

    def register(self, name: str, create_time: str | None = None) -> int:
        with self._cond:
            key = next(self._ids)
            self._waiters[key] = _Waiter(name, create_time)
            return key

    def unregister(self, key: int) -> None:
        with self._cond:
            self._waiters.pop(key, None)

    def status(self, key: int, due: float, early: float = 0.0) -> tuple[JobStatus, float]:
        """The job's status from a tick that started at or after ``due - early``, and when that
        tick started; waits until ``due`` unless another wait's tick serves it sooner."""
        with self._cond:
            waiter = self._waiters[key]
            waiter.due, waiter.early = due, early
            while not waiter.served_by(waiter.seen_at):
                now = self.clock()
                if self._ticking:
                    self.wait(self._cond, 1.0)
                elif now < due:
                    self.wait(self._cond, due - now)
                else:
                    self._tick()
            if waiter.error is not None:
                error, waiter.error = waiter.error, None
                raise error
            status, listed, seen_at = waiter.status, waiter.listed, waiter.seen_at
        assert status is not None
        if listed and isinstance(self.backend, BatchReads):
            status = self.backend.finish_status(status)  # the loss of a finished job, ...
        return status, seen_at

    def _tick(self) -> None:
        """One read for every registered job (called with the lock held; released while the
        service answers)."""
        self._ticking = True
        started = self.clock()
        waiters = list(self._waiters.values())
        self._cond.release()
        try:
            listed, got, errors = self._read(waiters)
        finally:
            self._cond.acquire()
            self._ticking = False
        reads = self._last_reads
        for waiter in waiters:
            self._deliver(waiter, listed, got, errors, started)
        if any(w.misses >= 2 for w in waiters):
            self._list_misses_filter = True  # the filter misreads: list unfiltered from now on
        self.reads_per_tick.append(reads)
        _timing.mark("watch_tick", jobs=len({w.name for w in waiters}), reads=reads)
        self._cond.notify_all()

    @staticmethod
    def _deliver(
        waiter: _Waiter,
        listed: dict[str, JobStatus] | None,
        got: dict[str, JobStatus],
        errors: dict[str, BaseException],
        started: float,
    ) -> None:
        """Hand ``waiter`` what the tick read of its job (``listed`` None: the list failed)."""
        name = waiter.name
        if listed is not None and name in listed:
            waiter.status, waiter.listed, waiter.error, waiter.misses = listed[name], True, None, 0
        elif name in got:
            waiter.status, waiter.listed, waiter.error = got[name], False, None
            if listed is not None and waiter.create_time:
                waiter.misses += 1  # the list, filtered by creation time, should have had it
        elif name in errors:
            waiter.error = errors[name]
        else:
            return
        if waiter.status is not None:
            waiter.create_time = waiter.create_time or waiter.status.create_time
        waiter.seen_at = started

    def _read(
        self, waiters: list[_Waiter]
    ) -> tuple[dict[str, JobStatus] | None, dict[str, JobStatus], dict[str, BaseException]]:
        """The list's answer (None: it failed), the gets of the jobs it did not answer, and
        the gets' errors."""
        names = {w.name for w in waiters}
        listed: dict[str, JobStatus] | None = None
        reads = 0
        known = [w.create_time for w in waiters if w.create_time]
        if isinstance(self.backend, BatchReads) and known:
            since = None if self._list_misses_filter else min(known)
            reads = 1
            try:
                listed, reads = self.backend.read_jobs(names, since)
            except BackendError:
                listed = None  # the gets below read each job (and raise what is wrong)
        got: dict[str, JobStatus] = {}
        errors: dict[str, BaseException] = {}
        for name in sorted(names - set(listed or ())):
            reads += 1
            try:
                got[name] = self.backend.get_job(name)
            except Exception as err:  # noqa: BLE001 - raised in the waiting thread
                errors[name] = err
        self._last_reads = reads
        return listed, got, errors


_watchers: dict[Hashable, Watcher] = {}
_watchers_lock = threading.Lock()


def shared_watcher(backend: TuningBackend, clock: Callable[[], float], wait: Wait) -> Watcher:
    """The process's watcher for the service and location of ``backend``; a private one for a
    backend that cannot list its jobs in one read."""
    if not isinstance(backend, BatchReads):
        return Watcher(backend, clock, wait)
    key = backend.read_key()
    with _watchers_lock:
        watcher = _watchers.get(key)
        if watcher is None:
            watcher = _watchers[key] = Watcher(backend, clock, wait)
        return watcher
