"""Makes tests/recorded/emulator-lifecycle.json and emulator-gemini-api-lifecycle.json: the
provider's Vertex and Gemini API backends, recorded with GEMINI_TUNING_RECORD, each driving a
small lifecycle against a fresh emulator.

    source provider/tools/env.sh && python -m tests.recorded.make

The result proves the record-and-replay mechanism, not the emulator's fidelity (it is the
emulator held to itself): see tests/recorded/README.md for recording the real service.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gemini_tuning import _recording
from gemini_tuning.backends import gemini_api
from gemini_tuning.backends._settings import Settings
from gemini_tuning.backends._types import JobRequest, JobStatus, NotFoundError
from gemini_tuning.backends.gemini_api import GeminiApiBackend
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.recorded.replay import _training_file

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "emulator-lifecycle.json"
BUCKET = "recording-data"
TRAINING_URI = f"gs://{BUCKET}/datasets/train.jsonl"
GEMINI_API_BASE = "models/gemini-1.5-flash-001-tuning"
LABELS = {"gemini-tuning-stack": "recording", "gemini-tuning-resource": "capitals"}
NOTE = (
    "Made against the gemini-tuning emulator by `python -m tests.recorded.make`: it proves the "
    "record-and-replay mechanism, not that the emulator matches Vertex AI."
)


def lifecycle(backend: VertexBackend) -> None:
    """Find (none), create a job, poll it to success, read, label, alias, then destroy the
    model (undeploy, delete endpoint and model) and read it again: a 404."""
    backend.find_jobs(LABELS)
    job = backend.submit_job(
        JobRequest(
            display_name="capitals",
            base_model="gemini-2.5-flash",
            pre_tuned_model=None,
            training_uri=TRAINING_URI,
            validation_uri=None,
            labels=LABELS,
            description="capitals of regions",
            epoch_count=2,
            adapter_size=4,
        )
    )
    job = _until_done(backend, job)
    if not job.succeeded or not job.tuned_model:
        raise RuntimeError(f"the job ended {job.state}: {job.error}")
    model = backend.get_model(job.tuned_model)
    backend.update_labels(model.name, lambda labels: {**labels, "stage": "candidate"})
    backend.merge_aliases(model.name, add=["candidate"], remove=[])
    backend.delete_version(model.name, job.endpoint)
    try:
        backend.get_model(model.name)
    except NotFoundError:
        return
    raise RuntimeError(f"{model.name} was still there after delete_version")


def _until_done(
    backend: VertexBackend | GeminiApiBackend, job: JobStatus, timeout: float = 60.0
) -> JobStatus:
    deadline = time.monotonic() + timeout
    while job.active:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{job.name} still {job.state} after {timeout:g} s")
        time.sleep(0.05)
        job = backend.get_job(job.name)
    return job


def gemini_api_lifecycle(backend: GeminiApiBackend) -> None:
    """Find (none), create a tuned model with inline examples, poll it to success, read it, ask
    it something, delete it and read it again: a 404."""
    labels = {
        gemini_api.RESOURCE_LABEL: "recording-capitals-0001",
        gemini_api.SPEC_LABEL: "s" * 20,
        gemini_api.NAME_LABEL: "capitals",
    }
    backend.find_jobs(labels)
    job = backend.submit_job(
        JobRequest(
            display_name="capitals",
            base_model=GEMINI_API_BASE,
            pre_tuned_model=None,
            training_uri="capitals.jsonl",
            validation_uri=None,
            labels=labels,
            description="capitals of regions",
            epoch_count=2,
            batch_size=4,
            learning_rate=0.001,
            inline_examples=[(f"region {i}", f"capital {i}") for i in range(16)],
        )
    )
    job = _until_done(backend, job)
    if not job.succeeded:
        raise RuntimeError(f"the tuned model ended {job.state}: {job.error}")
    backend.get_model(job.name)
    backend.generate(job.name, "region 3", None)
    backend.delete_version(job.name, None)
    try:
        backend.get_model(job.name)
    except NotFoundError:
        return
    raise RuntimeError(f"{job.name} was still there after delete_version")


def _settings(emu: EmulatorProcess) -> Settings:
    return Settings(
        project=emu.project,
        location=emu.location,
        api_endpoint=emu.url,
        storage_endpoint=emu.gcs_host,
        dataset_bucket=BUCKET,
        gemini_api_endpoint=emu.url,
        gemini_api_key="recording-api-key",  # sent as x-goog-api-key: never recorded
    )


LIFECYCLES: dict[str, Callable[[Settings], None]] = {
    "vertex": lambda settings: lifecycle(VertexBackend(settings)),
    "gemini-api": lambda settings: gemini_api_lifecycle(GeminiApiBackend(settings)),
}
OUTPUTS = {"vertex": DEFAULT_OUT, "gemini-api": HERE / "emulator-gemini-api-lifecycle.json"}


def make(out: Path, which: str = "vertex") -> Path:
    """Run the ``which`` lifecycle against a fresh emulator with recording on; write ``out``."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_emulator(Path(tmp) / "emulator", seconds_per_epoch=0.05) as emu,
    ):
        emu.upload(_training_file(), TRAINING_URI)
        before = os.environ.get(_recording.ENV)
        os.environ[_recording.ENV] = str(Path(tmp) / "recordings")
        try:
            LIFECYCLES[which](_settings(emu))
        finally:
            if before is None:
                del os.environ[_recording.ENV]
            else:
                os.environ[_recording.ENV] = before
        (made,) = (Path(tmp) / "recordings").glob("recording-*.json")
        document = json.loads(made.read_text())
    out.write_text(json.dumps({"note": NOTE, **document}, indent=1, sort_keys=True) + "\n")
    return out


if __name__ == "__main__":
    for kind, target in OUTPUTS.items():
        print(f"wrote {make(target, kind)}")
