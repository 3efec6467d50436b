"""Helpers for the provider plugin's engine tests: the YAML host, YAML project stacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi import automation as auto

from gemini_tuning.backends import Settings
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import REPO, command, emulator_config, engine_env

YAML_VERSION = "1.25.0"
PLUGIN = "pulumi-resource-gemini-tuning"


def yaml_host_dir() -> Path:
    """The bin directory of the YAML language host (built once by setup, cached), or skip."""
    state = REPO / ".state" / "pulumi-yaml-bin"
    candidates = [os.environ.get("GT_PULUMI_YAML_BIN", "")]
    if state.is_file():
        candidates.append(state.read_text().strip())
    for candidate in candidates:
        if candidate and (Path(candidate) / "pulumi-language-yaml").is_file():
            return Path(candidate)
    built = subprocess.run(
        ["bash", str(REPO / "provider/tools/ensure-pulumi-yaml.sh"), YAML_VERSION],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        message = f"the Pulumi YAML language host could not be built: {built.stderr[-400:]}"
        if os.environ.get("GT_REQUIRE_ENGINE") == "1":  # CI: the YAML tests must run
            pytest.fail(message)
        pytest.skip(message)
    return Path(built.stdout.strip().splitlines()[-1])


def plugin_env(tmp: Path, pulumi_bin: Path, *, yaml_bin: Path | None = None) -> dict[str, str]:
    """The engine's environment, with the plugin (the venv's bin) and the YAML host on PATH."""
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / PLUGIN).is_file(), f"{PLUGIN} is not installed: pip install -e ."
    extra = [str(p) for p in (yaml_bin, venv_bin) if p is not None]
    env = engine_env(tmp, pulumi_bin)
    env["PATH"] = os.pathsep.join([*extra, env["PATH"]])
    return env


def yaml_project(tmp: Path, example: str = "yaml") -> Path:
    dest = tmp / "project"
    shutil.copytree(REPO / "examples" / example, dest)
    return dest


def yaml_stack(
    project: Path, env: dict[str, str], pulumi_bin: Path, emu: EmulatorProcess, name: str = "it"
) -> auto.Stack:
    opts = auto.LocalWorkspaceOptions(env_vars=env, pulumi_command=command(pulumi_bin))
    stack = auto.create_or_select_stack(name, work_dir=str(project), opts=opts)
    for key, value in emulator_config(emu).items():
        stack.set_config(key, auto.ConfigValue(value))
    return stack


def backend(emu: EmulatorProcess) -> VertexBackend:
    return VertexBackend(Settings(project=emu.project, location=emu.location, api_endpoint=emu.url))
