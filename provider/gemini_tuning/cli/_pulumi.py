"""Reading what the Pulumi CLI knows (stacks, config, outputs) as JSON, for the commands that
run outside the engine (`report`, `preflight`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def pulumi_json(cwd: Path, *args: str) -> Any | None:
    """``pulumi ARGS --json --non-interactive`` in ``cwd``, parsed; None when it fails or its
    answer is not JSON (no such stack, no backend, no project there)."""
    done = subprocess.run(
        ["pulumi", *args, "--json", "--non-interactive"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    try:
        return json.loads(done.stdout or "null")
    except ValueError:
        return None
