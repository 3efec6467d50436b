"""A team's own repository, as a user makes it: the built wheel installed (with the emulator
extra) into the project's own .venv in an empty directory, `gemini-tuning init`, then
`pulumi up` there against the emulator with the real engine and the CLI that setup builds.

PATH holds the Pulumi CLI and the system's bin directories only: neither this checkout's .venv
nor the project's. The program and the providers run from the project's .venv because
Pulumi.yaml says so (`runtime.options.virtualenv`), and the datasets go to the bucket the
emulator created because the scaffolded dev stack names it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gemini_tuning.testing import run_emulator
from tests.packaging.wheel import build_wheel, install
from tests.support.engine import engine_env

pytestmark = [pytest.mark.engine, pytest.mark.emulator, pytest.mark.timeout(900)]


def _pulumi(bin_dir: Path, project: Path, env: dict[str, str], *args: str) -> str:
    found = subprocess.run(
        [str(bin_dir / "pulumi"), *args, "--non-interactive", "--color", "never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert found.returncode == 0, f"pulumi {' '.join(args)}:\n{found.stdout}\n{found.stderr}"
    return found.stdout


def test_init_into_an_empty_directory_then_pulumi_up_against_the_emulator(
    tmp_path: Path, pulumi_bin: Path
) -> None:
    project = tmp_path / "team-models"
    project.mkdir()
    wheel = build_wheel(tmp_path / "dist")
    seconds = install(project / ".venv", wheel, "emulator")
    print(f"installed the wheel with [emulator] into {project / '.venv'} in {seconds:.0f} s")
    cli = project / ".venv" / "bin" / "gemini-tuning"
    made = subprocess.run([cli, "init", str(project)], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr  # a directory holding only its .venv is empty
    for path in ("Pulumi.yaml", "__main__.py", "models/example.yaml", "Pulumi.dev.yaml"):
        assert (project / path).is_file(), path
    assert ".github/workflows/gemini-tuning.yml" in made.stdout
    # The package is not on an index: the scaffold installs it from where it came from.
    requirements = (project / "requirements.txt").read_text().splitlines()
    assert f"gemini-tuning[plots] @ {wheel.resolve().as_uri()}" in requirements
    again = subprocess.run([cli, "init", str(project)], capture_output=True, text=True, check=False)
    assert again.returncode == 1, again.stdout  # now it is not empty: refused, nothing touched
    assert "--force" in again.stderr

    env = engine_env(tmp_path, pulumi_bin, {"PATH": f"{pulumi_bin}:/usr/bin:/bin"})
    system = subprocess.run(
        ["python3", "-c", "import pulumi"], env=env, capture_output=True, check=False
    )
    assert system.returncode != 0, "the system python3 has pulumi: this test would prove nothing"
    with run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05) as emu:
        env["GEMINI_TUNING_EMULATOR_HOME"] = str(emu.state_dir)  # apiEndpoint: emulator
        _pulumi(pulumi_bin, project, env, "stack", "init", "dev")
        _pulumi(pulumi_bin, project, env, "up", "--stack", "dev", "--yes", "--skip-preview")
        models = json.loads(
            _pulumi(pulumi_bin, project, env, "stack", "output", "models", "--json")
        )
        example = models["example"]
        assert example["state"] == "SUCCEEDED"
        assert example["gate_passed"] is True
        assert example["release"].startswith("gs://gemini-tuning-dev/")  # the emulator's bucket
        assert example["model"].endswith("@1")
        assert len(example["loss_per_epoch"]) == 5
        artifacts = project / "artifacts" / "dev" / "example"
        assert (artifacts / "evaluation.md").is_file()
        # Installed without the plots extra: no chart, the losses in a note, and no crash.
        assert not (artifacts / "loss-curve.png").exists()
        assert "gemini-tuning[plots]" in (artifacts / "loss-curve.txt").read_text()
        assert example["artifacts"]["loss_curve"].endswith("loss-curve.txt")
        unchanged = _pulumi(
            pulumi_bin, project, env, "preview", "--stack", "dev", "--expect-no-changes"
        )
        assert "6 unchanged" in unchanged
        assert emu.calls("GenAiTuningService.CreateTuningJob") == 1  # tuned once, not again

        # The scaffolded workflow's own commands, as its runner would run them (a push: the
        # `up` job plans and applies), after a reviewed change: a label, updated in place.
        definition = project / "models" / "example.yaml"
        definition.write_text(definition.read_text().replace("team: ", "owner: ml\n  team: ", 1))
        summary = _run_workflow(project, env, tmp_path / "github")
        assert "example" in summary  # plan-summary's model, then the report's row
        assert "SUCCEEDED" in summary
        after = json.loads(_pulumi(pulumi_bin, project, env, "stack", "output", "models", "--json"))
        assert after["example"]["model"] == example["model"]  # the same version, labelled
        assert emu.calls("GenAiTuningService.CreateTuningJob") == 1  # the workflow tuned nothing
        _pulumi(pulumi_bin, project, env, "preview", "--stack", "dev", "--expect-no-changes")


GITHUB_ONLY = ("The plan reviewed on the pull request",)  # gh api / gh run download


def _runs_here(condition: str | None) -> bool:
    """Whether a step's `if:` holds in this run: a manual run (not a push), every step so far
    passed, and the project has no policy pack."""
    if condition is None:
        return True
    if "failure" in condition or "hashFiles('policies" in condition:
        return False
    if "github.event_name" in condition:
        return "!= 'push'" in condition
    raise AssertionError(f"a step condition this test cannot decide: {condition}")


def _run_workflow(project: Path, env: dict[str, str], github: Path) -> str:
    """Every `run:` step of the scaffolded workflow's preview job, then of its up job (as on a
    schedule or a manual run), for the dev stack; the steps that only talk to GitHub are left
    out, and the policy pack's install (the project has none: its `if:` is false). Each must
    succeed. Returns what the steps wrote to the job summary."""
    workflow = yaml.safe_load((project / ".github/workflows/gemini-tuning.yml").read_text())
    github.mkdir(parents=True, exist_ok=True)
    files = {name: github / name.lower() for name in ("GITHUB_STEP_SUMMARY", "GITHUB_ENV")}
    for path in files.values():
        path.write_text("")
    # actions/setup-python puts a `python` on PATH: the interpreter these tests run on.
    setup_python = github / "setup-python"
    setup_python.mkdir(exist_ok=True)
    (setup_python / "python").unlink(missing_ok=True)
    (setup_python / "python").symlink_to(Path(sys._base_executable).resolve())
    step_env = {
        **env,
        "PATH": f"{setup_python}:{env['PATH']}",
        **{name: str(path) for name, path in files.items()},
        "MAX_TUNING_COST_USD": "200",
        "GITHUB_EVENT_NAME": "workflow_dispatch",
    }
    for job in ("preview", "up"):
        for step in workflow["jobs"][job]["steps"]:
            name, run = str(step.get("name", "")), step.get("run")
            if run is None or name in GITHUB_ONLY or not _runs_here(step.get("if")):
                continue
            script = run.replace("${{ matrix.stack }}", "dev")
            done = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", script],
                cwd=project,
                env=step_env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            assert done.returncode == 0, f"{job}: {name}:\n{done.stdout}\n{done.stderr}"
            assert "${{" not in script, f"{job}: {name}: an expression this test cannot run"
    return files["GITHUB_STEP_SUMMARY"].read_text()
