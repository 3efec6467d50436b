"""Waiting for a tuning job: jittered exponential backoff, a deadline, progress on stderr.

The dynamic-provider process is not connected to the engine's log, but the engine forwards each
line it writes to stderr as a diagnostic, so progress lines name the resource they belong to.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from gemini_tuning.backends import JobStatus, TuningBackend

MAX_POLL_SECONDS = 60.0
BACKOFF = 1.5
JITTER = 0.2


class JobStillRunningError(Exception):
    """The wait deadline passed; the job goes on (it is never cancelled for a deadline)."""

    def __init__(self, status: JobStatus, waited: float) -> None:
        self.status = status
        super().__init__(
            f"tuning job {status.name} is still {status.state} after waiting "
            f"{_duration(waited)}; it was NOT cancelled. Run `pulumi up` again to resume "
            "waiting, or raise timeout_minutes."
        )


def say(resource: str, message: str) -> None:
    print(f"[gemini-tuning] {resource}: {message}", file=sys.stderr, flush=True)


@dataclass
class Poller:
    """Intervals that grow from ``initial`` to ``maximum``, each with +/-20% jitter."""

    initial: float
    maximum: float = MAX_POLL_SECONDS

    def __post_init__(self) -> None:
        self._next = self.initial

    def next_interval(self) -> float:
        interval = self._next * random.uniform(1 - JITTER, 1 + JITTER)
        self._next = min(self.maximum, self._next * BACKOFF)
        return interval


def wait_for_job(
    backend: TuningBackend,
    name: str,
    *,
    resource: str,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> JobStatus:
    """Poll until the job leaves the active states; raise JobStillRunningError at the deadline."""
    started = clock()
    poller = Poller(initial=poll_seconds, maximum=max(poll_seconds, MAX_POLL_SECONDS))
    last_line = ""
    while True:
        status = backend.get_job(name)
        elapsed = clock() - started
        line = progress_line(status)
        if line != last_line:
            say(resource, f"{line}, elapsed {_duration(elapsed)}")
            last_line = line
        if not status.active:
            return status
        if elapsed >= timeout_seconds:
            raise JobStillRunningError(status, elapsed)
        sleep(min(poller.next_interval(), max(0.0, timeout_seconds - elapsed) + 0.01))


def progress_line(status: JobStatus) -> str:
    parts = [status.state]
    if status.epoch_count:
        parts.append(f"epoch {status.epochs_done}/{status.epoch_count}")
    elif status.epochs_done:
        parts.append(f"epoch {status.epochs_done}")
    if status.percent is not None:
        parts.append(f"{status.percent:.0f}%")
    return " ".join(parts) + f" ({status.name})"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
