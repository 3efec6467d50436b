"""Emulator settings. Everything that tests change at runtime goes through `update()`
(`POST /emulator/config`)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from gemini_tuning.emulator._faults import check_rules

DEFAULT_SECONDS_PER_EPOCH = 2.0
DEFAULT_PROJECT = "emulator-project"
DEFAULT_BUCKET = "gemini-tuning-dev"  # the dev stack's datasetBucket; created at start
DEFAULT_LOCATION = "us-central1"


def project_number(project: str) -> str:
    """The project number the emulator uses for ``project`` (wire-contract.md section 0).

    A project that is already a number is kept. A project ID maps to a stable 12-digit number
    derived from its SHA-256 (so the same ID gives the same number on every machine and after a
    restart): ``1 + int(sha256(id)) % 10**11``, prefixed with '1' to keep 12 digits.
    """
    if re.fullmatch(r"\d+", project):
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return f"1{digest % 10**11:011d}"


LIST_FILTER_MODES = ("honest", "ignore", "refuse", "labels_empty")
HOLD_STATES = ("PAUSED", "UPDATING")
_NUMBERS = (
    "seconds_per_epoch",
    "hold_seconds",
    "latency_ms",
    "hang_seconds",
    "lro_seconds",
)


def _number(key: str, value: Any) -> float:
    number = float(value)
    if key == "seconds_per_epoch" and number <= 0:
        raise ValueError("seconds_per_epoch must be > 0")
    if number < 0:
        raise ValueError(f"{key} must be >= 0")
    return number


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _list_filter(key: str, value: Any) -> str:
    if value not in LIST_FILTER_MODES:
        raise ValueError(f"{key} must be one of {', '.join(LIST_FILTER_MODES)}")
    return str(value)


def _hold_state(key: str, value: Any) -> str:
    if value not in HOLD_STATES:
        raise ValueError(f"{key} must be one of {', '.join(HOLD_STATES)}")
    return str(value)


def _rules(_key: str, value: Any) -> list[dict[str, Any]]:
    return check_rules(value)


def _count(key: str, value: Any) -> int | None:
    if value is None and key == "max_running_jobs":
        return None
    if isinstance(value, bool) or int(value) != value or int(value) < 0:
        raise ValueError(f"{key} must be a whole number >= 0")
    return int(value)


_COERCE: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(_NUMBERS, _number),
    **dict.fromkeys(("lro_polls", "max_running_jobs"), _count),
    **dict.fromkeys(
        (
            "lro_never_done",
            "progress_extras",
            "publish_metrics",
            "gemini_api_tuning_retired",
            "refuse_tuned_model_delete",
        ),
        _flag,
    ),
    "denied_permissions": lambda _k, v: [str(x) for x in v],
    "disabled_services": lambda _k, v: [str(x) for x in v],
    "faults": _rules,
    "tuning_job_list_filter": _list_filter,
    "hold_state": _hold_state,
}


@dataclass
class EmulatorConfig:
    seconds_per_epoch: float = DEFAULT_SECONDS_PER_EPOCH
    # How long a job stays PENDING; None -> half an epoch, at most 5 s.
    pending_seconds: float | None = None
    # How long CANCELLING lasts; None -> a quarter of an epoch, at most 2 s.
    cancelling_seconds: float | None = None
    # Fault injection (Google API paths only; never /emulator/*): the rules of _faults.py
    # (docs/guides/emulator.md), before or after the handler, by dice seeded with ``seed``.
    latency_ms: float = 0.0
    seed: int | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    hang_seconds: float = 30.0  # how long a "timeout" answer holds the response (then 504)
    # Long-running operations: done from the N-th poll on, and not before T seconds; with
    # either set beyond the default (or never_done) the effect lands only when it is done.
    lro_polls: int = 1
    lro_seconds: float = 0.0
    lro_never_done: bool = False
    # The concurrent-job quota: a create while this many jobs are not finished is 429.
    max_running_jobs: int | None = None
    # tuningJobs.list filters: "honest", "ignore" (answers as if unfiltered), "refuse" (400),
    # "labels_empty" (a filter on labels answers nothing, as an undocumented filter could).
    tuning_job_list_filter: str = "honest"
    # Jobs created while hold_seconds > 0 report hold_state (PAUSED or UPDATING) for that long,
    # a quarter of an epoch after they start running, then run on (_hold.py).
    hold_seconds: float = 0.0
    hold_state: str = "PAUSED"
    # The emulator's inventions, off by default (the real service offers neither): epoch
    # checkpoints while RUNNING, and the loss curve in the tuned Model's metadata.
    progress_extras: bool = False
    # Publish each job's training loss where Vertex does (its experiment; see _metrics.py).
    # False: jobs name no experiment, as for a caller who may not read it.
    publish_metrics: bool = True
    # True: Gemini API tunedModels.create answers 404 as the real service has since May 2025.
    gemini_api_tuning_retired: bool = False
    # True: DeleteModel and DeleteModelVersion of a tuned model (one a tuning job made) answer
    # 400 FAILED_PRECONDITION, as older tuning pages said tuned Gemini models cannot be deleted.
    refuse_tuned_model_delete: bool = False
    # What preflight reads (see _preflight.py): permissions projects.testIamPermissions does
    # not grant, and services Service Usage reports DISABLED (e.g. aiplatform.googleapis.com).
    denied_permissions: list[str] = field(default_factory=list)
    disabled_services: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def pending_for(self, spe: float) -> float:
        return self.pending_seconds if self.pending_seconds is not None else min(spe / 2, 5.0)

    def cancelling_for(self, spe: float) -> float:
        if self.cancelling_seconds is not None:
            return self.cancelling_seconds
        return min(spe / 4, 2.0)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def update(self, changes: dict[str, Any]) -> None:
        known = set(self.to_json())
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for key, raw in changes.items():
            with self._lock:
                setattr(self, key, self._coerce(key, raw))

    @property
    def slow_operations(self) -> bool:
        """True when operations take polls or time: their effect then waits for done."""
        return self.lro_polls > 1 or self.lro_seconds > 0 or self.lro_never_done

    @staticmethod
    def _coerce(key: str, value: Any) -> Any:
        coerce = _COERCE.get(key)
        return value if coerce is None else coerce(key, value)
