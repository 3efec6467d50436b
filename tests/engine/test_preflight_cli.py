"""`gemini-tuning preflight --stack dev` as a user runs it: the real CLI reads the dev stack's
config through `pulumi config --json` (a local backend) and checks it against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from gemini_tuning.cli import _preflight as pf
from gemini_tuning.emulator._config import project_number
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import REPO, command, copy_project, engine_env

pytestmark = [pytest.mark.engine, pytest.mark.emulator]


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05) as started:
        yield started


@pytest.fixture
def dev(
    tmp_path: Path, pulumi_bin: Path, emu: EmulatorProcess
) -> tuple[auto.Stack, dict[str, str]]:
    """The dev stack of a copy of the project, with the repository's dev config (its own
    encryption salt: the stack is initialised here)."""
    project = copy_project(tmp_path / "project")
    config = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    (project / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    env = engine_env(tmp_path, pulumi_bin, {"GEMINI_TUNING_EMULATOR_HOME": str(emu.state_dir)})
    opts = auto.LocalWorkspaceOptions(env_vars=env, pulumi_command=command(pulumi_bin))
    stack = auto.create_or_select_stack("dev", work_dir=str(project), opts=opts)
    return stack, env


def preflight(
    stack: auto.Stack, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, **env}
    for key in ("GOOGLE_CLOUD_PROJECT", "GEMINI_TUNING_PROJECT", "GEMINI_TUNING_LOCATION"):
        run_env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "gemini_tuning.cli", "preflight", "--stack", "dev", *args],
        cwd=stack.workspace.work_dir,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_demo_stack_passes(dev: tuple[auto.Stack, dict[str, str]]) -> None:
    stack, env = dev
    done = preflight(stack, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "all checks passed"


def test_the_three_first_failures_with_their_fixes_and_exit_1(
    dev: tuple[auto.Stack, dict[str, str]], emu: EmulatorProcess
) -> None:
    """A bucket the service agents cannot read, a location that does not tune the model, a
    concurrent tuning-job quota of 0."""
    stack, env = dev
    bucket = emu.storage_client().bucket("no-agents")
    bucket.create(location="ASIA")
    stack.set_config("gemini-tuning:datasetBucket", auto.ConfigValue("no-agents"))
    stack.set_config("gemini-tuning:location", auto.ConfigValue("asia-northeast2"))
    emu.configure(max_running_jobs=0)
    done = preflight(stack, env, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    checks: list[dict[str, Any]] = json.loads(done.stdout)
    failing = {c["name"]: c for c in checks if c["status"] == "fail"}
    assert set(failing) == {
        "base-model:squad-qa",
        "base-model:number-successor",
        "service-agent-bucket",
        "tuning-quota",
    }
    assert failing["base-model:squad-qa"]["fix"] == (
        "pulumi config set gemini-tuning:location us-central1 --stack dev"
    )
    agent = pf.agent_member(project_number("local-project"), "gcp-sa-aiplatform")
    assert (
        f"gcloud storage buckets add-iam-policy-binding gs://no-agents --member {agent} "
        "--role roles/storage.objectViewer" in failing["service-agent-bucket"]["fix"]
    )
    assert "--preferred-value=2" in failing["tuning-quota"]["fix"]
