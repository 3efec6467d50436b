"""The Pulumi YAML example (examples/yaml) through the real engine, the YAML language host and
the gemini-tuning provider plugin, against the emulator (issue 15)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from pulumi import automation as auto

from gemini_tuning import backends
from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import Run, resources_of
from tests.support.plugin import backend, plugin_env, yaml_host_dir, yaml_project, yaml_stack

pytestmark = [pytest.mark.engine, pytest.mark.emulator]


def test_yaml_program_tunes_names_evaluates_updates_replaces_and_destroys(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    env = plugin_env(tmp_path, pulumi_bin, yaml_bin=yaml_host_dir())
    stack = yaml_stack(yaml_project(tmp_path), env, pulumi_bin, emulator)
    vertex = backend(emulator)

    run = Run()
    up = stack.up(**run.kwargs())
    outputs = {k: v.value for k, v in up.outputs.items()}
    model = vertex.get_model(outputs["model"])
    assert "yaml-dev" in model.version_aliases, model
    assert model.labels["team"] == "search"
    assert outputs["metrics"]["examples"] == 15
    assert outputs["gatePassed"] is True
    assert "[gemini-tuning] job: training data: 15 examples" in run.text  # progress reached us
    jobs = resources_of(stack, "index:TuningJob")
    assert jobs[0]["type"] == "gemini-tuning:index:TuningJob"
    assert "__provider" not in json.dumps(jobs[0])  # nothing pickled: state is language-neutral

    stack.preview(expect_no_changes=True, color="never")

    stack.set_config("team", auto.ConfigValue("ranking"))
    run = Run()
    stack.preview(**run.kwargs())
    assert steps(run)["job"] == {"update"}  # labels: in place, no new tuning
    assert steps(run)["model"] == {"update"}
    # The evaluation's target is an output of the updated job: unknown at preview. Its line
    # says so, never the engine's placeholder string as a value, nor a promised re-evaluation.
    from pulumi.runtime import rpc

    assert rpc.UNKNOWN not in run.text
    assert "evaluation: re-evaluate: target changed" not in run.text
    run = Run()
    stack.up(**run.kwargs())
    assert steps(run).get("evaluation", {"same"}) == {"same"}  # nothing re-ran: target unchanged
    assert vertex.get_model(outputs["model"]).labels["team"] == "ranking"
    assert stack.outputs()["job"].value == outputs["job"]  # same job: updated in place

    stack.set_config("epochs", auto.ConfigValue("3"))
    run = Run()
    stack.preview(**run.kwargs())
    assert "replace" in steps(run)["job"], steps(run)
    assert steps(run)["model"] == {"update"}  # the alias moves to the new version in place
    assert "epoch_count changed (2 -> 3)" in run.text
    stack.up(color="never")
    replaced = {k: v.value for k, v in stack.outputs().items()}
    assert replaced["job"] != outputs["job"]
    assert vertex.get_job(replaced["job"]).epoch_count == 3
    with pytest.raises(backends.NotFoundError):
        vertex.get_model(outputs["model"])  # the old version: unclaimed, deleted by its owner

    stack.destroy(color="never")
    with pytest.raises(backends.NotFoundError):
        vertex.get_model(replaced["model"])
    assert resources_of(stack, "index:TuningJob") == []


def steps(run: Run) -> dict[str, set[str]]:
    """Resource name -> the steps the engine planned for it (same, update, replace...)."""
    found: dict[str, set[str]] = {}
    for event in run.events:
        if event.resource_pre_event:
            meta = event.resource_pre_event.metadata
            found.setdefault(meta.urn.rsplit("::", 1)[-1], set()).add(str(meta.op.value))
    return found


def test_the_engine_finds_the_plugin_through_plugins_providers_path(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    """Without the venv's bin on PATH, the engine finds no plugin, unless Pulumi.yaml names its
    directory (plugins.providers[].path): the two documented ways (plugin.md)."""
    env = plugin_env(tmp_path, pulumi_bin, yaml_bin=yaml_host_dir())
    venv_bin = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != venv_bin)
    project = yaml_project(tmp_path)
    stack = yaml_stack(project, env, pulumi_bin, emulator)
    missing = "no resource plugin 'pulumi-resource-gemini-tuning' found in the workspace or on"
    with pytest.raises(auto.errors.CommandError, match=missing):
        stack.preview(color="never")

    pinned = f"plugins:\n  providers:\n    - name: gemini-tuning\n      path: {venv_bin}\n"
    (project / "Pulumi.yaml").write_text((project / "Pulumi.yaml").read_text() + pinned)
    preview = stack.preview(color="never")
    assert preview.change_summary.get("create") == 4  # the stack and the three resources
