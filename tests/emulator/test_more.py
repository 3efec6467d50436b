"""Streaming over gapic, operation mixins, concurrency, wire conventions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import aiplatform_v1

from gemini_tuning import catalog
from gemini_tuning.emulator import _wire
from gemini_tuning.emulator._errors import ApiError
from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import FACTS, new_job, squad_prompt, wait_job

pytestmark = pytest.mark.emulator


def test_gapic_stream_generate_content_and_operation_mixins(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    prediction: aiplatform_v1.PredictionServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
) -> None:
    job = wait_job(tuning, new_job(tuning, emu, train_uri, epochs=1).name)
    answer, country, context = FACTS[5]
    chunks = list(
        prediction.stream_generate_content(
            model=job.tuned_model.endpoint,
            contents=[{"role": "user", "parts": [{"text": squad_prompt(country, context)}]}],
        )
    )
    assert "".join(c.candidates[0].content.parts[0].text for c in chunks) == answer
    assert chunks[-1].candidates[0].finish_reason == aiplatform_v1.Candidate.FinishReason.STOP

    endpoint = endpoints.get_endpoint(name=job.tuned_model.endpoint)
    op = endpoints.undeploy_model(
        endpoint=endpoint.name, deployed_model_id=endpoint.deployed_models[0].id
    )
    listed = endpoints.list_operations(request={"name": endpoint.name})
    assert [o.name for o in listed.operations] == [op.operation.name]
    waited = endpoints.wait_operation(request={"name": op.operation.name})
    assert waited.done
    endpoints.delete_operation(request={"name": op.operation.name})
    assert not endpoints.list_operations(request={"name": endpoint.name}).operations


def test_concurrent_creates_are_all_recorded(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    before = emu.calls("GenAiTuningService.CreateTuningJob")
    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = list(
            pool.map(
                lambda i: new_job(tuning, emu, train_uri, labels={"burst": "yes", "i": str(i)}),
                range(16),
            )
        )
    assert len({j.name for j in jobs}) == 16
    assert emu.calls("GenAiTuningService.CreateTuningJob") == before + 16
    listed = list(
        tuning.list_tuning_jobs(request={"parent": emu.parent, "filter": "labels.burst=yes"})
    )
    assert len(listed) == 16
    for job in jobs:
        assert wait_job(tuning, job.name).state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED


def test_default_epochs_follow_dataset_size(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    job = new_job(tuning, emu, train_uri, epochs=0, labels={"emulator-seconds-per-epoch": "0.01"})
    job = wait_job(tuning, job.name)
    assert job.supervised_tuning_spec.hyper_parameters.epoch_count == 10  # < 100 examples
    assert len(job.tuned_model.checkpoints) == 10


def test_wire_accepts_snake_case_enum_numbers_and_int64_strings() -> None:
    body = _wire.normalize_keys(
        {"supervised_tuning_spec": {"hyper_parameters": {"epoch_count": "3", "adapter_size": 6}},
         "labels": {"my_key": "v"}}
    )  # fmt: skip
    hp = body["supervisedTuningSpec"]["hyperParameters"]
    assert _wire.parse_int64(hp["epochCount"], "epoch_count") == 3
    assert _wire.parse_int64(3, "epoch_count") == 3
    assert _wire.parse_enum(hp["adapterSize"], _wire.ADAPTER_SIZES, "a") == "ADAPTER_SIZE_TWO"
    assert _wire.parse_enum("ADAPTER_SIZE_FOUR", _wire.ADAPTER_SIZES, "a") == "ADAPTER_SIZE_FOUR"
    assert body["labels"] == {"my_key": "v"}  # map keys are never re-cased
    assert _wire.wants_int_enums("json;enum-encoding=int")
    assert not _wire.wants_int_enums(None)


def test_learning_rate_multiplier_range() -> None:
    assert _wire.parse_learning_rate_multiplier("0.5") == 0.5
    top = catalog.MAX_LEARNING_RATE_MULTIPLIER
    assert _wire.parse_learning_rate_multiplier(top) == top
    for bad in (0, -1, top * 2, "x", True):
        with pytest.raises(ApiError):
            _wire.parse_learning_rate_multiplier(bad)
