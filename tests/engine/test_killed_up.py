"""The local state backend survives a killed `pulumi up` (issue 16), through the real CLI.

One small project (a single TuningJob whose display name holds the round number, so that every
round replaces it: one new job per round) on a local backend, driven with the commands of the
README's runbook: `pulumi up` killed (SIGKILL of the whole process tree) at seeded random
moments, then `pulumi cancel` and `pulumi up`; `gemini-tuning doctor` on backends broken by
hand.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gemini_tuning._state import local_backend_url
from gemini_tuning.cli._doctor import inspect, render
from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import (
    CREATE_JOB,
    Project,
    emulator_config,
    engine_env,
    kill_process_tree,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator, pytest.mark.private_emulator]

KILLS = 20
DEFAULT_KILL_SEED = 20261206  # fixed, printed; GT_KILL_SEED picks other moments (bench-style)
PROJECT = "gt-kill"

PROGRAM = """\
import os

import pulumi

from gemini_tuning import TuningJob

job = TuningJob(
    "qa",
    base_model="gemini-2.5-flash",
    training_dataset="train.jsonl",
    epoch_count=1,
    tuned_model_display_name=f"{pulumi.get_project()}-round-{os.environ['GT_ROUND']}",
    labels={"emulator-seconds-per-epoch": "0_2"},  # 0.2 s
    poll_interval_seconds=0.2,
)
pulumi.export("job", job.job_name)
"""


def _project(
    tmp: Path,
    pulumi_bin: Path,
    emu: EmulatorProcess,
    *,
    name: str = PROJECT,
    url: str | None = None,
) -> Project:
    """Project ``name`` in ``tmp/name``, with its stack created, on the backend ``tmp/backend``."""
    env = {**os.environ, **engine_env(tmp, pulumi_bin)}
    if url is not None:
        env["PULUMI_BACKEND_URL"] = url
    work = tmp / name
    work.mkdir()
    (work / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    virtualenv: {sys.prefix}\n"
    )
    (work / "__main__.py").write_text(PROGRAM)
    write_examples(work / "train.jsonl")
    project = Project(work, tmp / "backend", env)
    project.run("stack", "init")
    config = [f"--plaintext={key}={value}" for key, value in emulator_config(emu).items()]
    project.run("config", "set-all", *config)
    return project


def _jobs_per_round(emu: EmulatorProcess) -> Counter[str]:
    """How many tuning jobs the emulator holds for each round (display name)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.GenAiTuningServiceClient(
        client_options=emu.client_options, credentials=AnonymousCredentials(), transport="rest"
    )
    jobs = client.list_tuning_jobs(parent=emu.parent)
    return Counter(job.tuned_model_display_name for job in jobs)


def _sidecars(backend: Path) -> list[Path]:
    return sorted(backend.rglob("*.attrs"))


def _kill_up(project: Project, round_: int, moment: float) -> bool:
    """Start `pulumi up` of ``round_`` and SIGKILL its process tree ``moment`` seconds later;
    whether it was still running then."""
    child = project.start_up(round_)
    time.sleep(moment)
    running = child.poll() is None
    kill_process_tree(child)
    return running


def _kill_and_recover(project: Project, emu: EmulatorProcess, seed: int, kills: int) -> int:
    """``kills`` rounds of: `up` killed at a random moment, doctor, `pulumi cancel`, `up`; each
    round replaces the job, so each must leave exactly one more. Returns the rounds run."""
    rng = random.Random(seed)
    started = time.monotonic()
    project.up(0)
    window = 0.9 * (time.monotonic() - started)  # most of one whole `up`, start to end
    name = project.work.name
    hits = round_ = 0
    while hits < kills:  # a round whose `up` ended before its moment is not a kill
        round_ += 1
        assert round_ <= 2 * kills, f"{name}: only {hits} of {round_ - 1} kills hit a running up"
        moment = rng.uniform(0.0, window)
        running = _kill_up(project, round_, moment)
        hits += running

        report = inspect(project.backend, project.env["PULUMI_BACKEND_URL"])
        assert report.findings == [], render(report)
        project.run("cancel", "--yes")
        converged = time.monotonic()
        project.up(round_)
        jobs = _jobs_per_round(emu)
        print(
            f"{name} round {round_:2d}: killed at {moment:4.1f} s of {window:4.1f} "
            f"({'during up' if running else 'after up ended'}); doctor, cancel ok; "
            f"up ok in {time.monotonic() - converged:4.1f} s"
        )
        assert jobs == Counter(f"{name}-round-{r}" for r in range(round_ + 1)), jobs
        assert emu.calls(CREATE_JOB) == round_ + 1  # no job was ever submitted twice
    project.run("preview", "--expect-no-changes", round_=round_)
    return round_


