"""State recorded by an earlier version, replayed against this code: the pickled providers still
load (they are pickled by reference: module and class names are a compatibility promise), and
preview shows no change. Re-record only when a change is intended, with `--record`:

    GT_RECORD_STATE=1 python -m pytest tests/engine/test_recorded_state.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import Run, emulator_config, inline_stack

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

RECORDED = Path(__file__).parent / "recorded"
REPO = Path(__file__).resolve().parents[2]
DATA = "tests/engine/recorded/train.jsonl"  # relative: the program and provider run in the repo


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def recorded_program() -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TunedModel, TuningJob

        job = TuningJob(
            "qa",
            base_model="gemini-2.5-flash",
            training_dataset=DATA,
            epoch_count=2,
            adapter_size=4,
            labels={"team": "search"},
            poll_interval_seconds=0.2,
        )
        TunedModel(
            "qa-model",
            model=job.tuned_model,
            endpoint=job.tuned_model_endpoint,
            version_aliases=["dev"],
            description="recorded",
        )
        pulumi.export("model", job.tuned_model)

    return program


def _work_dir(tmp: Path) -> Path:
    work = tmp / "engine"
    work.mkdir(parents=True, exist_ok=True)
    return work


@pytest.mark.parametrize("version", sorted(p.name for p in RECORDED.glob("v*")))
def test_recorded_state_loads_and_previews_without_changes(
    version: str, tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    deployment = json.loads((RECORDED / version / "deployment.json").read_text())
    with inline_stack(
        _work_dir(tmp_path), pulumi_bin, recorded_program(), config=emulator_config(emulator)
    ) as stack:
        from pulumi import automation as auto

        stack.import_stack(auto.Deployment(version=3, deployment=deployment))
        run = Run()
        stack.preview(expect_no_changes=True, **run.kwargs())
        types = {r["type"] for r in stack.export_stack().deployment["resources"]}
        assert {
            "pulumi-python:dynamic/vertex:TuningJob",
            "pulumi-python:dynamic/vertex:TunedModel",
        } <= types


@pytest.mark.parametrize("version", sorted(p.name for p in RECORDED.glob("v*")))
def test_recorded_providers_unpickle_with_this_code(version: str) -> None:
    """Refresh and destroy run the provider pickled in the old state: it must still load."""
    import base64

    import dill  # type: ignore[import-untyped]

    deployment = json.loads((RECORDED / version / "deployment.json").read_text())
    dynamic = [r for r in deployment["resources"] if r["type"].startswith("pulumi-python:dynamic")]
    assert len(dynamic) == 2
    for resource in dynamic:
        provider = dill.loads(base64.b64decode(resource["outputs"]["__provider"]))  # noqa: S301 - our own committed state
        assert type(provider).__name__ == resource["type"].rsplit(":", 1)[1] + "Provider"
        assert vars(provider) == {}


@pytest.mark.skipif(
    os.environ.get("GT_RECORD_STATE") != "1", reason="records state on request only"
)
def test_record_state(tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess) -> None:
    from gemini_tuning import __version__

    with inline_stack(
        _work_dir(tmp_path), pulumi_bin, recorded_program(), config=emulator_config(emulator)
    ) as stack:
        stack.up(color="never")
        deployment = stack.export_stack().deployment
    target = RECORDED / f"v{__version__}"
    target.mkdir(exist_ok=True)
    (target / "deployment.json").write_text(json.dumps(deployment, indent=1, sort_keys=True) + "\n")
