"""Where the acceptance suite runs: Vertex AI (live), the local emulator, or nowhere (skipped).

Live: ``GEMINI_TUNING_LIVE_PROJECT``, ``GEMINI_TUNING_LIVE_LOCATION`` and
``GEMINI_TUNING_LIVE_BUCKET`` set (Application Default Credentials), and
``GEMINI_TUNING_LIVE_MAX_USD`` the most the run may cost. Emulator:
``GEMINI_TUNING_ACCEPTANCE_TARGET=emulator`` (CI sets it). Neither: skipped, with one line.

``python -m tests.acceptance._target`` prints that line when the suite would skip, nothing
otherwise (`make acceptance` uses it so that a skip is one line, not a pytest session).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

LIVE_VARS = (
    "GEMINI_TUNING_LIVE_PROJECT",
    "GEMINI_TUNING_LIVE_LOCATION",
    "GEMINI_TUNING_LIVE_BUCKET",
)
MAX_USD_VAR = "GEMINI_TUNING_LIVE_MAX_USD"
TARGET_VAR = "GEMINI_TUNING_ACCEPTANCE_TARGET"
SKIP_LINE = (
    "acceptance tests skipped: set GEMINI_TUNING_LIVE_PROJECT, GEMINI_TUNING_LIVE_LOCATION, "
    "GEMINI_TUNING_LIVE_BUCKET and GEMINI_TUNING_LIVE_MAX_USD to run them on Vertex AI, or "
    "GEMINI_TUNING_ACCEPTANCE_TARGET=emulator for the local emulator"
)


class TargetError(ValueError):
    """The variables name a target half-way: fail, do not skip."""


@dataclass(frozen=True)
class Target:
    kind: str  # "live" or "emulator"
    project: str | None = None
    location: str | None = None
    bucket: str | None = None
    max_usd: float | None = None

    @property
    def live(self) -> bool:
        return self.kind == "live"


def target(env: dict[str, str] | None = None) -> Target | None:
    """The target the environment names; None to skip. Raises TargetError when half set."""
    env = dict(os.environ if env is None else env)
    present = [name for name in LIVE_VARS if env.get(name)]
    if present:
        missing = [name for name in (*LIVE_VARS, MAX_USD_VAR) if not env.get(name)]
        if missing:
            raise TargetError(f"live acceptance run: {', '.join(missing)} not set")
        try:
            max_usd = float(env[MAX_USD_VAR])
        except ValueError:
            raise TargetError(f"{MAX_USD_VAR}={env[MAX_USD_VAR]!r} is not a number") from None
        project, location, bucket = (env[name] for name in LIVE_VARS)
        return Target("live", project, location, bucket.removeprefix("gs://"), max_usd)
    chosen = env.get(TARGET_VAR, "")
    if chosen == "emulator":
        max_usd = env.get(MAX_USD_VAR)
        return Target("emulator", max_usd=float(max_usd) if max_usd else None)
    if chosen:
        raise TargetError(f"{TARGET_VAR}={chosen!r}: the only value is 'emulator'")
    return None


if __name__ == "__main__":
    try:
        found = target()
    except TargetError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if found is None:
        print(SKIP_LINE)
