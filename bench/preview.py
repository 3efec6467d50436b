"""Wall time of `pulumi preview` for a stack of 50 model definitions vs an empty stack.

Both previews run in the same run, on the same project copy and backend, with the real engine.
Every model is a TuningJob + TunedModel + Evaluation (150 resources): the provider process
validates and fingerprints each dataset in check. The API endpoint is a closed loopback port,
so a preview that tried to reach the service would fail: check and diff make no network call.
Figures are printed, never asserted.

    .venv/bin/python bench/preview.py [--models 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import pulumi_bin_dir  # noqa: E402
from tests.engine.support import copy_project  # noqa: E402

from gemini_tuning._state import local_backend_url  # noqa: E402


def _pulumi_bin() -> Path:
    found = pulumi_bin_dir()
    if found is None:
        sys.exit("no Pulumi CLI: run `make setup`")
    return found


def _project(root: Path, models: int) -> Path:
    project = copy_project(root / "project")
    template = (project / "stacks" / "models" / "number-successor.yaml").read_text()
    for index in range(models):
        name = f"bench-{index:02d}"
        (project / "stacks" / "models" / f"{name}.yaml").write_text(template)
    return project


def _env(root: Path, pulumi_bin: Path) -> dict[str, str]:
    (root / "backend").mkdir()
    return {
        **os.environ,
        "PULUMI_BACKEND_URL": local_backend_url(root / "backend"),
        "PULUMI_HOME": str(root / "home"),
        "PULUMI_CONFIG_PASSPHRASE": "bench",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PATH": os.pathsep.join(
            [str(pulumi_bin), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
    }


def _pulumi(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        ["pulumi", *args, "--non-interactive", "--color", "never"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"pulumi {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def _stack(name: str, models: list[str], cwd: Path, env: dict[str, str]) -> None:
    _pulumi(["stack", "init", name], cwd, env)
    config = {
        "gemini-tuning:apiEndpoint": "http://127.0.0.1:9",  # discard port: nothing answers
        "gemini-tuning:project": "bench-project",
        "gemini-tuning:datasetBucket": "bench-bucket",
        "gemini-tuning:models": json.dumps(models),
    }
    for key, value in config.items():
        _pulumi(["config", "set", "--stack", name, key, value], cwd, env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gt-bench-preview-") as tmp:
        root = Path(tmp)
        project = _project(root, args.models)
        env = _env(root, _pulumi_bin())
        names = [f"bench-{i:02d}" for i in range(args.models)]
        _stack("empty", [], project, env)
        _stack("fifty", names, project, env)
        timings: dict[str, list[float]] = {"empty": [], "fifty": []}
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits both
            for stack, runs in timings.items():
                runs.append(_pulumi(["preview", "--stack", stack], project, env))
    empty = statistics.median(timings["empty"])
    fifty = statistics.median(timings["fifty"])
    print(f"pulumi preview, median of {args.runs} runs (real engine, local file backend)")
    print(f"  empty stack (0 resources):                 {empty:6.2f} s  {_runs(timings['empty'])}")
    print(
        f"  {args.models} model definitions ({args.models * 3} resources): "
        f"{fifty:6.2f} s  {_runs(timings['fifty'])}"
    )
    print(
        f"  ratio: {fifty / empty:.2f}x; per model: {(fifty - empty) / args.models * 1000:.0f} ms"
    )
    return 0


def _runs(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    sys.exit(main())
