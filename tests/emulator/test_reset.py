"""A full reset gives the emulator as it started, on the same ports: what lets the engine tests
share one emulator process (tests/engine/conftest.py `emulator`)."""

from __future__ import annotations

from pathlib import Path

from google.cloud import aiplatform_v1

from gemini_tuning.testing import run_emulator
from tests.support.emulator import dataset_lines, gapic, new_job, wait_job


def test_a_full_reset_forgets_resources_objects_settings_and_counts(tmp_path: Path) -> None:
    with run_emulator(tmp_path / "emu", seconds_per_epoch=0.02) as emu:
        started = emu.configure()
        uri = emu.upload(("\n".join(dataset_lines()) + "\n").encode(), "gs://data/train.jsonl")
        tuning = gapic(emu, aiplatform_v1.GenAiTuningServiceClient)
        wait_job(tuning, new_job(tuning, emu, uri, epochs=1).name)
        new_job(tuning, emu, uri, epochs=1)  # still being read or trained at the reset
        emu.configure(max_running_jobs=1, tuning_job_list_filter="refuse")
        emu.add_fault("503", method="GetModel")

        emu.reset(gcs=True, settings=True)

        assert emu.configure() == started
        assert list(tuning.list_tuning_jobs(parent=emu.parent)) == []
        models = gapic(emu, aiplatform_v1.ModelServiceClient)
        assert list(models.list_models(parent=emu.parent)) == []
        assert [b.name for b in emu.storage_client().list_buckets()] == []
        assert emu.stats()["requests"] == {  # counted from the reset
            "GenAiTuningService.ListTuningJobs": 1,
            "ModelService.ListModels": 1,
        }
