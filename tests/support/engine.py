"""Driving the real Pulumi engine through the Automation API, offline, in a temp directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
from pulumi import automation as auto

from gemini_tuning._state import local_backend_url
from gemini_tuning.testing import EmulatorProcess

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "engine-tests"


def engine_env(root: Path, pulumi_bin: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    (root / "backend").mkdir(parents=True, exist_ok=True)
    env = {
        "PULUMI_BACKEND_URL": local_backend_url(root / "backend"),
        "PULUMI_HOME": str(root / "pulumi-home"),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PATH": os.pathsep.join(
            [str(pulumi_bin), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
    }
    env.update(extra or {})
    return env


def command(pulumi_bin: Path) -> auto.PulumiCommand:
    return auto.PulumiCommand(root=str(pulumi_bin.parent), skip_version_check=False)


def copy_project(dest: Path) -> Path:
    """The repo's Pulumi project (Pulumi.yaml + stacks/) in ``dest``, using the repo's venv."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", dest / "Pulumi.yaml")
    shutil.copytree(
        REPO / "stacks",
        dest / "stacks",
        ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__", ".venv"),
    )
    (dest / ".venv").symlink_to(Path(sys.prefix))
    (dest / "stacks" / ".venv").symlink_to(Path(sys.prefix))
    return dest


@dataclass
class Run:
    """Collects what the engine printed and its events, for assertions."""

    output: list[str] = field(default_factory=list)
    events: list[auto.EngineEvent] = field(default_factory=list)

    @property
    def diagnostics(self) -> list[str]:
        """What providers wrote to stderr (progress, reasons), as the engine forwarded it."""
        return [e.diagnostic_event.message for e in self.events if e.diagnostic_event]

    @property
    def text(self) -> str:
        return "\n".join([*self.output, *self.diagnostics])

    def kwargs(self) -> dict[str, Any]:
        return {"on_output": self.output.append, "on_event": self.events.append, "color": "never"}


@contextmanager
def inline_stack(
    tmp: Path,
    pulumi_bin: Path,
    program: Callable[[], None],
    *,
    project: str = "gt-it",
    stack: str = "it",
    env: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
) -> Iterator[auto.Stack]:
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(tmp),
        env_vars=engine_env(tmp, pulumi_bin, env),
        pulumi_command=command(pulumi_bin),
        project_settings=auto.ProjectSettings(
            name=project,
            runtime=auto.ProjectRuntimeInfo(name="python", options={"virtualenv": sys.prefix}),
        ),
    )
    created = auto.create_or_select_stack(stack, project_name=project, program=program, opts=opts)
    for key, value in (config or {}).items():
        created.set_config(key, auto.ConfigValue(value))
    yield created


@contextmanager
def project_stack(
    tmp: Path,
    pulumi_bin: Path,
    *,
    stack: str = "it",
    env: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
) -> Iterator[auto.Stack]:
    work_dir = copy_project(tmp / "project")
    opts = auto.LocalWorkspaceOptions(
        env_vars=engine_env(tmp, pulumi_bin, env), pulumi_command=command(pulumi_bin)
    )
    created = auto.create_or_select_stack(stack, work_dir=str(work_dir), opts=opts)
    for key, value in (config or {}).items():
        created.set_config(key, auto.ConfigValue(value))
    yield created


def job_inputs(data: Path, **overrides: Any) -> dict[str, Any]:
    """The inputs of the small TuningJob the lifecycle tests declare (3 epochs, adapter 4)."""
    return {
        "base_model": "gemini-2.5-flash",
        "training_dataset": str(data),
        "epoch_count": 3,
        "adapter_size": 4,
        "labels": {"team": "search"},
        "poll_interval_seconds": 0.2,
        **overrides,
    }


def emulator_stack_config(emu: Any, bucket: str) -> dict[str, str]:
    """The stack config that points the provider at the emulator ``emu`` (polling fast)."""
    return {
        "gemini-tuning:apiEndpoint": emu.url,
        "gemini-tuning:storageEndpoint": emu.gcs_host,
        "gemini-tuning:project": emu.project,
        "gemini-tuning:location": emu.location,
        "gemini-tuning:datasetBucket": bucket,
        "gemini-tuning:pollIntervalSeconds": "0.2",
    }


def emulator_project_stack(
    project: Path,
    env: dict[str, str],
    pulumi_bin: Path,
    emu: Any,
    name: str,
    *,
    bucket: str,
    config: dict[str, str],
) -> auto.Stack:
    """Stack ``name`` of a copied project, pointed at the emulator ``emu`` (polling fast)."""
    opts = auto.LocalWorkspaceOptions(env_vars=env, pulumi_command=command(pulumi_bin))
    stack = auto.create_or_select_stack(name, work_dir=str(project), opts=opts)
    for key, value in {**emulator_stack_config(emu, bucket), **config}.items():
        stack.set_config(key, auto.ConfigValue(value))
    return stack


def resources_of(stack: auto.Stack, type_suffix: str) -> list[dict[str, Any]]:
    deployment = stack.export_stack().deployment or {}
    return [
        r for r in deployment.get("resources", []) if str(r.get("type", "")).endswith(type_suffix)
    ]


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc), whatever its process group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)"
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, frontier = [], [root]
    while frontier:
        below = children.get(frontier.pop(), [])
        found += below
        frontier += below
    return found


def kill_process_tree(child: subprocess.Popen[Any], *, timeout: float = 30.0) -> list[int]:
    """SIGKILL ``child`` and everything below it at once, as a lost CI runner or a closed laptop
    would, and wait until every one of them is gone. The engine starts each plugin in a process
    group of its own, so killing the group is not enough: the tree is first frozen (SIGSTOP,
    until no new process appears: a stopped process cannot fork), then killed. Returns the pids.
    """
    frozen: list[int] = []
    while True:
        new = [p for p in [child.pid, *descendants(child.pid)] if p not in frozen]
        if not new:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        frozen += new
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    child.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while alive := [pid for pid in frozen if _running(pid)]:
        assert time.monotonic() < deadline, f"processes outlived SIGKILL: {alive}"
        time.sleep(0.05)
    return frozen


