"""Timestamps of what one `up` spends its time on, for bench/up_overhead.py; off by default.

With ``GEMINI_TUNING_TIMING_LOG=<file>`` in the environment of the provider process (it inherits
the CLI's), each ``mark`` appends one JSON line ``{"t": <wall clock>, "pid": ..., "event": ...,
...}`` to that file: when the provider process started (from /proc), when our module was
imported, when each check and create began and ended, the upload, the submission and every poll
(with the state it saw). Without the variable ``mark`` does nothing, so users' output and state
never see it. Only names of events, resources and job states are written: no data, no config.
Lines are short single ``write`` calls on a file opened for appending, so threads and processes
do not interleave within a line.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

TIMING_LOG = "GEMINI_TUNING_TIMING_LOG"


def enabled() -> bool:
    return bool(os.environ.get(TIMING_LOG))


def mark(event: str, *, at: float | None = None, **fields: Any) -> None:
    """Append one timestamped event to the timing log (no-op when it is not set)."""
    path = os.environ.get(TIMING_LOG)
    if not path:
        return
    line = json.dumps({"t": time.time() if at is None else at, "pid": os.getpid(), "event": event})
    if fields:
        line = line[:-1] + ", " + json.dumps(fields, default=str)[1:]
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def process_started() -> float | None:
    """This process's start as a wall-clock time (Linux /proc; 10 ms resolution), or None."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        uptime = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.time() - (uptime - since_boot)


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of a timing log, oldest first."""
    try:
        with open(path, encoding="utf-8") as log:
            events = [json.loads(line) for line in log if line.strip()]
    except FileNotFoundError:
        return []
    return sorted(events, key=lambda e: float(e["t"]))
