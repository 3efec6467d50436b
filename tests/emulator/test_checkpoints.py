"""Checkpoints and their endpoints, and a service that refuses to delete tuned models.

"Intermediate checkpoints are deployed to new endpoints sequentially as tuning progresses. The
tuned model endpoint represents the endpoint of the default checkpoint, and the tuned model
checkpoints include all checkpoints and their corresponding endpoints."
(https://cloud.google.com/vertex-ai/generative-ai/docs/models/tuning-checkpoints)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1

from gemini_tuning.emulator._trainer import checkpoint_epochs
from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import error_status, new_job, wait_job

pytestmark = pytest.mark.emulator

JOB_LABEL = "google-vertex-llm-tuning-job-id"


def _job_endpoints(
    endpoints: aiplatform_v1.EndpointServiceClient, emu: EmulatorProcess, job_name: str
) -> list[aiplatform_v1.Endpoint]:
    job_id = job_name.rsplit("/", 1)[-1]
    listed = endpoints.list_endpoints(
        request={"parent": emu.parent, "filter": f'labels.{JOB_LABEL}="{job_id}"'}
    )
    return sorted(
        (e for e in listed if e.labels.get(JOB_LABEL) == job_id), key=lambda e: e.create_time
    )


def test_checkpoint_schedule_follows_the_docs() -> None:
    assert checkpoint_epochs(3) == [1, 2, 3]
    assert checkpoint_epochs(10) == list(range(1, 11))
    many = checkpoint_epochs(25)
    assert len(many) == 10
    assert many[-1] == 25  # the final checkpoint comes right after the last epoch
    assert many == sorted(set(many))


def test_checkpoint_endpoints_appear_while_running(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
) -> None:
    job = new_job(tuning, emu, train_uri, labels={"emulator-seconds-per-epoch": "0.4"}, epochs=3)
    running_counts: set[int] = set()
    deadline = time.monotonic() + 30
    while True:
        current = tuning.get_tuning_job(name=job.name)
        if current.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED:
            break
        assert time.monotonic() < deadline, current.state
        if current.state == aiplatform_v1.JobState.JOB_STATE_RUNNING:
            running_counts.add(len(_job_endpoints(endpoints, emu, job.name)))
            assert not current.tuned_model.model  # the model comes at success
    assert running_counts & {1, 2}, running_counts  # endpoints exist before the job ends

    found = _job_endpoints(endpoints, emu, job.name)
    assert len(found) == 3
    assert [c.epoch for c in current.tuned_model.checkpoints] == [1, 2, 3]
    assert {c.endpoint for c in current.tuned_model.checkpoints} == {e.name for e in found}
    assert current.tuned_model.endpoint == current.tuned_model.checkpoints[-1].endpoint
    model = models.get_model(name=current.tuned_model.model)
    assert model.default_checkpoint_id == "3"
    assert {d.endpoint for d in model.deployed_models} == {e.name for e in found}
    for endpoint, checkpoint in zip(found, current.tuned_model.checkpoints, strict=True):
        (deployed,) = endpoint.deployed_models
        assert deployed.model == model.name
        assert deployed.checkpoint_id == checkpoint.checkpoint_id
        assert endpoint.labels["tune-type"] == "sft"


def test_export_last_checkpoint_only_gives_one_endpoint(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
) -> None:
    job = new_job(
        tuning,
        emu,
        train_uri,
        labels={"emulator-seconds-per-epoch": "0.05"},
        epochs=3,
        export_last_checkpoint_only=True,
    )
    job = wait_job(tuning, job.name)
    assert [c.epoch for c in job.tuned_model.checkpoints] == [3]
    assert [e.name for e in _job_endpoints(endpoints, emu, job.name)] == [job.tuned_model.endpoint]


def test_a_cancelled_job_keeps_the_endpoints_of_its_checkpoints(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
) -> None:
    """Nothing documents that cancelling removes them: the safer reading keeps them."""
    job = new_job(tuning, emu, train_uri, labels={"emulator-seconds-per-epoch": "0.3"}, epochs=5)
    wait_job(tuning, job.name, until=lambda j: len(_job_endpoints(endpoints, emu, j.name)) >= 1)
    tuning.cancel_tuning_job(name=job.name)
    cancelled = wait_job(tuning, job.name)
    assert cancelled.state == aiplatform_v1.JobState.JOB_STATE_CANCELLED
    assert not cancelled.tuned_model.model
    assert _job_endpoints(endpoints, emu, job.name)


def test_a_service_that_refuses_to_delete_tuned_models(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
) -> None:
    job = new_job(
        tuning,
        emu,
        train_uri,
        labels={"emulator-seconds-per-epoch": "0.05"},
        epochs=1,
        export_last_checkpoint_only=True,
    )
    job = wait_job(tuning, job.name)
    endpoint = endpoints.get_endpoint(name=job.tuned_model.endpoint)
    endpoints.undeploy_model(
        endpoint=endpoint.name, deployed_model_id=endpoint.deployed_models[0].id
    ).result(timeout=10)
    model = job.tuned_model.model.partition("@")[0]
    emu.configure(refuse_tuned_model_delete=True)
    try:
        with pytest.raises(exceptions.BadRequest) as refused:
            models.delete_model(name=model)
    finally:
        emu.configure(refuse_tuned_model_delete=False)
    assert error_status(refused.value) == "FAILED_PRECONDITION"
    assert models.get_model(name=model).name == model
    models.delete_model(name=model).result(timeout=10)  # the usual service deletes it


def test_undeploy_traffic_split_must_add_up_to_100(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
) -> None:
    job = new_job(
        tuning,
        emu,
        train_uri,
        labels={"emulator-seconds-per-epoch": "0.05"},
        epochs=1,
        export_last_checkpoint_only=True,
    )
    job = wait_job(tuning, job.name)
    endpoint = endpoints.get_endpoint(name=job.tuned_model.endpoint)
    deployed = endpoint.deployed_models[0].id
    with pytest.raises(exceptions.BadRequest) as refused:
        endpoints.undeploy_model(
            endpoint=endpoint.name, deployed_model_id=deployed, traffic_split={deployed: 50}
        )
    assert error_status(refused.value) == "INVALID_ARGUMENT"


def test_a_checkpoint_endpoint_answers_with_the_model_as_trained_to_its_epoch(
    emu: EmulatorProcess,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    prediction: aiplatform_v1.PredictionServiceClient,
) -> None:
    """Issue 25: each checkpoint's endpoint serves the learner's weights after its epoch."""
    from pathlib import Path

    from gemini_tuning.datasets import iter_file_text_pairs
    from gemini_tuning.emulator import _learner

    data = Path(__file__).resolve().parents[2] / "stacks" / "data"
    uri = emu.upload((data / "squad-qa-train.jsonl").read_bytes(), "gs://data/squad-train.jsonl")
    job = new_job(tuning, emu, uri, labels={"emulator-seconds-per-epoch": "0.2"}, epochs=3)
    job = wait_job(tuning, job.name, timeout=60)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    by_epoch = {int(cp.epoch): cp.endpoint for cp in job.tuned_model.checkpoints}
    assert by_epoch[3] == job.tuned_model.endpoint
    trained = _learner.train(list(iter_file_text_pairs(data / "squad-qa-train.jsonl")), epochs=3)
    prompts = [p for p, _ in iter_file_text_pairs(data / "squad-qa-eval.jsonl")][:40]

    def said(endpoint: str, prompt: str) -> str:
        answer = prediction.generate_content(
            model=endpoint, contents=[{"role": "user", "parts": [{"text": prompt}]}]
        )
        return str(answer.candidates[0].content.parts[0].text)

    first = [said(by_epoch[1], p) for p in prompts]
    last = [said(by_epoch[3], p) for p in prompts]
    assert first == [_learner.answer(p, trained, 1) for p in prompts]
    assert last == [_learner.answer(p, trained, 3) for p in prompts]
    assert first != last


def _said(prediction: aiplatform_v1.PredictionServiceClient, endpoint: str, prompt: str) -> str:
    answer = prediction.generate_content(
        model=endpoint, contents=[{"role": "user", "parts": [{"text": prompt}]}]
    )
    return str(answer.candidates[0].content.parts[0].text)


def test_the_default_checkpoint_moves_the_tuned_model_endpoint_and_what_it_serves(
    emu: EmulatorProcess,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
    prediction: aiplatform_v1.PredictionServiceClient,
) -> None:
    """Issue 25 item 4: UpdateModel with ``default_checkpoint_id`` (the documented way: "Select
    the best performing checkpoint [...] to be the default checkpoint"; "The tuned model
    endpoint represents the endpoint of the default checkpoint"). The job's tunedModel.endpoint
    follows, and serving it answers as that checkpoint's epoch; no new job."""
    from google.protobuf import field_mask_pb2

    from gemini_tuning.datasets import iter_file_text_pairs

    data = Path(__file__).resolve().parents[2] / "stacks" / "data"
    uri = emu.upload((data / "squad-qa-train.jsonl").read_bytes(), "gs://data/squad-train.jsonl")
    job = new_job(tuning, emu, uri, labels={"emulator-seconds-per-epoch": "0.2"}, epochs=3)
    job = wait_job(tuning, job.name, timeout=60)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    by_epoch = {int(cp.epoch): cp for cp in job.tuned_model.checkpoints}
    prompts = [p for p, _ in iter_file_text_pairs(data / "squad-qa-eval.jsonl")][:40]
    first = [_said(prediction, by_epoch[1].endpoint, p) for p in prompts]
    assert [_said(prediction, job.tuned_model.endpoint, p) for p in prompts] != first

    jobs_before = len(list(tuning.list_tuning_jobs(parent=emu.parent)))
    updated = models.update_model(
        model=aiplatform_v1.Model(
            name=job.tuned_model.model, default_checkpoint_id=by_epoch[1].checkpoint_id
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["default_checkpoint_id"]),
    )
    assert updated.default_checkpoint_id == by_epoch[1].checkpoint_id
    assert models.get_model(name=job.tuned_model.model).default_checkpoint_id == "1"
    moved = tuning.get_tuning_job(name=job.name)
    assert moved.tuned_model.endpoint == by_epoch[1].endpoint
    assert [_said(prediction, moved.tuned_model.endpoint, p) for p in prompts] == first
    assert len(list(tuning.list_tuning_jobs(parent=emu.parent))) == jobs_before


def test_an_unknown_default_checkpoint_is_refused(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
) -> None:
    from google.protobuf import field_mask_pb2

    job = new_job(tuning, emu, train_uri, labels={"emulator-seconds-per-epoch": "0.05"}, epochs=2)
    job = wait_job(tuning, job.name, timeout=30)
    mask = field_mask_pb2.FieldMask(paths=["default_checkpoint_id"])
    for unknown in ("7", ""):
        with pytest.raises(exceptions.BadRequest) as refused:
            models.update_model(
                model=aiplatform_v1.Model(
                    name=job.tuned_model.model, default_checkpoint_id=unknown
                ),
                update_mask=mask,
            )
        assert error_status(refused.value) == "INVALID_ARGUMENT"
        assert "its checkpoints: 1, 2" in str(refused.value)
    assert models.get_model(name=job.tuned_model.model).default_checkpoint_id == "2"
    assert tuning.get_tuning_job(name=job.name).tuned_model.endpoint == job.tuned_model.endpoint


def test_google_genai_models_update_sets_the_default_checkpoint(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    """Google's own sample (googlegenaisdk_tuning_with_checkpoints_set_default): models.get on
    the job's tuned model, then models.update(model=tuned_model.name, config=
    UpdateModelConfig(default_checkpoint_id=...)), a PATCH with no updateMask."""
    from google.genai import types

    from tests.support.emulator import genai_client

    job = new_job(tuning, emu, train_uri, labels={"emulator-seconds-per-epoch": "0.05"}, epochs=2)
    job = wait_job(tuning, job.name, timeout=30)
    client = genai_client(emu, api_version="v1")
    tuned_model = client.models.get(model=job.tuned_model.model)
    assert tuned_model.default_checkpoint_id == "2"
    updated = client.models.update(
        model=str(tuned_model.name),
        config=types.UpdateModelConfig(default_checkpoint_id="1"),
    )
    assert updated.default_checkpoint_id == "1"
    first = next(cp for cp in job.tuned_model.checkpoints if cp.checkpoint_id == "1")
    assert tuning.get_tuning_job(name=job.name).tuned_model.endpoint == first.endpoint