def test_up_killed_at_random_moments_always_recovers_with_one_job_per_round(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    seed = int(os.environ.get("GT_KILL_SEED") or DEFAULT_KILL_SEED)
    print(f"kill moments seeded with {seed} (GT_KILL_SEED={seed} repeats them)")
    project = _project(tmp_path, pulumi_bin, emulator)
    assert project.env["PULUMI_BACKEND_URL"] == local_backend_url(tmp_path / "backend")
    rounds = _kill_and_recover(project, emulator, seed, KILLS)
    assert _sidecars(tmp_path / "backend") == []  # metadata=skip: nothing a kill can leave empty
    jobs = _jobs_per_round(emulator)
    assert sum(jobs.values()) == len(jobs) == rounds + 1
    assert emulator.calls(CREATE_JOB) == rounds + 1  # no job was ever submitted twice


def test_an_old_backend_works_with_the_new_url_and_an_emptied_sidecar_is_recovered(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    old_url = (tmp_path / "backend").as_uri()  # how backends were opened before issue 16
    project = _project(tmp_path, pulumi_bin, emulator, url=old_url)
    project.up(0)
    sidecar = project.state_file.with_name("dev.json.attrs")
    old_sidecars = {p: p.read_bytes() for p in _sidecars(project.backend)}
    assert sidecar in old_sidecars

    # The same backend opened the new way works, reads its old sidecars, writes none.
    project.env["PULUMI_BACKEND_URL"] = local_backend_url(project.backend)
    project.run("preview", "--expect-no-changes", round_=0)
    project.up(1)
    assert {p: p.read_bytes() for p in _sidecars(project.backend)} == old_sidecars
    assert _jobs_per_round(emulator) == Counter([f"{PROJECT}-round-0", f"{PROJECT}-round-1"])

    sidecar.write_bytes(b"")  # what a kill between the driver's truncate and write leaves
    broken = project.run("stack", "output", check=False)
    assert broken.returncode != 0
    assert "failed to load checkpoint: EOF" in broken.stderr  # old sidecars are still read
    doctor = project.doctor()
    print(doctor.stdout)
    assert doctor.returncode == 1
    assert f"PROBLEM: {sidecar}: sidecar file is empty (0 bytes)" in doctor.stdout
    assert f"every command on stack {project.stack} fails" in doctor.stdout
    (recovery,) = [line.strip() for line in doctor.stdout.splitlines() if "  mv " in line]
    subprocess.run(["bash", "-c", recovery], check=True)  # exactly what doctor printed

    project.run("preview", "--expect-no-changes", round_=1)
    doctor = project.doctor()
    assert doctor.returncode == 0, doctor.stdout
    assert "ok: no problems" in doctor.stdout


def test_a_cut_state_file_is_restored_from_the_newest_backup(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    project = _project(tmp_path, pulumi_bin, emulator)
    project.up(0)
    project.up(1)
    backups = sorted((project.backend / ".pulumi" / "backups" / PROJECT / "dev").iterdir())
    assert len(backups) == 2  # one per finished update: <stack>.<unix-ns>.json
    state = project.state_file.read_bytes()
    project.state_file.write_bytes(state[: len(state) // 2])
    assert project.run("stack", "output", check=False).returncode != 0

    doctor = project.doctor()
    print(doctor.stdout)
    assert doctor.returncode == 1
    assert f"PROBLEM: {project.state_file}: state file is not valid JSON" in doctor.stdout
    assert f"newest good copy: {backups[-1]}" in doctor.stdout
    restore = f"pulumi stack import --stack {project.stack} --file dev.deployment.json"
    assert restore in doctor.stdout

    repaired = project.doctor("--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"imported {backups[-1]}" in repaired.stdout
    (kept,) = project.state_file.parent.glob("dev.json.broken-*")
    assert kept.read_bytes() == state[: len(state) // 2]  # the bad file is kept, not deleted
    project.run("preview", "--expect-no-changes", round_=1)
    output = json.loads(project.run("stack", "output", "--json").stdout)
    assert output["job"].startswith("projects/")
