"""Test helpers for code that talks to Vertex AI tuning: a real emulator in a subprocess.

    from gemini_tuning.testing import run_emulator

    with run_emulator(tmp_path, seconds_per_epoch=0.05) as emu:
        emu.upload("train.jsonl", "gs://bucket/train.jsonl")
        client = GenAiTuningServiceClient(transport="rest", client_options=emu.client_options,
                                          credentials=AnonymousCredentials())
        ...
        assert emu.stats()["requests"].get("GenAiTuningService.CreateTuningJob") == 1

The emulator (and its GCS emulator) listen on free loopback ports; state lives under the given
directory, so `restart()` keeps jobs, models and endpoints. See
docs/guides/emulator.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gemini_tuning.emulator._config import DEFAULT_LOCATION, DEFAULT_PROJECT, project_number
from gemini_tuning.emulator._faults import rate_rules

START_TIMEOUT = 30.0


class EmulatorProcess:
    """A running emulator subprocess. Use `run_emulator()` rather than this class directly."""

    def __init__(
        self,
        state_dir: Path,
        *,
        seconds_per_epoch: float = 0.05,
        project: str = DEFAULT_PROJECT,
        location: str = DEFAULT_LOCATION,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.state_dir = Path(state_dir)
        self.seconds_per_epoch = seconds_per_epoch
        self.project = project
        self.location = location
        self.extra_args = extra_args
        self.url = ""
        self.gcs_host = ""
        self.port = 0
        self.gcs_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    # --- addresses ------------------------------------------------------------------------------

    @property
    def project_number(self) -> str:
        """The number that resource names carry for `project`."""
        return project_number(self.project)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def client_options(self) -> dict[str, str]:
        """For aiplatform_v1 GAPIC clients (with transport="rest", AnonymousCredentials)."""
        return {"api_endpoint": self.url}

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process whose Google storage client should reach the GCS emulator."""
        return {"STORAGE_EMULATOR_HOST": self.gcs_host}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> EmulatorProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        info = self.state_dir / "emulator.json"
        info.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "gemini_tuning.emulator", "run",
            "--state-dir", str(self.state_dir),
            "--port", str(self.port), "--gcs-port", str(self.gcs_port),
            "--seconds-per-epoch", str(self.seconds_per_epoch), *self.extra_args,
        ]  # fmt: skip
        log = (self.state_dir / "emulator.log").open("ab")
        self._proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"the emulator exited with {self._proc.returncode}; see "
                    f"{self.state_dir / 'emulator.log'}"
                )
            try:
                data = json.loads(info.read_text())
            except (OSError, ValueError):
                data = {}
            if data.get("pid") == self._proc.pid:
                self.url, self.gcs_host = data["url"], data["gcs_host"]
                self.port = int(self.url.rsplit(":", 1)[1])
                self.gcs_port = int(self.gcs_host.rsplit(":", 1)[1])
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the emulator did not start within {START_TIMEOUT:g}s")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> EmulatorProcess:
        """Stop and start again on the same ports with the same state."""
        self.stop()
        return self.start()

    # --- admin surface --------------------------------------------------------------------------

    def _admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 - loopback URL built here
            f"{self.url}{path}",
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        """{"requests": {"GenAiTuningService.CreateTuningJob": 1, ...}, "total": n, ...}"""
        result: dict[str, Any] = self._admin("/emulator/stats")
        return result

    def calls(self, rpc: str) -> int:
        """How many requests reached ``rpc`` (e.g. "GenAiTuningService.CreateTuningJob")."""
        return int(self.stats()["requests"].get(rpc, 0))

    def reset_stats(self) -> None:
        self._admin("/emulator/stats", {})

    def reset(self, *, gcs: bool = False, settings: bool = False) -> None:
        """Forget every job, model, endpoint, operation and count; with ``gcs=True`` every GCS
        object and bucket too, with ``settings=True`` every setting changed since the start
        (faults included). Both: the emulator as it started, on the same ports."""
        self._admin("/emulator/reset", {"gcs": gcs, "settings": settings})

    def set_faults(
        self,
        *,
        fail_next: Sequence[int] = (),
        rate_429: float = 0.0,
        rate_503: float = 0.0,
        method: str = "",
        latency_ms: float | None = None,
    ) -> dict[str, Any]:
        """Replace the fault rules (emulator/_faults.py) by shorthands: ``fail_next=[503, 429]``
        answers the next two requests so, then ``rate_429`` / ``rate_503`` that share of every
        request; only RPCs whose name contains ``method`` ("" = all). ``latency_ms`` delays
        every answer. For answers after the handler, use add_fault."""
        rules = [{"answer": str(code), "method": method, "next": 1} for code in fail_next]
        rules += [{**rule, "method": method} for rule in rate_rules(rate_429, rate_503)]
        settings: dict[str, Any] = {"faults": rules}
        if latency_ms is not None:
            settings["latency_ms"] = latency_ms
        return self.configure(**settings)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Any emulator setting, e.g. configure(seconds_per_epoch=0.01)."""
        result: dict[str, Any] = self._admin("/emulator/config", settings)
        return result

    def add_fault(
        self,
        answer: str,
        *,
        method: str = "",
        when: str = "before",
        next: int | None = None,
        rate: float = 1.0,
    ) -> dict[str, Any]:
        """Add a fault rule (emulator/_faults.py): e.g. add_fault("503", method=
        "CreateTuningJob", when="after", next=1) applies the next create, then answers 503."""
        rule: dict[str, Any] = {"answer": answer, "method": method, "when": when, "rate": rate}
        if next is not None:
            rule["next"] = next
        faults = list(self._admin("/emulator/config")["faults"])
        return self.configure(faults=[*faults, rule])

    def clear_faults(self) -> None:
        self.configure(faults=[])

    def job_metrics(self, job: str) -> dict[str, Any]:
        """Epoch progress and loss curve of a tuning job (name or numeric ID)."""
        result: dict[str, Any] = self._admin(f"/emulator/tuningJobs/{job.rsplit('/', 1)[-1]}")
        return result

    # --- GCS ------------------------------------------------------------------------------------

    def storage_client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.gcs_host},
        )

    def upload(self, local_path: str | os.PathLike[str] | bytes, gs_uri: str) -> str:
        """Upload a file (or bytes) to ``gs://bucket/object`` on the GCS emulator; creates the
        bucket if needed. Returns the URI."""
        from google.api_core import exceptions as gexc

        bucket_name, _, blob_name = gs_uri.removeprefix("gs://").partition("/")
        if not gs_uri.startswith("gs://") or not bucket_name or not blob_name:
            raise ValueError(f"not a gs://bucket/object URI: {gs_uri!r}")
        client = self.storage_client()
        try:
            bucket = client.get_bucket(bucket_name)
        except gexc.NotFound:
            bucket = client.create_bucket(bucket_name)
        blob = bucket.blob(blob_name)
        if isinstance(local_path, bytes):
            blob.upload_from_string(local_path)
        else:
            blob.upload_from_filename(os.fspath(local_path))
        return gs_uri


@contextmanager
def run_emulator(
    state_dir: str | os.PathLike[str],
    *,
    seconds_per_epoch: float = 0.05,
    project: str = DEFAULT_PROJECT,
    location: str = DEFAULT_LOCATION,
    rate_429: float = 0.0,
    rate_503: float = 0.0,
    latency_ms: float = 0.0,
    **settings: Any,
) -> Iterator[EmulatorProcess]:
    """Start the emulator and its GCS emulator in a subprocess on free loopback ports; any
    other emulator setting (``progress_extras=True``, ``max_running_jobs=4``, ...) is applied
    once it runs."""
    extra: list[str] = []
    if rate_429:
        extra += ["--rate-429", str(rate_429)]
    if rate_503:
        extra += ["--rate-503", str(rate_503)]
    if latency_ms:
        extra += ["--latency-ms", str(latency_ms)]
    emu = EmulatorProcess(
        Path(state_dir),
        seconds_per_epoch=seconds_per_epoch,
        project=project,
        location=location,
        extra_args=tuple(extra),
    )
    emu.start()
    try:
        if settings:
            emu.configure(**settings)
        yield emu
    finally:
        emu.stop()


# --- hooks in the provider's own process -----------------------------------------------------
# The engine starts the dynamic provider in a process of its own, so a test cannot hand it an
# object. These write a `sitecustomize.py` that Python imports at the start of every process
# run with its directory on PYTHONPATH (the engine passes its environment on), and that installs
# the hooks through the seams the modules offer: nothing in the product reads a test variable.

_SITECUSTOMIZE = """\
# Written by gemini_tuning.testing.provider_hooks for a test or a benchmark.
from gemini_tuning.testing import install_provider_hooks