def _running(pid: int) -> bool:
    """Whether ``pid`` still exists and is not a zombie (its parent, now init, reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


JOB_READS = ("GenAiTuningService.GetTuningJob", "GenAiTuningService.ListTuningJobs")


def job_reads(emu: Any) -> int:
    """Gets and lists of tuning jobs the emulator answered so far (a wait polls with either)."""
    return sum(emu.calls(rpc) for rpc in JOB_READS)


def wait_until(
    what: str, ready: Callable[[], bool], child: subprocess.Popen[Any], seconds: float = 120
) -> None:
    """Poll ``ready()`` until true; fail if ``child`` ends first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not ready():
        assert child.poll() is None, f"the child ended (rc {child.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {seconds:g} s"
        time.sleep(0.1)


BUCKET = "gt-datasets"
CREATE_JOB = "GenAiTuningService.CreateTuningJob"  # its count: how many jobs were paid for


def write_examples(path: Path, count: int = 24, *, topic: str = "capital") -> Path:
    """A small valid Gemini `contents` training file."""
    lines = []
    for i in range(count):
        example = {
            "contents": [
                {"role": "user", "parts": [{"text": f"What is the {topic} of region {i}?"}]},
                {"role": "model", "parts": [{"text": f"The {topic} of region {i} is city {i}."}]},
            ]
        }
        lines.append(json.dumps(example))
    path.write_text("\n".join(lines) + "\n")
    return path


def emulator_config(emu: EmulatorProcess) -> dict[str, str]:
    return {
        "gemini-tuning:apiEndpoint": emu.url,
        "gemini-tuning:storageEndpoint": emu.gcs_host,
        "gemini-tuning:project": emu.project,
        "gemini-tuning:location": emu.location,
        "gemini-tuning:datasetBucket": BUCKET,
    }


def job_program(data: Path, **overrides: Any) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TunedModel, TuningJob

        inputs = job_inputs(data, **overrides)
        job = TuningJob("qa", **inputs)
        model = TunedModel(
            "qa-model",
            model=job.tuned_model,
            endpoint=job.tuned_model_endpoint,
            version_aliases=["dev"],
        )
        pulumi.export(
            "job",
            {
                k: getattr(job, k)
                for k in (
                    "job_name",
                    "job_state",
                    "tuned_model",
                    "tuned_model_endpoint",
                    "effective_epoch_count",
                    "loss_per_epoch",
                    "data_stats",
                    "epochs_completed",
                    "training_dataset_uri",
                )
            },
        )
        pulumi.export("aliases", model.current_aliases)

    return program


def jobs_program(data: Path, count: int, **overrides: Any) -> Callable[[], None]:
    """``count`` small TuningJobs (qa-0, qa-1, ...), their names and states exported."""

    def program() -> None:
        from gemini_tuning import TuningJob

        jobs = []
        for n in range(count):
            inputs: dict[str, Any] = {
                "base_model": "gemini-2.5-flash",
                "training_dataset": str(data),
                "epoch_count": 1,
                "poll_interval_seconds": 0.2,
                "labels": {"emulator-seconds-per-epoch": "0_2"},  # 0.2 s
            }
            inputs.update(overrides)
            jobs.append(TuningJob(f"qa-{n}", **inputs))
        pulumi.export("jobs", [j.job_name for j in jobs])
        pulumi.export("states", [j.job_state for j in jobs])
        pulumi.export("losses", [j.loss_per_epoch for j in jobs])

    return program


def client_options(emu: EmulatorProcess) -> dict[str, Any]:
    return {
        "client_options": emu.client_options,
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
        "transport": "rest",
    }


def jobs_by_resource(emu: EmulatorProcess) -> dict[str, list[str]]:
    """The emulator's tuning jobs, grouped by the declaring resource's identity label."""
    tuning = aiplatform_v1.GenAiTuningServiceClient(**client_options(emu))
    found: dict[str, list[str]] = {}
    for job in tuning.list_tuning_jobs(parent=emu.parent):
        found.setdefault(job.labels["gemini-tuning-name"], []).append(job.name)
    return found


@dataclass
class Project:
    """A Pulumi project directory, its stack ``dev``, and the environment its commands run in."""

    work: Path
    backend: Path
    env: dict[str, str]

    @property
    def stack(self) -> str:
        return f"organization/{self.work.name}/dev"

    @property
    def state_file(self) -> Path:
        return self.backend / ".pulumi" / "stacks" / self.work.name / "dev.json"

    def command(self, *args: str) -> list[str]:
        return ["pulumi", *args, "--stack", self.stack, "--non-interactive", "--color", "never"]

    def run(
        self, *args: str, round_: int = 0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(*args),
            cwd=self.work,
            env={**self.env, "GT_ROUND": str(round_)},
            capture_output=True,
            text=True,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def up(self, round_: int) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", round_=round_)

    def start_up(self, round_: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command("up", "--yes", "--skip-preview"),
            cwd=self.work,
            env={**self.env, "GT_ROUND": str(round_)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def doctor(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gemini_tuning.cli", "doctor", *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )


def pulumi_bin_dir() -> Path | None:
    candidates = [os.environ.get("GT_PULUMI_BIN")]
    state = REPO / ".state" / "pulumi-bin"
    if state.is_file():
        candidates.append(state.read_text().strip())
    on_path = shutil.which("pulumi")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "pulumi").is_file():
            return Path(candidate)
    return None
