"""Where the emulator lives and listens: its state directory and info file, and the loopback
host. Shared by the command (_cli, which must start fast) and the server (_server, which pulls in
starlette, uvicorn and the GCS emulator), so neither imports the other for them.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "GEMINI_TUNING_EMULATOR_HOME"
INFO_FILE = "emulator.json"
LOOPBACK = "127.0.0.1"
DEFAULT_STATE_DIR = Path(".state/emulator")


def default_state_dir() -> Path:
    return Path(os.environ.get(ENV_HOME) or DEFAULT_STATE_DIR)


def check_host(host: str) -> str:
    if host not in (LOOPBACK, "localhost"):
        raise ValueError(
            f"the emulator only listens on {LOOPBACK} (it has no authentication); got {host!r}"
        )
    return LOOPBACK