install_provider_hooks(clock_scale={clock_scale!r}, dataset_read_log={dataset_read_log!r})
"""


def provider_hooks(
    directory: str | os.PathLike[str],
    *,
    clock_scale: float | None = None,
    dataset_read_log: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """The environment that installs these hooks in every Python process it starts (give it to
    the stack, e.g. ``inline_stack(..., env=provider_hooks(tmp_path / "hooks", ...))``):
    ``clock_scale`` runs the provider's waits that many times faster than real time;
    ``dataset_read_log`` names a file to which each real dataset read (a fingerprint-cache
    miss) appends the dataset's path."""
    where = Path(directory)
    where.mkdir(parents=True, exist_ok=True)
    log = None if dataset_read_log is None else str(Path(dataset_read_log).absolute())
    (where / "sitecustomize.py").write_text(
        _SITECUSTOMIZE.format(clock_scale=clock_scale, dataset_read_log=log), encoding="utf-8"
    )
    path = os.pathsep.join(p for p in (str(where.absolute()), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


def install_provider_hooks(
    *, clock_scale: float | None = None, dataset_read_log: str | None = None
) -> None:
    """What provider_hooks' sitecustomize runs in each process (see there)."""
    if clock_scale is not None:
        from gemini_tuning.resources import _wait

        _wait.set_clock(_wait.Clock(scale=clock_scale))
    if dataset_read_log is not None:
        log_dataset_reads(dataset_read_log)


def log_dataset_reads(log: str | os.PathLike[str] | None) -> None:
    """Append the path of each real dataset read of this process to ``log`` (None: stop)."""
    from gemini_tuning.datasets import _cache

    if log is None:
        _cache.set_read_observer(None)
        return
    target = Path(log)

    def append(path: Path) -> None:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(f"{path}\n")  # one short write: lines of threads do not interleave

    _cache.set_read_observer(append)


def __getattr__(name: str) -> Any:
    """``Probe``: the dynamic resource that calls no API (resources/probe.py), the engine's floor
    in the benchmarks and the plumbing check of the tests; loaded on use (it imports Pulumi)."""
    if name == "Probe":
        from gemini_tuning.resources.probe import Probe

        return Probe
    raise AttributeError(f"module 'gemini_tuning.testing' has no attribute {name!r}")
