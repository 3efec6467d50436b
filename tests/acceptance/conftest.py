"""The acceptance suite's run: a copied project, its own definitions (every one labelled with the
run id), a local state backend, and the target (Vertex AI or the emulator) — swept in teardown,
after a failure too. See _target.py for how a target is chosen."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from gemini_tuning import backends, catalog
from gemini_tuning.backends import Settings
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.datasets._estimate import price_per_million
from gemini_tuning.specs import RUN_LABEL
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.acceptance._target import SKIP_LINE, Target, TargetError, target
from tests.support.engine import command, copy_project, emulator_stack_config, engine_env

EMULATOR_BUCKET = "gt-acceptance"
# The smallest documented minimum: the supervised-tuning page once required "a minimum of 16
# examples" (https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-
# tuning-about); the current page only recommends starting with 100 (https://docs.cloud.google.
# com/gemini-enterprise-agent-platform/models/tuning/supervised-tuning/prepare-data). 16 is
# accepted either way and costs next to nothing.
MIN_EXAMPLES = 16
TUNING_JOB_TYPE = "TuningJob"
SWEEP_WAIT_MINUTES = "10"


def cheapest_base_model() -> str:
    """The cheapest tunable Vertex model the catalog and the price table know (ties: one with
    no regional restriction, then by name)."""
    priced = [
        (price, bool(model.notes), model.id)
        for model in catalog.VERTEX_MODELS.values()
        if not model.retired and (price := price_per_million(model)) is not None
    ]
    return min(priced)[2]


@pytest.fixture(scope="session")
def acceptance_target() -> Target:
    try:
        found = target()
    except TargetError as err:
        pytest.fail(str(err))
    if found is None:
        pytest.skip(SKIP_LINE)
    return found


class AcceptanceRun:
    """One run: project copy, models dir, stacks, the backend to observe, the sweeper."""

    def __init__(
        self,
        root: Path,
        pulumi_bin: Path,
        tgt: Target,
        emu: EmulatorProcess | None,
        *,
        bucket: str = EMULATOR_BUCKET,
    ) -> None:
        self.target = tgt
        self.emu = emu
        self.run_id = f"acc-{uuid.uuid4().hex[:10]}"
        self.pulumi_bin = pulumi_bin
        self.project = copy_project(root / "project")
        self.models = root / "models"
        self.models.mkdir()
        self.env = {**os.environ, **engine_env(root, pulumi_bin)}
        self.base_model = cheapest_base_model()
        if emu is not None:
            self.settings = Settings(
                project=emu.project,
                location=emu.location,
                api_endpoint=emu.url,
                storage_endpoint=emu.gcs_host,
                dataset_bucket=bucket,
            )
            self.config = emulator_stack_config(emu, bucket)
        else:
            assert tgt.project
            assert tgt.location
            assert tgt.bucket
            self.config = {
                "gemini-tuning:project": tgt.project,
                "gemini-tuning:location": tgt.location,
                "gemini-tuning:datasetBucket": tgt.bucket,
            }
            self.settings = backends.resolve(self.config)
        self.vertex = VertexBackend(self.settings)

    # -- definitions ---------------------------------------------------------------------------

    def define(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        learning_rate_multiplier: float = 1.0,
    ) -> Path:
        """``models/<name>.yaml``: the cheapest settings, labelled with the run id; its data
        holds the run id, so its upload is this run's own object."""
        data = self.models / f"{name}.jsonl"
        lines = []
        for i in range(MIN_EXAMPLES):
            question = f"{self.run_id} {name}: what follows {i}?"
            lines.append(
                json.dumps(
                    {
                        "contents": [
                            {"role": "user", "parts": [{"text": question}]},
                            {"role": "model", "parts": [{"text": str(i + 1)}]},
                        ]
                    }
                )
            )
        data.write_text("\n".join(lines) + "\n")
        definition = {
            "version": 1,
            "description": f"acceptance run {self.run_id}",
            "backend": "vertex",
            "base_model": self.base_model,
            "datasets": {"training": data.name},
            "hyperparameters": {
                "epoch_count": 1,
                "learning_rate_multiplier": learning_rate_multiplier,
            },
            "labels": {RUN_LABEL: self.run_id, "suite": "acceptance", **(labels or {})},
        }
        path = self.models / f"{name}.yaml"
        path.write_text(yaml.safe_dump(definition, sort_keys=False))
        return path

    # -- stacks --------------------------------------------------------------------------------

    def stack(self, name: str, config: Mapping[str, str]) -> auto.Stack:
        opts = auto.LocalWorkspaceOptions(
            env_vars=self.env, pulumi_command=command(self.pulumi_bin)
        )
        stack = auto.create_or_select_stack(name, work_dir=str(self.project), opts=opts)
        values = {**self.config, "gemini-tuning:modelsDir": str(self.models), **config}
        stack.set_all_config({key: auto.ConfigValue(value) for key, value in values.items()})
        return stack

    def pulumi(self, *args: str, stack: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pulumi", *args, "--stack", stack, "--non-interactive", "--color", "never"],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def estimated_usd(self, stack: str) -> float:
        """Preview (JSON) and sum the cost_estimate of every TuningJob it would submit; print
        it, and fail before anything is submitted if it is above GEMINI_TUNING_LIVE_MAX_USD."""
        preview = self.pulumi("preview", "--json", stack=stack)
        assert preview.returncode == 0, preview.stdout + preview.stderr
        steps = json.loads(preview.stdout).get("steps") or []
        costs: dict[str, float] = {}
        for step in steps:
            state = step.get("newState") or {}
            urn = str(step.get("urn", ""))
            if step.get("op") not in ("create", "replace", "create-replacement"):
                continue
            if TUNING_JOB_TYPE not in urn and not str(state.get("type", "")).endswith(
                TUNING_JOB_TYPE
            ):
                continue
            estimate = (state.get("inputs") or {}).get("cost_estimate") or {}
            usd = estimate.get("usd")
            assert usd is not None, f"{urn}: no cost estimate ({estimate}): refusing to submit"
            costs[urn] = float(usd)
        total = sum(costs.values())
        ceiling = self.target.max_usd
        print(
            f"[acceptance {self.run_id}] {stack}: estimated tuning cost ${total:.4f} "
            f"for {len(costs)} job(s) (ceiling: {'none' if ceiling is None else f'${ceiling}'})"
        )
        if ceiling is not None and total > ceiling:
            pytest.fail(
                f"estimated cost ${total:.4f} is above GEMINI_TUNING_LIVE_MAX_USD=${ceiling}: "
                "nothing was submitted"
            )
        return total

    @contextlib.contextmanager
    def phase(self, what: str) -> Iterator[None]:
        """Prints how long ``what`` took (for the log; nothing asserts on it)."""
        started = time.monotonic()
        yield
        print(f"[acceptance {self.run_id}] {what}: {time.monotonic() - started:.1f} s")

    # -- the sweeper ---------------------------------------------------------------------------

    def sweep(self, *args: str, select: Sequence[str] = ()) -> dict[str, Any]:
        """`gemini-tuning sweep --run-id <this run> --json ...` (or ``select`` instead of the
        run id), as a person runs it, in the project directory."""
        env = {
            **self.env,
            "GEMINI_TUNING_PROJECT": self.settings.project,
            "GEMINI_TUNING_LOCATION": self.settings.location,
            "GEMINI_TUNING_API_ENDPOINT": self.settings.api_endpoint,
            "GEMINI_TUNING_DATASET_BUCKET": str(self.settings.dataset_bucket),
        }
        if self.settings.storage_endpoint:
            env["STORAGE_EMULATOR_HOST"] = self.settings.storage_endpoint
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "gemini_tuning.cli",
                "sweep",
                *(select or ("--run-id", self.run_id)),
                "--json",
                "--wait-minutes",
                SWEEP_WAIT_MINUTES,
                *args,
            ],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"sweep {args}: {done.stdout}\n{done.stderr}"
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    # -- observing the target ------------------------------------------------------------------

    def leftovers(self) -> dict[str, list[str]]:
        """What of this run the target still holds that a sweep must remove: active jobs,
        endpoints, model versions (by label), objects (its uploads and release records)."""
        jobs = [j for j in self.vertex.list_all_jobs() if j.labels.get(RUN_LABEL) == self.run_id]
        endpoints = self.vertex.list_endpoints()
        models = self.vertex.list_all_model_versions()
        objects = []
        client = self._storage()
        for job in jobs:
            uri = str(job.declared.get("training_dataset") or "")
            bucket, _, name = uri.removeprefix("gs://").partition("/")
            if uri.startswith("gs://") and client.bucket(bucket).blob(name).exists():
                objects.append(uri)
        names = {j.name for j in jobs}
        for blob in client.list_blobs(str(self.settings.dataset_bucket), prefix="gemini-tuning/"):
            if blob.name.endswith(".json") and "/releases/" in f"/{blob.name}":
                record = json.loads(blob.download_as_bytes())
                if record.get("job") in names:
                    objects.append(f"gs://{blob.bucket.name}/{blob.name}")
        return {
            "active_jobs": [j.name for j in jobs if j.active],
            "endpoints": [e.name for e in endpoints if e.labels.get(RUN_LABEL) == self.run_id],
            "models": [m.name for m in models if m.labels.get(RUN_LABEL) == self.run_id],
            "objects": objects,
        }

    def _storage(self) -> Any:
        from gemini_tuning.backends._storage import storage_client

        return storage_client(self.settings)


@pytest.fixture
def acceptance_run(
    tmp_path: Path, pulumi_bin: Path, acceptance_target: Target
) -> Iterator[AcceptanceRun]:
    """A run on the target; swept in teardown whatever happened (the sweeper's own check)."""
    emu_context = None
    emu = None
    if not acceptance_target.live:
        emu_context = run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05)
        emu = emu_context.__enter__()
        emu.storage_client().create_bucket(EMULATOR_BUCKET)
    try:
        run = AcceptanceRun(tmp_path, pulumi_bin, acceptance_target, emu)
        print(f"[acceptance] run id {run.run_id} on {acceptance_target.kind}")
        try:
            yield run
        finally:
            swept = run.sweep("--yes")
            print(f"[acceptance {run.run_id}] teardown sweep: {json.dumps(swept)}")
    finally:
        if emu_context is not None:
            emu_context.__exit__(*sys.exc_info())
