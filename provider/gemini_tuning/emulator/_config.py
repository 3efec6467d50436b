"""Emulator settings. Everything that tests change at runtime goes through `update()`
(`POST /emulator/config`)."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_SECONDS_PER_EPOCH = 2.0
DEFAULT_PROJECT = "emulator-project"
DEFAULT_BUCKET = "gemini-tuning-dev"  # the dev stack's datasetBucket; created at start
DEFAULT_LOCATION = "us-central1"


def project_number(project: str) -> str:
    """The project number the emulator uses for ``project`` (vertex-api.md section 0).

    A project that is already a number is kept. A project ID maps to a stable 12-digit number
    derived from its SHA-256 (so the same ID gives the same number on every machine and after a
    restart): ``1 + int(sha256(id)) % 10**11``, prefixed with '1' to keep 12 digits.
    """
    if re.fullmatch(r"\d+", project):
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return f"1{digest % 10**11:011d}"


@dataclass
class EmulatorConfig:
    seconds_per_epoch: float = DEFAULT_SECONDS_PER_EPOCH
    # How long a job stays PENDING; None -> half an epoch, at most 5 s.
    pending_seconds: float | None = None
    # How long CANCELLING lasts; None -> a quarter of an epoch, at most 2 s.
    cancelling_seconds: float | None = None
    # Fault injection (Google API paths only; never /emulator/*).
    rate_429: float = 0.0
    rate_503: float = 0.0
    latency_ms: float = 0.0
    fail_next: list[int] = field(default_factory=list)  # HTTP codes for the next N requests
    fault_methods: list[str] = field(default_factory=list)  # substrings; empty = every method
    seed: int | None = None
    # True: Gemini API tunedModels.create answers 404 as the real service has since May 2025.
    gemini_api_tuning_retired: bool = False
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

    @staticmethod
    def _coerce(key: str, value: Any) -> Any:
        if key in ("seconds_per_epoch", "rate_429", "rate_503", "latency_ms"):
            number = float(value)
            if key in ("rate_429", "rate_503") and not 0.0 <= number <= 1.0:
                raise ValueError(f"{key} must be within [0, 1]")
            if key == "seconds_per_epoch" and number <= 0:
                raise ValueError("seconds_per_epoch must be > 0")
            return number
        if key == "fail_next":
            return [int(v) for v in value]
        if key == "fault_methods":
            return [str(v) for v in value]
        return value

    def take_next_failure(self) -> int | None:
        with self._lock:
            return self.fail_next.pop(0) if self.fail_next else None
