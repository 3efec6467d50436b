"""Wall time of `pulumi up` for 1 and for 20 tuning jobs of the same simulated length.

Runs the real engine (Automation API, inline program) against a fresh local emulator. Each job
trains 3 epochs at --seconds-per-epoch (default 2 s), so one job takes about 6 s of training.
Prints: 1 job; 20 jobs with the widened provider pool (the shipped design); 20 jobs with the
SDK's 4-worker pool (GEMINI_TUNING_PROVIDER_WORKERS=4) as the baseline; 20 jobs through the
provider plugin (gemini_tuning.plugin.sdk: the same controllers, no pool of its own); and the
ratios. For each run it also prints how the waits read the service: the ticks of the shared
watcher (resources/_watch.py: one ListTuningJobs per tick for every job waited on), the read
calls per tick (mean and most), and the ListTuningJobs and GetTuningJob calls the emulator
counted during the `up`.

usage: python bench/parallel_up.py [--jobs 20] [--seconds-per-epoch 2] [--no-sdk-pool]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.engine import (  # noqa: E402
    BUCKET,
    emulator_config,
    inline_stack,
    pulumi_bin_dir,
    write_examples,
)

from gemini_tuning import _timing  # noqa: E402
from gemini_tuning.testing import run_emulator  # noqa: E402

LIST = "GenAiTuningService.ListTuningJobs"
GET = "GenAiTuningService.GetTuningJob"


def program(data: Path, jobs: int, face: str = "gemini_tuning") -> Callable[[], None]:
    def run() -> None:
        import importlib

        tuning_job = importlib.import_module(face).TuningJob
        for i in range(jobs):
            tuning_job(
                f"job-{i:02d}",
                base_model="gemini-2.5-flash",
                training_dataset=str(data),
                epoch_count=3,
                poll_interval_seconds=0.5,
            )

    return run


def timed_up(
    root: Path,
    data: Path,
    jobs: int,
    spe: float,
    workers: int | None,
    *,
    face: str = "gemini_tuning",
) -> tuple[float, str]:
    """The `up`'s wall time, and a line on its reads."""
    pulumi_bin = pulumi_bin_dir()
    if pulumi_bin is None:
        sys.exit("no Pulumi CLI: run `make setup` first")
    log = root / "timing.jsonl"
    env: dict[str, str] = {_timing.TIMING_LOG: str(log)}
    if workers is not None:
        env["GEMINI_TUNING_PROVIDER_WORKERS"] = str(workers)
    with run_emulator(root / "emulator", seconds_per_epoch=spe) as emu:
        emu.storage_client().create_bucket(BUCKET)
        with inline_stack(
            root / "engine",
            pulumi_bin,
            program(data, jobs, face),
            env=env,
            config=emulator_config(emu),
        ) as stack:
            emu.reset_stats()
            started = time.perf_counter()
            result = stack.up(parallel=max(jobs, 1) * 2, color="never")
            elapsed = time.perf_counter() - started
            created = emu.calls("GenAiTuningService.CreateTuningJob")
            lists, gets = emu.calls(LIST), emu.calls(GET)
            if result.summary.result != "succeeded" or created != jobs:
                sys.exit(f"unexpected run: {result.summary.result}, {created} jobs created")
            stack.destroy(color="never")
    return elapsed, _reads(log, lists, gets)


def _reads(log: Path, lists: int, gets: int) -> str:
    ticks = [int(e["reads"]) for e in _timing.read_log(log) if e["event"] == "watch_tick"]
    if not ticks:
        return f"no ticks; {lists} lists, {gets} gets"
    mean = sum(ticks) / len(ticks)
    return (
        f"{len(ticks)} ticks, read calls per tick {mean:.2f} (most {max(ticks)}); "
        f"the emulator counted {lists} ListTuningJobs, {gets} GetTuningJob"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seconds-per-epoch", type=float, default=2.0)
    parser.add_argument(
        "--no-sdk-pool", action="store_true", help="skip the 4-worker baseline (slow at 50 jobs)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_examples(root / "train.jsonl")
        runs: dict[str, Any] = {}
        dynamic, plugin = "gemini_tuning", "gemini_tuning.plugin.sdk"
        cases: list[tuple[str, int, int | None, str]] = [
            ("1 job", 1, None, dynamic),
            (f"{args.jobs} jobs", args.jobs, None, dynamic),
            (f"{args.jobs} jobs, provider plugin", args.jobs, None, plugin),
        ]
        if not args.no_sdk_pool:
            cases.append((f"{args.jobs} jobs, SDK pool (4 workers)", args.jobs, 4, dynamic))
        for label, jobs, workers, face in cases:
            runs[label], reads = timed_up(
                root / label.replace(" ", "_").replace(",", ""),
                data,
                jobs,
                args.seconds_per_epoch,
                workers,
                face=face,
            )
            print(f"{label:<36} {runs[label]:7.1f} s   {reads}", flush=True)
        one, many, through_plugin, *baseline = runs.values()
        print(
            f"ratio {args.jobs} jobs / 1 job:        {many / one:5.2f}  (1.0 = perfectly parallel)"
        )
        print(f"ratio plugin {args.jobs} jobs / 1 job: {through_plugin / one:5.2f}")
        print(f"ratio plugin / dynamic ({args.jobs} jobs):  {through_plugin / many:5.2f}")
        if baseline:
            print(f"ratio SDK pool / widened pool:     {baseline[0] / many:5.2f}")
        print(json.dumps({k: round(v, 2) for k, v in runs.items()}))


if __name__ == "__main__":
    main()
