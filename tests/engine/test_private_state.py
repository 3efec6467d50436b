"""Nothing private in state (issue 14, item 6), through the real engine.

Evaluation samples (prompts, expected and model answers from the user's evaluation set) and a
job's error text (the service's message) are Pulumi secrets: the exported state, with the
Automation API and with `pulumi stack export` (no --show-secrets), holds neither in plain text.
The readable copy of the samples is the evaluation summary, written locally and to the stack's
bucket; the ``models`` output stays plain, so `pulumi stack output --json` readers (`gemini-tuning
report`) and promoting stacks (test_environments, test_releases) keep working.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from gemini_tuning.backends import Settings
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import (
    BUCKET,
    Run,
    emulator_config,
    engine_env,
    inline_stack,
    project_stack,
    resources_of,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

MODEL = "squad-qa"
REPORT = (sys.executable, "-m", "gemini_tuning.cli", "report", "--json")
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the engine's marker of a secret value
ERROR_TEXT = "Injected failure (emulator-fail)."  # the emulator's message, found nowhere else


def _cli_export(root: Path, pulumi_bin: Path, cwd: Path, stack: str) -> str:
    done = subprocess.run(
        [str(pulumi_bin / "pulumi"), "stack", "export", "--stack", stack, "--non-interactive"],
        cwd=cwd,
        env={**os.environ, **engine_env(root, pulumi_bin)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _outside_secrets(value: Any) -> str:
    """Every string of an exported deployment that is not inside a secret. The Automation API's
    export_stack() runs `pulumi stack export --show-secrets`, so a secret shows there as
    {SECRET_SIG: ..., "plaintext": ...}; what matters is that it is marked."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if SECRET_SIG in node:
                return
            for key, item in node.items():
                found.append(str(key))
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        else:
            found.append(str(node))

    walk(value)
    return "\n".join(found)


def _backend_files(root: Path) -> str:
    """The state as stored: every file of the local backend (checkpoints, history, backups)."""
    files = [p for p in (root / "backend").rglob("*") if p.is_file()]
    assert files
    return "\n".join(p.read_bytes().decode(errors="replace") for p in files)


def _outputs(stack: Any, type_suffix: str) -> dict[str, Any]:
    (resource,) = resources_of(stack, type_suffix)
    outputs: dict[str, Any] = resource["outputs"]
    return outputs


def test_samples_are_secret_in_state_and_readable_in_the_bucket(
    tmp_path: Path, pulumi_bin: Path
) -> None:
    with run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        config = {
            **emulator_config(emu),
            "gemini-tuning:models": json.dumps([MODEL]),
            "gemini-tuning:pollIntervalSeconds": "0.2",
        }
        with project_stack(tmp_path, pulumi_bin, stack="dev", config=config) as stack:
            run = Run()
            models = stack.up(**run.kwargs()).outputs["models"].value
            project = tmp_path / "project"
            entry = models[MODEL]
            links = entry["artifacts"]
            # The summary quotes answers that missed: the text that must stay out of state.
            summary = json.loads((project / links["folder"] / "evaluation.json").read_text())
            samples = summary["samples"]
            assert samples, "the emulator's model missed no answer: nothing to look for"
            texts = [s["prompt"] for s in samples] + [s["expected"] for s in samples]
            texts = [t.removesuffix("...") for t in texts if len(t) >= 12]  # not found by chance
            assert texts
            dataset = (project / "stacks" / summary["eval_dataset"]).read_text()
            assert all(t in dataset for t in texts)

            # The artifacts are in the stack's bucket, linked from the (plain) outputs.
            folder = f"gs://{BUCKET}/gemini-tuning/artifacts/gemini-tuning/dev/{MODEL}"
            assert links["bucket_folder"] == folder
            assert links["evaluation_uri"] == f"{folder}/evaluation.md"
            assert links["loss_curve_uri"] == f"{folder}/loss-curve.png"
            bucket = emu.storage_client().bucket(BUCKET)
            prefix = f"gemini-tuning/artifacts/gemini-tuning/dev/{MODEL}"
            md = bucket.blob(f"{prefix}/evaluation.md").download_as_text()
            assert samples[0]["expected"] in md
            assert bucket.blob(f"{prefix}/loss-curve.png").download_as_bytes()[:4] == b"\x89PNG"
            assert bucket.blob(f"{prefix}/evaluation.json").exists()

            # In state: a secret, and no sample text anywhere, by either export.
            assert _outputs(stack, ":Evaluation")["samples"]["4dabf18193072939515e22adb298388d"]
            exported = _outside_secrets(stack.export_stack().deployment)
            by_cli = _cli_export(tmp_path, pulumi_bin, project, "dev")
            at_rest = _backend_files(tmp_path)
            for text in texts:
                assert text not in exported
                assert text not in by_cli
                assert text not in at_rest
            # The models output is not a secret: `stack output --json` readers see values.
            done = subprocess.run(
                [*REPORT, "--stack", "dev", "--cwd", str(project)],
                env={**os.environ, **engine_env(tmp_path, pulumi_bin)},
                capture_output=True,
                text=True,
                check=True,
            )
            (row,) = json.loads(done.stdout)
            assert row["model"] == MODEL
            assert row["state"] == "SUCCEEDED"
            # Without --stack: the stacks that exist (dev alone here), none "no such stack".
            every = subprocess.run(
                [*REPORT, "--cwd", str(project)],
                env={**os.environ, **engine_env(tmp_path, pulumi_bin)},
                capture_output=True,
                text=True,
                check=True,
            )
            assert json.loads(every.stdout) == [row]
            stack.preview(expect_no_changes=True, color="never")


