"""Overhead of one `pulumi up` of one tuning job beyond the training it waits for, broken down.

Runs the real engine (Automation API, inline program) against a fresh local emulator, with
GEMINI_TUNING_TIMING_LOG set so the provider process writes timestamps (gemini_tuning/_timing.py;
nothing is written without it). The job trains 3 epochs at --seconds-per-epoch (2 s: 6 s of
training) after the emulator's PENDING phase (half an epoch). Phases, in wall-clock order:

  engine start     `up` called -> the inline program runs (CLI, plugins, language host)
  program          the program's body (registering the resource)
  provider start   the provider process starts -> our module is imported (its first request)
  engine to check  the program ran -> the provider's first check begins (launching the provider)
  check            validating and fingerprinting the dataset
  engine to create the check ended -> create begins (diff, step scheduling)
  backend          create begins -> the backend is ready (importing the Vertex clients)
  list jobs        listing the jobs with this resource's identity (none to adopt)
  before upload    -> upload begins (the project slot)
  upload           the dataset to the bucket
  submit           CreateTuningJob
  pending          the service's PENDING phase (the emulator's; Vertex's is minutes)
  training         epochs x seconds per epoch: the work waited for
  last-poll lag    the job ended -> the poll whose answer says so
  loss curve       reading the loss per epoch from the job's experiment (metadata, TensorBoard)
  after the wait   that poll -> create returns (the owner label on the model)
  engine finish    create returned -> the engine's summary event (state written)
  automation API   the summary -> Stack.up returns: the Automation API runs `pulumi stack
                   output` and `pulumi stack history` (a CLI `pulumi up` does not)

"overhead" is the `up`'s wall time minus the training, with and without the Automation API's
two extra commands. The engine's floor is measured in the same run: the `up` of one no-op
dynamic resource (a Probe: no API, no data), by the same Automation API, so "ours" is the
overhead above that floor; "first poll" (after the submit) is
printed beside it. Figures vary with the machine's load; nothing here is asserted.

usage: python bench/up_overhead.py [--runs 2] [--seconds-per-epoch 2] [--poll-seconds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
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
from gemini_tuning.emulator._wire import parse_timestamp  # noqa: E402
from gemini_tuning.testing import run_emulator  # noqa: E402

EPOCHS = 3
PHASES = (
    "engine start",
    "program",
    "provider start",
    "engine to check",
    "check",
    "engine to create",
    "backend",
    "list jobs",
    "before upload",
    "upload",
    "submit",
    "pending",
    "training",
    "last-poll lag",
    "loss curve",
    "after the wait",
    "engine finish",
    "automation API",
)


def _program(data: Path, marks: dict[str, float], poll: float) -> Any:
    def run() -> None:
        import pulumi

        from gemini_tuning import TuningJob

        marks["program"] = time.time()
        job = TuningJob(
            "job",
            base_model="gemini-2.5-flash",
            training_dataset=str(data),
            epoch_count=EPOCHS,
            poll_interval_seconds=poll,
        )
        for key in ("create_time", "start_time", "end_time"):
            pulumi.export(key, getattr(job, key))
        marks["program_done"] = time.time()

    return run


def one_up(root: Path, data: Path, spe: float, poll: float) -> dict[str, float]:
    pulumi_bin = pulumi_bin_dir()
    if pulumi_bin is None:
        sys.exit("no Pulumi CLI: run `make setup` first")
    log = root / "timing.jsonl"
    marks: dict[str, float] = {}
    with run_emulator(root / "emulator", seconds_per_epoch=spe) as emu:
        emu.storage_client().create_bucket(BUCKET)
        env = {_timing.TIMING_LOG: str(log)}
        with inline_stack(
            root / "engine",
            pulumi_bin,
            _program(data, marks, poll),
            env=env,
            config=emulator_config(emu),
        ) as stack:
            marks["up"] = time.time()
            result = stack.up(color="never", on_event=lambda e: _arrived(e, marks))
            marks["up_done"] = time.time()
            if result.summary.result != "succeeded":
                sys.exit(f"unexpected run: {result.summary.result}")
            outputs = {k: parse_timestamp(str(v.value)) for k, v in result.outputs.items()}
            stack.destroy(color="never")
    return breakdown(marks, _timing.read_log(log), outputs)


def probe_up(root: Path) -> dict[str, float]:
    """Wall time of an `up` of one Probe (the engine's cost for one dynamic resource), and the
    part after its summary event (the Automation API's extra commands)."""
    from gemini_tuning.testing import Probe

    pulumi_bin = pulumi_bin_dir()
    assert pulumi_bin is not None
    marks: dict[str, float] = {}

    def program() -> None:
        Probe("probe", value="v")

    with inline_stack(root, pulumi_bin, program) as stack:
        marks["up"] = time.time()
        stack.up(color="never", on_event=lambda e: _arrived(e, marks))
        marks["up_done"] = time.time()
        stack.destroy(color="never")
    total = marks["up_done"] - marks["up"]
    return {"floor": total, "floor, CLI": marks["summary_event"] - marks["up"]}


def _arrived(event: Any, marks: dict[str, float]) -> None:
    """When the first event of each kind arrived (the Automation API tails the event log every
    0.1 s, so these are late by up to that)."""
    for kind in ("prelude_event", "summary_event"):
        if getattr(event, kind, None) is not None:
            marks.setdefault(kind, time.time())


def breakdown(
    marks: dict[str, float], events: list[dict[str, Any]], job: dict[str, float]
) -> dict[str, float]:
    """Seconds per phase (and the totals) from the bench's marks, the provider's and the job's."""
    first: dict[str, float] = {}
    for event in events:
        first.setdefault(event["event"], float(event["t"]))
    polls = [float(e["t"]) for e in events if e["event"] == "poll"]
    after_submit = [t for t in polls if t >= first["submitted"]]
    seen_done = polls[-1]
    training = job["end_time"] - job["start_time"]
    phases = {
        "engine start": marks["program"] - marks["up"],
        "program": marks["program_done"] - marks["program"],
        "provider start": first["provider_imported"] - first["provider_process"],
        "engine to check": first["check"] - marks["program_done"],
        "check": first["check_done"] - first["check"],
        "engine to create": first["create"] - first["check_done"],
        "backend": first["clients"] - first["create"],
        "list jobs": first["listed"] - first["clients"],
        "before upload": first["upload"] - first["listed"],
        "upload": first["upload_done"] - first["upload"],
        "submit": first["submitted"] - first["upload_done"],
        "pending": job["start_time"] - first["submitted"],
        "training": training,
        "last-poll lag": first.get("job_done_seen", seen_done) - job["end_time"],
        "loss curve": seen_done - first.get("job_done_seen", seen_done),
        "after the wait": first["create_done"] - seen_done,
        "engine finish": marks["summary_event"] - first["create_done"],
        "automation API": marks["up_done"] - marks["summary_event"],
    }
    total = marks["up_done"] - marks["up"]
    return {
        **phases,
        "total": total,
        "overhead": total - training,
        "overhead, CLI": total - training - phases["automation API"],
        "first poll": after_submit[0] - first["submitted"] if after_submit else float("nan"),
        "polls": float(len(after_submit)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seconds-per-epoch", type=float, default=2.0)
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="the job's poll_interval_seconds (default 1; the resource's default, 15, is meant "
        "for jobs of minutes to hours and alone would add up to 15 s to a 6 s job)",
    )
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="gt-bench-up-") as tmp:
        root = Path(tmp)
        data = write_examples(root / "train.jsonl")
        for i in range(args.runs):  # interleaved, so drift on a shared machine hits both
            run = one_up(root / f"run{i}", data, args.seconds_per_epoch, args.poll_seconds)
            run.update(probe_up(root / f"probe{i}"))
            run["ours"] = run["overhead"] - run["floor"]
            run["ours, CLI"] = run["overhead, CLI"] - run["floor, CLI"]
            runs.append(run)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"one TuningJob `up`, {args.runs} runs ({os.cpu_count()} cores, load {load})")
    print(f"{'phase':<18}" + "".join(f"{f'run {i + 1}':>9}" for i in range(len(runs))))
    keys = ("total", "overhead", "overhead, CLI", "floor", "floor, CLI", "ours", "ours, CLI")
    for key in (*PHASES, *keys, "first poll", "polls"):
        if key in ("total", "floor", "ours", "first poll"):
            print("-" * (18 + 9 * len(runs)))
        unit = "" if key == "polls" else " s"
        print(f"{key:<18}" + "".join(f"{run[key]:7.2f}{unit}" for run in runs))
    median = statistics.median(run["overhead"] for run in runs)
    cli = statistics.median(run["overhead, CLI"] for run in runs)
    floor = statistics.median(run["floor"] for run in runs)
    ours = statistics.median(run["ours, CLI"] for run in runs)
    print(
        f"overhead beyond the training (median): {median:.2f} s; without the Automation API's "
        f"extra commands {cli:.2f} s  (target, issue 13: <= 3 s)\n"
        f"the engine's floor (a Probe's up): {floor:.2f} s; above it, without the extra "
        f"commands: {ours:.2f} s"
    )
    print(json.dumps([{k: round(v, 3) for k, v in run.items()} for run in runs]))


if __name__ == "__main__":
    main()
