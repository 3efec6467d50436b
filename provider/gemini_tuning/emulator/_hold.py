"""A job held in PAUSED or UPDATING for a while (settings ``hold_seconds``, ``hold_state``).

job_state.proto: PAUSED "The job has been stopped, and can be resumed"; UPDATING "The job is
being updated. Only jobs in the RUNNING state can be updated. After updating, the job goes back
to the RUNNING state." So a held job runs first: the hold begins a quarter of an epoch after
its start, lasts ``hold_seconds``, and the job then runs again; its training (epochs, loss
steps, the end) is shifted by the hold. The hold is taken from the settings at create time and
stored with the job (``internal["hold"]``), so it survives a restart.
"""

from __future__ import annotations

from typing import Any

HOLD_STATES = ("PAUSED", "UPDATING")


def plan(state: str, seconds: float) -> dict[str, Any] | None:
    """What a create stores: None when jobs are not held."""
    if seconds <= 0:
        return None
    return {"state": f"JOB_STATE_{state}", "seconds": seconds}


def begin(internal: dict[str, Any]) -> None:
    """The job's start is known: its hold begins a quarter of an epoch later."""
    hold = internal.get("hold")
    if hold is not None:
        hold["at"] = float(internal["start"]) + float(internal["spe"]) / 4


def window(internal: dict[str, Any]) -> tuple[float, float] | None:
    hold = internal.get("hold")
    if not hold or "at" not in hold:
        return None
    return float(hold["at"]), float(hold["at"]) + float(hold["seconds"])


def held(internal: dict[str, Any], now: float) -> float:
    """Seconds of the hold that passed by ``now``."""
    span = window(internal)
    if span is None:
        return 0.0
    return min(max(0.0, now - span[0]), span[1] - span[0])


def trained(internal: dict[str, Any], now: float) -> float:
    """Seconds of training done by ``now`` (the hold does not count)."""
    return max(0.0, now - float(internal["start"]) - held(internal, now))


def holding(internal: dict[str, Any], now: float) -> str | None:
    """The hold state at ``now``, or None."""
    span = window(internal)
    if span is None or not span[0] <= now < span[1]:
        return None
    return str(internal["hold"]["state"])


def shift(internal: dict[str, Any]) -> float:
    """How much later than planned the job ends: the whole hold."""
    span = window(internal)
    return 0.0 if span is None else span[1] - span[0]
