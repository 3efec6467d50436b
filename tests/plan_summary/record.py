"""Re-record the `pulumi preview --json` fixtures of the plan-summary tests (issue 14, item 3).

    .venv/bin/python -m tests.plan_summary.record

Runs the real engine (the CLI setup built) against a fresh emulator on a copy of the project and
saves what `pulumi preview --json` printed (stdout) and its exit code, for: a first tune, a
re-tune (epoch change), a promotion, a rollback, a promotion whose gate is missed, and a first
tune of both example models (the over-budget case: the tests give it a ceiling below its
total). Temporary paths and the emulator's port are replaced by placeholders, so a re-recording
diffs only where the engine's output changed (and in the model and endpoint IDs). Needs no
network; takes about two minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from gemini_tuning.testing import run_emulator
from tests.support.engine import REPO, copy_project, emulator_stack_config, engine_env

HERE = Path(__file__).resolve().parent / "previews"
MODEL = "number-successor"
BUCKET = "gt-plan-data"
SOURCE = "organization/gemini-tuning/dev"


def main() -> int:
    pulumi_bin = Path((REPO / ".state" / "pulumi-bin").read_text().strip())
    HERE.mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="gt-plan-") as tmp,
        run_emulator(Path(tmp) / "emulator", seconds_per_epoch=0.05) as emu,
    ):
        emu.storage_client().create_bucket(BUCKET)
        root = Path(tmp)
        project = copy_project(root / "project")
        env = {**os.environ, **engine_env(root, pulumi_bin)}
        definition = project / "stacks" / "models" / f"{MODEL}.yaml"
        v1 = definition.read_text()
        base = emulator_stack_config(emu, BUCKET)

        def pulumi(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [str(pulumi_bin / "pulumi"), *args, "--non-interactive"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if check and done.returncode != 0:
                raise SystemExit(f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
            return done

        def stack(name: str, config: dict[str, Any]) -> None:
            pulumi("stack", "select", "--create", name)
            for key, value in {**base, **config}.items():
                text = value if isinstance(value, str) else json.dumps(value)
                full_key = key if key.startswith("gemini-tuning:") else f"gemini-tuning:{key}"
                pulumi("config", "set", "--stack", name, full_key, text)

        def record(case: str, name: str) -> None:
            done = pulumi("preview", "--json", "--stack", name, check=False)
            text = done.stdout.replace(str(root), "<tmp>").replace(emu.url, "<emulator>")
            text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
            (HERE / f"{case}.json").write_text(text)
            (HERE / f"{case}.exit").write_text(f"{done.returncode}\n")
            print(f"recorded {case} (exit {done.returncode})", file=sys.stderr)

        def up(name: str) -> None:
            pulumi("up", "--yes", "--skip-preview", "--stack", name)

        stack("big", {"models": ["squad-qa", MODEL], "aliases": ["big"]})
        record("over-budget", "big")
        dev = {"models": [MODEL], "aliases": ["dev"]}
        staging = {"promoteFrom": SOURCE, "aliases": ["staging"]}
        stack("dev", dev)
        record("tune", "dev")
        up("dev")
        stack("staging", {**staging, "models": {MODEL: 1}})
        record("promote", "staging")
        up("staging")
        definition.write_text(
            v1.replace("version: 1", "version: 2").replace("epoch_count: 5", "epoch_count: 6")
        )
        stack("dev", dev)
        record("retune", "dev")
        up("dev")
        stack("staging", {**staging, "models": {MODEL: 2}})
        up("staging")
        stack("staging", {**staging, "models": {MODEL: 1}})
        record("rollback", "staging")
        # The checkout raises the gate above what v1 scored: promoting v1 now fails preview.
        definition.write_text(
            v1.replace("exact_match: 0.9", "exact_match: 0.99").replace(
                "token_f1: 0.9", "token_f1: 0.99"
            )
        )
        record("gate-miss", "staging")
        definition.write_text(v1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
