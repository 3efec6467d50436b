"""Waiting for a tuning job: jittered exponential backoff, a deadline, progress on stderr.

The dynamic-provider process is not connected to the engine's log, but the engine forwards each
line it writes to stderr as a diagnostic, so progress lines name the resource they belong to.

A line is printed when what the service reports changes, and at least every HEARTBEAT_SECONDS
otherwise: Vertex reports no progress on the job while it is RUNNING (no epoch, no checkpoint,
no percentage), so on the real service the state alone would print once and then nothing for
hours. Each line has the state and the time waited. For a running job it adds what the service
publishes to count progress by: a completion percentage or epochs (the Gemini API, the
emulator's extras), else the steps of the job's published training loss
(``backend.training_progress``: the last ``/train_total_loss`` step of ``tuningStepCount``,
read only when a line is due); and an estimate of the time left at the pace seen between the
first such figure and the latest. Without figures it says there is no estimate.

Polling: the first poll is at once (it confirms the submission), then the intervals grow from
``poll_interval_seconds`` by x1.5 (with +/-20% jitter) up to MAX_POLL_SECONDS, and are never
longer than SHARE_OF_WAIT of the time waited so far (nor shorter than ``poll_interval_seconds``):
a job is seen done at most about a fifth of its wait late, however the backoff went. When the
service's figures give an estimate of the time left, the next poll is at the expected end if
that comes sooner (plus END_MARGIN of what is left), so a job is seen done soon after it ends
instead of up to a full interval later. Past the expected end (the estimate was early) the
intervals are at most LATE_SHARE of the time waited (at least LATE_MIN_SECONDS), so the
overshoot stays small relative to the wait.

The wait ends at the TuningJob's ``timeout_minutes`` (default 24 h) or, sooner, when this `up`'s
wait budget is spent: ``GEMINI_TUNING_WAIT_MINUTES`` (minutes since the provider process, i.e.
the `up`, started), which defaults to CI_WAIT_MINUTES on GitHub Actions (``GITHUB_ACTIONS=true``),
so that an `up` on a hosted runner (a 6 h job limit) ends before the runner is killed. Either way
the job is never cancelled: the create fails with "still running", the job goes on, and the next
`up` adopts it by its identity labels and resumes waiting. The budget is read from the
environment of the provider process, never stored in state, so it changes no diff.

The module's clock (``clock``, ``sleep`` and the watcher's waits) is a ``Clock``: real time here;
``set_clock`` lets a test process inject a faster one (``gemini_tuning.testing.provider_hooks``),
so that hours of simulated waiting fit in seconds. Nothing in the environment changes it.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gemini_tuning import _timing
from gemini_tuning.backends import JobStatus, TuningBackend
from gemini_tuning.resources import _watch

MAX_POLL_SECONDS = 60.0
HEARTBEAT_SECONDS = 180.0  # a line every 3 minutes at least (plus one poll interval: < 5 min)
BACKOFF = 1.5
JITTER = 0.2
SHARE_OF_WAIT = 0.2
END_MARGIN = 0.03  # poll this share of the estimated time left after the expected end
LATE_SHARE = 0.05
LATE_MIN_SECONDS = 0.5
WAIT_BUDGET = "GEMINI_TUNING_WAIT_MINUTES"
# A GitHub-hosted job is killed after 360 minutes: wait at most 330, leaving time for setup,
# evaluation, the report and the artifacts upload.
CI_WAIT_MINUTES = 330.0


# What a line adds for the states a job may pause in (job_state.proto's words): waited on, never
# taken as an end, never a reason to submit again.
HELD = {
    "PAUSED": "; the service paused the job (it can be resumed): waiting for it, nothing is "
    "submitted again",
    "UPDATING": "; the service is updating the job (it goes back to RUNNING): waiting for it",
    "UNSPECIFIED": "; the service reported no state: reading it again",
}


class JobStillRunningError(Exception):
    """The wait deadline passed; the job goes on (it is never cancelled for a deadline)."""

    def __init__(self, status: JobStatus, waited: float, limit: str = "") -> None:
        self.status = status
        super().__init__(
            f"tuning job {status.name} is still {status.state} after waiting "
            f"{duration(waited)}{limit}; it was NOT cancelled. Run `pulumi up` again to resume "
            "waiting (it adopts this job; nothing is tuned twice), or raise timeout_minutes."
        )


# Where progress lines go. The dynamic-provider process writes them to stderr (the engine
# forwards that as diagnostics); the provider plugin's stderr is only a debug log, so the plugin
# sends them to the engine's Log service instead (gemini_tuning.plugin._log).
_sink: Callable[[str], None] | None = None


def set_sink(sink: Callable[[str], None] | None) -> None:
    global _sink  # noqa: PLW0603 - one process, one place its progress goes
    _sink = sink


def say(resource: str, message: str) -> None:
    line = f"[gemini-tuning] {resource}: {message}"
    if _sink is not None:
        _sink(line)
        return
    # One write per line: print() writes the newline apart, and two provider threads' lines
    # could then run together ("... 6/15 answered[gemini-tuning] ...").
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Clock:
    """Monotonic seconds, ``scale`` times faster than real time (1: real time)."""

    scale: float = 1.0

    def now(self) -> float:
        return time.monotonic() * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        cond.wait(max(0.0, seconds) / self.scale)


_clock = Clock()


def set_clock(new: Clock) -> None:
    """Use ``new`` for every wait of this process from now on (a test's faster clock); the
    process's start is restated on it, so the `up`'s wait budget still counts from now."""
    global _clock, PROCESS_STARTED  # noqa: PLW0603 - one process, one clock
    _clock = new
    PROCESS_STARTED = new.now()


def wait_budget_minutes(environ: Mapping[str, str] | None = None) -> float | None:
    """This `up`'s wait budget in minutes (GEMINI_TUNING_WAIT_MINUTES; on GitHub Actions
    CI_WAIT_MINUTES by default; 0 or "none" for no budget); None: no budget."""
    env = os.environ if environ is None else environ
    raw = (env.get(WAIT_BUDGET) or "").strip().lower()
    if not raw:
        return CI_WAIT_MINUTES if env.get("GITHUB_ACTIONS") == "true" else None
    if raw in ("0", "none", "off"):
        return None
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{WAIT_BUDGET}={raw!r}: expected a number of minutes") from None
    return minutes if minutes > 0 else None


def wait_limit(timeout_minutes: float, *, now: float | None = None) -> tuple[float, str]:
    """Seconds this create may wait: the TuningJob's timeout, or what is left of the `up`'s
    wait budget if that is sooner; and a note naming the budget when it is what ends the wait."""
    budget = wait_budget_minutes()
    timeout = timeout_minutes * 60
    if budget is None:
        return timeout, ""
    left = max(0.0, budget * 60 - ((clock() if now is None else now) - PROCESS_STARTED))
    if left >= timeout:
        return timeout, ""
    return left, f" (this up's wait budget, {WAIT_BUDGET}={budget:g} minutes, is spent)"


def clock() -> float:
    """Seconds, monotonic, on this process's clock (see set_clock)."""
    return _clock.now()


