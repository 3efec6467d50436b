"""backends/gemini_api.py: identity in the tunedModelId, attempts, idempotent create, the
TuningBackend words on tunedModels (against the emulator; no engine)."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from gemini_tuning.backends import (
    BackendError,
    JobRequest,
    JobStatus,
    NotFoundError,
    Settings,
    SubmitUncertainError,
)
from gemini_tuning.backends import gemini_api as ga
from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import BASE, TUTORIAL

pytestmark = pytest.mark.emulator


def backend(emu: EmulatorProcess, key: str | None = "backend-key") -> ga.GeminiApiBackend:
    return ga.GeminiApiBackend(
        Settings(
            project=emu.project,
            location=emu.location,
            api_endpoint=emu.url,
            gemini_api_endpoint=emu.url,
            gemini_api_key=key,
        )
    )


def labels(owner: str, spec: str = "s" * 20) -> dict[str, str]:
    return {
        ga.RESOURCE_LABEL: owner,
        ga.SPEC_LABEL: spec,
        ga.NAME_LABEL: "Number_Successor!model-with-a-long-name",
    }


def request(job_labels: dict[str, str], **overrides: object) -> JobRequest:
    base = JobRequest(
        display_name="numbers",
        base_model=BASE,
        pre_tuned_model=None,
        training_uri="local.jsonl",
        validation_uri=None,
        labels=job_labels,
        epoch_count=2,
        batch_size=4,
        learning_rate=0.001,
        inline_examples=[(p["text_input"], p["output"]) for p in TUTORIAL],
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def wait(b: ga.GeminiApiBackend, name: str) -> JobStatus:
    deadline = time.monotonic() + 20
    while True:
        status = b.get_job(name)
        if not status.active:
            return status
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_tuned_model_id_is_readable_deterministic_and_valid() -> None:
    one = ga.tuned_model_id(labels("a" * 20), 1)
    assert one == ga.tuned_model_id(labels("a" * 20), 1)
    assert one is not None
    assert re.fullmatch(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?", one)
    assert one.startswith("number-successor-")
    assert ga.tuned_model_id(labels("b" * 20), 1) != one
    long_attempt = ga.tuned_model_id(labels("a" * 20), 99999)
    assert long_attempt is not None
    assert len(long_attempt) <= 40
    digest = ga.identity_hash(labels("a" * 20))
    assert digest is not None
    assert ga.attempt_of(f"tunedModels/{one}", digest) == 1
    assert ga.attempt_of("tunedModels/someone-else-1", digest) is None
    assert ga.tuned_model_id({}, 1) is None


def test_mean_loss_per_epoch_groups_snapshots() -> None:
    snapshots = [
        {"step": 1, "meanLoss": 2.0},
        {"step": 2, "meanLoss": 1.0},
        {"step": 3, "epoch": 1, "meanLoss": 0.5},
        {"step": 4, "epoch": 1, "meanLoss": 0.25},
    ]
    assert ga.mean_loss_per_epoch(snapshots) == (1.5, 0.375)
    assert ga.mean_loss_per_epoch([]) == ()


def test_submit_find_attempts_after_failure_and_conflict(emu: EmulatorProcess) -> None:
    b = backend(emu)
    owner = f"{time.time_ns():020d}"[-20:]
    job_labels = labels(owner)
    assert b.find_jobs(job_labels) == []
    failed = b.submit_job(request(job_labels, description="[emulator-fail] on purpose"))
    assert failed.name.endswith("-1")
    done = wait(b, failed.name)
    assert done.state == "FAILED"
    assert done.error is not None
    assert "emulator-fail" in done.error
    second = b.submit_job(request(job_labels, description="the user's own words"))
    assert second.name.endswith("-2")  # a new attempt after a failed one
    found = sorted(j.name for j in b.find_jobs(job_labels))
    assert found == sorted([failed.name, second.name])
    finished = wait(b, second.name)
    assert finished.state == "SUCCEEDED"
    assert finished.percent == 100.0
    assert finished.epoch_count == 2
    assert finished.epochs_done == 2
    assert len(finished.loss_per_epoch) == 2
    assert finished.data_stats == {"steps": 8}  # ceil(15 / 4) * 2
    assert b.get_model(second.name).description == "the user's own words"
    assert b.generate(second.name, "eighty", None) == "eighty one"
    with pytest.raises(BackendError, match="no version aliases"):
        b.merge_aliases(second.name, add=["prod"], remove=[])
    assert b.merge_aliases(second.name, add=[], remove=[]).name == second.name
    for name in (failed.name, second.name):
        assert b.delete_version(name, None) == [f"deleted tuned model {name}"]
        assert b.delete_version(name, None) == []  # idempotent


def test_conflict_on_create_returns_the_existing_job(
    emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = backend(emu)
    job_labels = labels(f"{time.time_ns():020d}"[-20:])
    first = b.submit_job(request(job_labels))
    model_id = first.name.removeprefix("tunedModels/")
    # As if the first attempt's answer was lost and the same id were sent again.
    monkeypatch.setattr(ga, "tuned_model_id", lambda _labels, _attempt: model_id)
    again = b.submit_job(request(job_labels))
    assert again.name == first.name
    b.delete_version(first.name, None)


CREATE = "ModelService.CreateTunedModel"


def test_a_lost_create_answer_is_retried_and_adopts_the_model_it_made(
    emu: EmulatorProcess,
) -> None:
    """Issue 22 item 10: the first create reaches the service but its answer is lost (503
    after the effect); the retry sends the same tunedModelId, the service answers 409
    ALREADY_EXISTS, and the backend adopts that model: one tuned model, no failure."""
    b = backend(emu)
    job_labels = labels(f"{time.time_ns():020d}"[-20:])
    digest = ga.identity_hash(job_labels)
    assert digest is not None
    emu.reset_stats()
    emu.add_fault("503", method="CreateTunedModel", when="after", next=1)
    try:
        status = b.submit_job(request(job_labels))
    finally:
        emu.clear_faults()
    assert emu.calls(CREATE) == 2  # the lost one and the retry answered ALREADY_EXISTS
    assert status.name.endswith("-1")
    assert [j.name for j in b.find_jobs(job_labels)] == [status.name]
    assert wait(b, status.name).state == "SUCCEEDED"
    b.delete_version(status.name, None)


def test_a_create_repeated_while_the_model_exists_adopts_it(emu: EmulatorProcess) -> None:
    """The attempt number moves on only past a FAILED attempt: a create repeated while the
    first is CREATING or ACTIVE (a list that lagged) names the same id and adopts it."""
    b = backend(emu)
    job_labels = labels(f"{time.time_ns():020d}"[-20:])
    first = b.submit_job(request(job_labels))
    again = b.submit_job(request(job_labels))
    assert again.name == first.name
    assert len(b.find_jobs(job_labels)) == 1
    b.delete_version(first.name, None)


def test_a_lost_create_answer_without_an_id_is_uncertain_not_retried(emu: EmulatorProcess) -> None:
    """Without the identity labels there is no tunedModelId to make a retry safe: the create
    is sent once and a lost answer is SubmitUncertainError (the caller looks before it
    submits again)."""
    b = backend(emu)
    emu.reset_stats()
    emu.add_fault("503", method="CreateTunedModel", when="after", next=1)
    try:
        with pytest.raises(SubmitUncertainError, match="answer to CreateTunedModel was lost"):
            b.submit_job(request({}, display_name="no identity"))
    finally:
        emu.clear_faults()
    assert emu.calls(CREATE) == 1


def test_cancel_deletes_a_model_still_creating(emu: EmulatorProcess) -> None:
    emu.configure(seconds_per_epoch=2.0)
    try:
        b = backend(emu)
        status = b.submit_job(request(labels(f"{time.time_ns():020d}"[-20:])))
        assert b.get_job(status.name).state == "RUNNING"
        b.cancel_job(status.name)
    finally:
        emu.configure(seconds_per_epoch=emu.seconds_per_epoch)
    with pytest.raises(NotFoundError):
        b.get_job(status.name)


def test_missing_key_error_keeps_the_service_message_and_says_how_to_set_one(
    emu: EmulatorProcess,
) -> None:
    with pytest.raises(BackendError) as err:
        backend(emu, key=None).find_jobs(labels("k" * 20))
    text = str(err.value)
    assert "Method doesn't allow unregistered callers" in text
    assert "gemini-tuning:geminiApiKey" in text


def test_the_key_is_not_in_the_settings_repr() -> None:
    settings = Settings(project="p", location="l", api_endpoint="x", gemini_api_key="k-123")
    assert "k-123" not in repr(settings)
    assert "k-123" not in repr(ga.GeminiApiBackend(settings).__dict__)
