"""What was reviewed is what is applied (issue 14, item 2): saved update plans, real engine.

`pulumi preview --save-plan plan.json` then `pulumi up --plan plan.json` works with these
dynamic resources (pulumi v3.259.0; `--plan` is a hidden, "[EXPERIMENTAL]" flag of `up`, but it
needs no PULUMI_EXPERIMENTAL). The plan records, per resource, the planned steps, the input diff
and the planned state, including the pickled ``__provider`` input: the same program pickles it
to the same bytes on the next run, so it never shows as a change. Values the preview could not
know (the job's outputs that the TunedModel and Evaluation take as inputs) are unknowns in the
plan, and the engine accepts whatever the update computes for them. What the update may not do
is differ from the reviewed inputs or steps: an input edited after the preview makes the
resource fail with ``violates plan: properties changed: ~~epoch_count[{6}!={7}]`` before its
provider is asked to do anything.

The repo's project (one example model, on the emulator) is driven the workflow's way: preview
with ``--refresh --save-plan``, then ``up --plan``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import (
    BUCKET,
    CREATE_JOB,
    Run,
    copy_project,
    emulator_project_stack,
    engine_env,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

MODEL = "number-successor"


def _edit(definition: Path, old: str, new: str) -> None:
    text = definition.read_text()
    assert old in text, f"{definition}: no {old!r}"
    definition.write_text(text.replace(old, new, 1))


def _input_diffs(plan: Path) -> dict[str, object]:
    resources = json.loads(plan.read_text())["resourcePlans"]
    return {urn: p.get("goal", {}).get("inputDiff") for urn, p in resources.items()}


def _reviewed(stack: auto.Stack, plan: Path) -> Run:
    """The pull request's preview: refreshed, its plan saved to ``plan``."""
    run = Run()
    stack.preview(refresh=True, plan=str(plan), **run.kwargs())
    assert json.loads(plan.read_text())["resourcePlans"], plan
    return run


def test_up_applies_the_saved_plan_and_refuses_a_change_made_after_the_preview(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    project = copy_project(tmp_path / "project")
    env = engine_env(tmp_path, pulumi_bin)
    config = {"gemini-tuning:models": json.dumps([MODEL]), "gemini-tuning:aliases": '["dev"]'}
    stack = emulator_project_stack(
        project, env, pulumi_bin, emulator, "dev", bucket=BUCKET, config=config
    )
    definition = project / "stacks" / "models" / f"{MODEL}.yaml"

    first = tmp_path / "first.plan.json"
    _reviewed(stack, first)
    up = stack.up(plan=str(first), refresh=True, color="never")
    assert up.summary.result == "succeeded"
    assert up.outputs["models"].value[MODEL]["version"] == 1
    assert emulator.calls(CREATE_JOB) == 1

    # A refresh finds nothing to change: every resource's read returns the inputs it was
    # declared with, so a refreshed preview plans exactly what an unrefreshed one does. (A read
    # that dropped one made `up --plan` fail with no message at the stack's outputs:
    # pulumi/pulumi#16670.)
    refreshed, unrefreshed = tmp_path / "refreshed.plan.json", tmp_path / "unrefreshed.plan.json"
    stack.preview(refresh=True, plan=str(refreshed), color="never")
    stack.preview(plan=str(unrefreshed), color="never")
    assert _input_diffs(refreshed) == _input_diffs(unrefreshed)

    # The pull request: v2 with one more epoch. Its preview is what the reviewer approves.
    _edit(definition, "version: 1", "version: 2")
    _edit(definition, "epoch_count: 5", "epoch_count: 6")
    second = tmp_path / "second.plan.json"
    review = _reviewed(stack, second)
    assert "epoch_count changed (5 -> 6)" in review.text
    assert str(tmp_path) not in second.read_text()  # no checkout path: another runner applies it

    # Someone changes the definition after the review: the update refuses it, submits nothing.
    _edit(definition, "epoch_count: 6", "epoch_count: 7")
    with pytest.raises(auto.errors.CommandError) as refused:
        stack.up(plan=str(second), refresh=True, color="never")
    message = str(refused.value)
    print(message)
    assert "violates plan: properties changed: " in message
    assert "~~epoch_count[{6}!={7}]" in message  # (and the cost estimate that follows from it)
    assert emulator.calls(CREATE_JOB) == 1
    assert stack.outputs()["models"].value[MODEL]["version"] == 1  # v1 still serves

    # What was reviewed applies (refreshing, as the reviewed preview did).
    _edit(definition, "epoch_count: 7", "epoch_count: 6")
    up = stack.up(plan=str(second), refresh=True, color="never")
    assert up.summary.result == "succeeded"
    assert up.outputs["models"].value[MODEL]["version"] == 2
    assert emulator.calls(CREATE_JOB) == 2
    stack.preview(expect_no_changes=True, color="never")