def sleep(seconds: float) -> None:
    _clock.sleep(seconds)


_real_sleep = sleep


@dataclass
class Poller:
    """Intervals that grow from ``initial`` to ``maximum``, each with +/-20% jitter."""

    initial: float
    maximum: float = MAX_POLL_SECONDS

    def __post_init__(self) -> None:
        self.maximum = max(self.maximum, self.initial)
        self._next = self.initial

    def next_interval(self, waited: float | None = None) -> float:
        """The next interval; with ``waited`` (seconds so far), at most SHARE_OF_WAIT of it."""
        base = self._next
        if waited is not None:
            base = min(base, max(self.initial, SHARE_OF_WAIT * waited))
        self._next = min(self.maximum, self._next * BACKOFF)
        return base * random.uniform(1 - JITTER, 1 + JITTER)


@dataclass
class _Progress:
    """What was said last, and the first share done that was seen (for estimates)."""

    resource: str
    started: float
    last_line: str = ""
    last_said: float = float("-inf")
    first_seen: tuple[float, float] | None = None  # (clock, share done)
    expected_end: float | None = None  # clock time the pace seen so far ends the job

    def report(self, status: JobStatus, now: float, backend: TuningBackend) -> None:
        line = progress_line(status)
        if line == self.last_line and now - self.last_said < HEARTBEAT_SECONDS:
            return
        text = f"{line}, elapsed {duration(now - self.started)}"
        if status.state == "RUNNING":
            text += self._running(status, now, backend)
        text += HELD.get(status.state, "")
        say(self.resource, text)
        self.last_line, self.last_said = line, now

    def _running(self, status: JobStatus, now: float, backend: TuningBackend) -> str:
        share, steps = _share_done(status), ""
        if share is None:
            counted = backend.training_progress(status)
            if counted is None:
                return "; the service reports no progress while a job runs, so no estimate"
            done, total = counted
            share, steps = done / total, f", step {done}/{total}"
        if self.first_seen is None:
            self.first_seen = (now, share)
        return steps + self._estimate(share, now)

    def _estimate(self, share: float, now: float) -> str:
        """Time left at the pace seen so far (between the first share seen and this one)."""
        assert self.first_seen is not None
        since, first = self.first_seen
        if share <= first or now <= since:
            return ""
        left = (now - since) * (1 - share) / (share - first)
        self.expected_end = now + left * (1 + END_MARGIN)
        return f", about {duration(left)} left (extrapolated)"


