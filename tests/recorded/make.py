"""Makes tests/recorded/emulator-lifecycle.json: the provider's Vertex backend, recorded with
GEMINI_TUNING_RECORD, driving a small lifecycle against a fresh emulator.

    source provider/tools/env.sh && python -m tests.recorded.make [OUT.json]

The result proves the record-and-replay mechanism, not the emulator's fidelity (it is the
emulator held to itself): see tests/recorded/README.md for recording the real service.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from gemini_tuning import _recording
from gemini_tuning.backends._settings import Settings
from gemini_tuning.backends._types import JobRequest, JobStatus, NotFoundError
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import run_emulator
from tests.recorded.replay import _training_file

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "emulator-lifecycle.json"
BUCKET = "recording-data"
TRAINING_URI = f"gs://{BUCKET}/datasets/train.jsonl"
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


def _until_done(backend: VertexBackend, job: JobStatus, timeout: float = 60.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while job.active:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{job.name} still {job.state} after {timeout:g} s")
        time.sleep(0.05)
        job = backend.get_job(job.name)
    return job


def make(out: Path) -> Path:
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_emulator(Path(tmp) / "emulator", seconds_per_epoch=0.05) as emu,
    ):
        emu.upload(_training_file(), TRAINING_URI)
        settings = Settings(
            project=emu.project,
            location=emu.location,
            api_endpoint=emu.url,
            storage_endpoint=emu.gcs_host,
            dataset_bucket=BUCKET,
        )
        before = os.environ.get(_recording.ENV)
        os.environ[_recording.ENV] = str(Path(tmp) / "recordings")
        try:
            lifecycle(VertexBackend(settings))
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
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    print(f"wrote {make(target)}")
