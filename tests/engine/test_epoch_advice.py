"""Epoch advice through the real engine and the CLI (issue 25, item 3).

One dev stack tunes two definitions on the emulator, whose learner publishes its own loss
curves (emulator/_learner.py): ``qa-slice``, a small SQuAD slice (24 training and 12
validation questions from stacks/data, 4 epochs) whose validation loss stops improving after
epoch 2 (3.171, 3.055, 3.040, 3.046: epoch 3 is 0.5 % better than epoch 2, within the 1 %
tolerance), and ``successor``, the number-successor data (no validation set) whose training loss
falls by a third every epoch. `gemini-tuning report` and `gemini-tuning plan-summary` on the
next `pulumi preview --json` advise epoch_count 2 for the first and say nothing of the second.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import run_emulator
from tests.support.engine import REPO, copy_project, emulator_project_stack, engine_env

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

BUCKET = "gt-advice-data"
ADVICE = (
    "validation loss no better after epoch 2 of 4: epoch_count 2 reaches the same loss "
    "(within 1%) for 50% less training cost"
)
QA_SLICE = """\
version: 1
description: A small SQuAD slice whose validation loss flattens early
backend: vertex
base_model: gemini-2.5-flash
datasets:
  training: ../data/qa-slice-train.jsonl
  validation: ../data/qa-slice-validation.jsonl
hyperparameters:
  epoch_count: 4
  adapter_size: 4
labels:
  team: demo
  task: qa
"""
SUCCESSOR = """\
version: 1
description: Answers the next number; its training loss keeps falling
backend: vertex
base_model: gemini-2.5-flash
datasets:
  training: ../data/number-successor-vertex.jsonl
hyperparameters:
  epoch_count: 5
labels:
  team: demo
  task: successor
"""


class Tuned:
    """A dev stack that ran both jobs, its project directory and engine environment."""

    def __init__(self, project: Path, env: dict[str, str], stack: auto.Stack) -> None:
        self.project, self.env, self.stack = project, env, stack

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gemini_tuning.cli", *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, pulumi_bin: Path) -> Iterator[Tuned]:
    root = tmp_path_factory.mktemp("advice")
    with run_emulator(root / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        project = copy_project(root / "project")
        _write_definitions(project)
        env = engine_env(root, pulumi_bin)
        stack = emulator_project_stack(
            project,
            env,
            pulumi_bin,
            emu,
            "dev",
            bucket=BUCKET,
            config={
                "gemini-tuning:models": json.dumps(["qa-slice", "successor"]),
                "gemini-tuning:aliases": '["dev"]',
            },
        )
        stack.up(color="never")
        yield Tuned(project, env, stack)  # the emulator serves while the tests read


def _write_definitions(project: Path) -> None:
    data, models = project / "stacks" / "data", project / "stacks" / "models"
    squad = REPO / "stacks" / "data"
    for role, source, count in (
        ("train", "squad-qa-train", 24),
        ("validation", "squad-qa-validation", 12),
    ):
        lines = (squad / f"{source}.jsonl").read_text().splitlines()[:count]
        (data / f"qa-slice-{role}.jsonl").write_text("\n".join(lines) + "\n")
    (models / "qa-slice.yaml").write_text(QA_SLICE)
    (models / "successor.yaml").write_text(SUCCESSOR)


def _models(stack: auto.Stack) -> dict[str, Any]:
    value: dict[str, Any] = stack.outputs()["models"].value
    return value


def test_the_learner_curves_flatten_for_the_slice_and_keep_falling_for_the_successor(
    tuned: Tuned,
) -> None:
    """The premise, from the stack's own outputs: the curves the emulator's learner published."""
    models = _models(tuned.stack)
    validation = models["qa-slice"]["validation_loss_per_epoch"]
    assert len(validation) == 4
    assert min(validation[2:]) >= 0.99 * validation[1]  # no better after epoch 2
    assert validation[1] < 0.99 * validation[0]  # but epoch 2 was
    training = models["successor"]["loss_per_epoch"]
    assert models["successor"].get("validation_loss_per_epoch") in (None, [])
    assert all(b < 0.99 * a for a, b in itertools.pairwise(training))


def test_report_advises_where_the_validation_loss_flattened_and_nothing_elsewhere(
    tuned: Tuned,
) -> None:
    table = tuned.cli("report", "--stack", "dev")
    assert table.returncode == 0, table.stderr
    assert f"dev qa-slice v1: {ADVICE}" in table.stdout
    assert "successor v1:" not in table.stdout
    rows = tuned.cli("report", "--stack", "dev", "--json")
    advice = {row["model"]: row["advice"] for row in json.loads(rows.stdout)}
    assert advice["successor"] is None
    assert advice["qa-slice"]["suggested_epoch_count"] == 2
    assert advice["qa-slice"]["curve"] == "validation"
    assert advice["qa-slice"]["saving"] == pytest.approx(0.5)


def _summary(tuned: Tuned) -> str:
    """`pulumi preview --json` of the dev stack as it is now, through `plan-summary`."""
    preview = subprocess.run(
        ["pulumi", "preview", "--json", "--stack", "dev", "--non-interactive"],
        cwd=tuned.project,
        env=tuned.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert preview.returncode == 0, preview.stderr
    (tuned.project / "preview.json").write_text(preview.stdout)
    summary = tuned.cli("plan-summary", "preview.json")
    assert summary.returncode == 0, summary.stdout + summary.stderr
    return summary.stdout


def test_plan_summary_of_the_next_preview_advises_the_job_that_ran(tuned: Tuned) -> None:
    """Nothing changed: the preview lists no TuningJob step (no --show-sames); the advice comes
    from the stack's previous outputs."""
    text = _summary(tuned)
    assert f"- qa-slice v1: {ADVICE}" in text
    assert "successor v1:" not in text
    assert "| qa-slice | **nothing** |" in text  # advice, not a change


def test_plan_summary_advises_on_an_update_and_stops_once_the_definition_takes_it(
    tuned: Tuned,
) -> None:
    """An in-place update lists the TuningJob's step: the advice comes from its recorded
    outputs. A definition that asks for the advised epochs re-tunes, and the advice is gone."""
    definition = tuned.project / "stacks" / "models" / "qa-slice.yaml"
    try:
        definition.write_text(QA_SLICE.replace("early\n", "early (reworded)\n"))
        updated = _summary(tuned)
        assert "| qa-slice | **update** |" in updated
        assert f"- qa-slice v1: {ADVICE}" in updated
        definition.write_text(
            QA_SLICE.replace("version: 1", "version: 2").replace("epoch_count: 4", "epoch_count: 2")
        )
        taken = _summary(tuned)
        assert "| qa-slice | **re-tune** | v1 → v2 |" in taken
        assert "replace: epoch_count changed (4 -> 2)" in taken
        assert "Epoch advice" not in taken
    finally:
        definition.write_text(QA_SLICE)


def test_the_release_record_keeps_the_advice_only_where_the_loss_flattened(tuned: Tuned) -> None:
    releases = tuned.cli("releases", "list", "--stack", "dev", "--json")
    assert releases.returncode == 0, releases.stderr
    advice = {row["model"]: row["advice"] for row in json.loads(releases.stdout)}
    assert advice["successor"] is None
    assert advice["qa-slice"]["suggested_epoch_count"] == 2
    assert advice["qa-slice"]["message"] == ADVICE
