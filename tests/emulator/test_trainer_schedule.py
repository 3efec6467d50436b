"""The trainer reads the jobs only when one can have changed: every request calls advance_all, so
reading every job each time made 50 polling jobs cost the emulator more CPU than the provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.emulator._config import EmulatorConfig
from gemini_tuning.emulator._store import Resource, Store
from gemini_tuning.emulator._trainer import Trainer

START, SPE, EPOCHS = 1000.0, 2.0, 3


@pytest.fixture
def trainer(tmp_path: Path) -> Iterator[Trainer]:
    store = Store(tmp_path / "state.sqlite3")
    trainer = Trainer(store, EmulatorConfig(), lambda: "127.0.0.1:9", _succeeded)
    yield trainer
    trainer.stop()
    store.close()


def _succeeded(_res: Resource, _at: float) -> dict[str, Any]:
    return {"model": "projects/p/locations/l/models/1@1", "endpoint": "projects/p/endpoints/1"}


def _job(trainer: Trainer) -> str:
    internal = {"created": START - 1, "start": START, "spe": SPE, "epochs": EPOCHS}
    internal["steps_per_epoch"] = 4
    data = {"state": "JOB_STATE_PENDING", "supervisedTuningSpec": {}}
    trainer.store.put(Resource("jobs/1", "tuningJob", "p", data, internal))
    return "jobs/1"


def _reads(trainer: Trainer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    find = trainer.store.find

    def counted(kind: str, parent: str | None = None) -> list[Resource]:
        reads.append(kind)
        return find(kind, parent)

    monkeypatch.setattr(trainer.store, "find", counted)
    return reads


def _state(trainer: Trainer, name: str) -> str:
    found = trainer.store.get(name)
    assert found is not None
    return str(found.data["state"])


def test_jobs_are_read_when_a_change_is_due_or_a_job_was_written(
    trainer: Trainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _job(trainer)
    reads = _reads(trainer, monkeypatch)
    trainer.advance_all(START - 0.5)  # a job was written: read
    trainer.advance_all(START - 0.2)  # nothing due before the start
    assert (len(reads), _state(trainer, name)) == (1, "JOB_STATE_PENDING")
    trainer.advance_all(START + 0.1)  # the start was due
    trainer.advance_all(START + SPE - 0.01)  # the first epoch ends at START + SPE
    assert (len(reads), _state(trainer, name)) == (2, "JOB_STATE_RUNNING")
    for epoch in range(1, EPOCHS):
        trainer.advance_all(START + epoch * SPE)
    assert len(reads) == 2 + EPOCHS - 1
    trainer.advance_all(START + EPOCHS * SPE)  # the end, exactly
    assert _state(trainer, name) == "JOB_STATE_SUCCEEDED"
    trainer.advance_all(START + 100)
    assert len(reads) == 2 + EPOCHS  # nothing active, nothing written: nothing read


def test_a_write_between_scheduled_changes_is_seen_at_the_next_request(
    trainer: Trainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _job(trainer)
    trainer.advance_all(START + 0.1)
    reads = _reads(trainer, monkeypatch)
    trainer.advance_all(START + 0.2)
    assert reads == []
    job = trainer.store.get(name)
    assert job is not None
    job.internal["cancel_at"] = START + 0.3
    trainer.store.put(job)
    trainer.advance_all(START + 0.4)
    assert reads == ["tuningJob"]
    assert _state(trainer, name) == "JOB_STATE_CANCELLING"


def test_a_job_cancelled_before_its_data_was_read_is_cancelled(trainer: Trainer) -> None:
    """No epochs or steps are known yet: no checkpoint, and no error."""
    internal = {"created": START - 1, "spe": SPE, "cancel_at": START}
    data = {"state": "JOB_STATE_PENDING", "supervisedTuningSpec": {}}
    trainer.store.put(Resource("jobs/2", "tuningJob", "p", data, internal))
    trainer.advance_all(START + 10)
    assert _state(trainer, "jobs/2") == "JOB_STATE_CANCELLED"


def test_each_checkpoint_is_deployed_once_as_training_reaches_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite3")
    deployed: list[str] = []

    def deploy(res: Resource, checkpoints: list[dict[str, Any]]) -> None:
        known = res.internal.setdefault("checkpoint_endpoints", {})
        for cp in checkpoints:
            if cp["checkpointId"] not in known:
                known[cp["checkpointId"]] = f"endpoints/{cp['checkpointId']}"
                deployed.append(cp["checkpointId"])

    trainer = Trainer(store, EmulatorConfig(), lambda: "127.0.0.1:9", _succeeded, deploy)
    try:
        name = _job(trainer)
        trainer.advance_all(START + SPE + 0.1)
        assert deployed == ["1"]
        assert "tunedModel" not in (store.get(name) or Resource("", "", "", {}, {})).data
        trainer.advance_all(START + EPOCHS * SPE)
        assert deployed == ["1", "2", "3"]
        done = store.get(name)
        assert done is not None
        assert [c["endpoint"] for c in done.data["tunedModel"]["checkpoints"]] == [
            "endpoints/1",
            "endpoints/2",
            "endpoints/3",
        ]
    finally:
        trainer.stop()
        store.close()