def _failing_job(data: Path) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TuningJob

        job = TuningJob(
            "doomed",
            base_model="gemini-2.5-flash",
            training_dataset=str(data),
            epoch_count=2,
            labels={"emulator-fail": ""},
            wait=False,
        )
        pulumi.export("job", job.job_name)
        pulumi.export("state", job.job_state)

    return program


def test_a_job_error_text_is_secret_in_state(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    # The emulator fails a job labelled emulator-fail half an epoch in, with ERROR_TEXT (the
    # label is empty: its value, a label, is an input and would sit in state as one).
    backend = VertexBackend(
        Settings(project=emulator.project, location=emulator.location, api_endpoint=emulator.url)
    )
    with inline_stack(
        tmp_path / "engine", pulumi_bin, _failing_job(data), config=emulator_config(emulator)
    ) as stack:
        up = stack.up(color="never")
        job = up.outputs["job"].value
        deadline = time.monotonic() + 60
        while not backend.get_job(job).ended_badly:
            assert time.monotonic() < deadline, "the injected failure never came"
            time.sleep(0.2)
        run = Run()
        stack.refresh(**run.kwargs())
        outputs = _outputs(stack, ":TuningJob")
        assert outputs["job_state"] == "FAILED"
        assert outputs["error"][SECRET_SIG]
        exported = _outside_secrets(stack.export_stack().deployment)
        by_cli = _cli_export(tmp_path / "engine", pulumi_bin, tmp_path / "engine", "it")
        assert backend.get_job(job).error == ERROR_TEXT  # what the provider read and stored
        assert ERROR_TEXT not in exported
        assert ERROR_TEXT not in by_cli
        assert ERROR_TEXT not in _backend_files(tmp_path / "engine")
        assert job in exported  # the job itself is there, in plain text


def test_state_written_before_the_secrets_is_encrypted_by_the_next_up(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older release stored ``error`` in plain text; the next `up` (no change) re-marks it.
    Inline programs run in this process, so the older behaviour is one monkeypatch away. (The
    backend's history and backups of the older checkpoints keep the plain text: see README.)"""
    from gemini_tuning.resources import tuning_job

    data = write_examples(tmp_path / "train.jsonl")
    backend = VertexBackend(
        Settings(project=emulator.project, location=emulator.location, api_endpoint=emulator.url)
    )
    config = emulator_config(emulator)
    with monkeypatch.context() as older:
        older.setattr(tuning_job, "SECRET_OUTPUTS", ())
        with inline_stack(tmp_path / "engine", pulumi_bin, _failing_job(data), config=config) as st:
            job = st.up(color="never").outputs["job"].value
            deadline = time.monotonic() + 60
            while not backend.get_job(job).ended_badly:
                assert time.monotonic() < deadline, "the injected failure never came"
                time.sleep(0.2)
            st.refresh(color="never")
            assert _outputs(st, ":TuningJob")["error"] == ERROR_TEXT  # plain, as it was
    with inline_stack(tmp_path / "engine", pulumi_bin, _failing_job(data), config=config) as st:
        st.up(color="never")
        assert _outputs(st, ":TuningJob")["error"][SECRET_SIG]
        exported = _cli_export(tmp_path / "engine", pulumi_bin, tmp_path / "engine", "it")
        assert ERROR_TEXT not in exported
    history = [
        p
        for p in (tmp_path / "engine" / "backend").rglob("*")
        if p.is_file() and ERROR_TEXT in p.read_text(errors="replace")
    ]
    assert history, "no older checkpoint kept the plain text: update the README's note"
    older = ("/history/", "/backups/")
    assert all(any(o in str(p) for o in older) or p.suffix == ".bak" for p in history), history