def _share_done(status: JobStatus) -> float | None:
    """The share of the job done. Epochs are whole steps: a job that reports epoch 1/3 is
    between a third and two thirds done, so it counts as halfway (counting it as a third put every
    estimated end, and the poll that sees the job done, half an epoch late). A percentage is
    fine-grained enough as it is."""
    if status.percent is not None:
        return min(1.0, status.percent / 100)
    if status.epoch_count and status.epochs_done:
        if status.epochs_done >= status.epoch_count:
            return 1.0
        return (status.epochs_done + 0.5) / status.epoch_count
    return None


def wait_for_job(
    backend: TuningBackend,
    name: str,
    *,
    resource: str,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = clock,
    sleep: Callable[[float], None] = sleep,
    limit: str = "",
    create_time: str | None = None,
) -> JobStatus:
    """Poll until the job leaves the active states; raise JobStillRunningError at the deadline
    (``limit``: what set it, for the message, when not the TuningJob's timeout).

    The reads are the process's shared ticks (_watch.py: one list for every job waited on);
    ``create_time`` (the job's, when known) lets the first one come from the list too. With an
    injected ``sleep`` (tests) the wait has a watcher of its own on that clock."""
    if sleep is _real_sleep:
        watcher = _watch.shared_watcher(backend, clock, _wait_on)
    else:
        watcher = _watch.Watcher(backend, clock, lambda _cond, seconds: sleep(seconds))
    key = watcher.register(name, create_time)
    try:
        return _wait(
            watcher,
            key,
            backend,
            resource=resource,
            timeout_seconds=timeout_seconds,
            poll_seconds=poll_seconds,
            limit=limit,
        )
    finally:
        watcher.unregister(key)


def _wait(
    watcher: _watch.Watcher,
    key: int,
    backend: TuningBackend,
    *,
    resource: str,
    timeout_seconds: float,
    poll_seconds: float,
    limit: str,
) -> JobStatus:
    started = watcher.clock()
    poller = Poller(initial=poll_seconds)
    progress = _Progress(resource, started)
    due, early = started, 0.0  # the first poll at once (it confirms the submission)
    while True:
        status, seen_at = watcher.status(key, due, early)
        _timing.mark("poll", resource=resource, state=status.state)
        now = watcher.clock()
        progress.report(status, now, backend)
        elapsed = now - started
        if not status.active:
            return status
        if elapsed >= timeout_seconds:
            raise JobStillRunningError(status, elapsed, limit)
        interval = poller.next_interval(elapsed)
        interval = _until_expected_end(interval, progress.expected_end, now, elapsed)
        interval = min(interval, max(0.0, timeout_seconds - elapsed) + 0.01)
        # From the read's time, so the waits of one process stay on the same ticks; a tick up
        # to half an interval early serves this wait too (an earlier status costs nothing).
        due = max(seen_at + interval, now) if seen_at > float("-inf") else now + interval
        early = _watch.EARLY_SHARE * interval if progress.expected_end is None else 0.0


def _wait_on(cond: threading.Condition, seconds: float) -> None:
    """Wait on the watcher's condition for ``seconds`` of this module's clock."""
    _clock.wait(cond, seconds)


def _until_expected_end(interval: float, end: float | None, now: float, waited: float) -> float:
    """The backoff's interval, shortened to reach the expected end (or, past it, to a small
    share of the time waited)."""
    if end is None:
        return interval
    if end > now:
        return min(interval, end - now)
    return min(interval, max(LATE_MIN_SECONDS, LATE_SHARE * waited))


PROCESS_STARTED = clock()  # the provider process starts with the `up` it serves


def progress_line(status: JobStatus) -> str:
    parts = [status.state]
    if status.epoch_count and status.epochs_done:
        parts.append(f"epoch {status.epochs_done}/{status.epoch_count}")
    elif status.epochs_done:
        parts.append(f"epoch {status.epochs_done}")
    if status.percent is not None:
        parts.append(f"{status.percent:.0f}%")
    return " ".join(parts) + f" ({status.name})"


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
