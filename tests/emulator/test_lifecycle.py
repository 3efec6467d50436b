"""The whole Vertex flow through the official aiplatform_v1 GAPIC clients (REST transport)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1

from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import (
    FACTS,
    error_status,
    gapic,
    new_job,
    squad_prompt,
    wait_job,
)

pytestmark = pytest.mark.emulator


def test_create_poll_succeed_generate_undeploy_delete(  # noqa: PLR0917 - fixtures
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
    prediction: aiplatform_v1.PredictionServiceClient,
) -> None:
    creates_before = emu.calls("GenAiTuningService.CreateTuningJob")
    job = new_job(tuning, emu, train_uri, labels={"team": "geo"})
    assert job.state == aiplatform_v1.JobState.JOB_STATE_PENDING
    assert job.name.startswith(
        f"projects/{emu.project_number}/locations/{emu.location}/tuningJobs/"
    )
    assert emu.calls("GenAiTuningService.CreateTuningJob") == creates_before + 1

    job = wait_job(tuning, job.name)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED, job.error
    assert job.start_time
    assert job.end_time
    assert job.end_time >= job.start_time
    stats = job.tuning_data_stats.supervised_tuning_data_stats
    assert stats.tuning_dataset_example_count == len(FACTS)
    assert stats.total_billable_token_count > 0
    assert stats.tuning_step_count == 3 * 2  # 3 epochs x ceil(12 / 8) steps
    assert stats.user_output_token_distribution.max_ >= 1
    assert [c.epoch for c in job.tuned_model.checkpoints] == [1, 2, 3]
    assert job.tuned_model.model.endswith("@1")

    model = models.get_model(name=job.tuned_model.model)  # gapic sends @ as %40
    assert model.version_id == "1"
    assert model.version_aliases == ["default"]
    assert model.display_name == "capitals"
    assert model.labels["tune-type"] == "sft"
    assert model.labels["google-vertex-llm-tuning-job-id"] == job.name.rsplit("/", 1)[-1]
    assert model.labels["google-vertex-llm-tuning-base-model-id"] == "gemini-2-5-flash"
    assert model.labels["team"] == "geo"
    # Every checkpoint is deployed; the default one's endpoint is the job's (test_checkpoints).
    assert {d.endpoint for d in model.deployed_models} == {
        c.endpoint for c in job.tuned_model.checkpoints
    }
    assert models.get_model(name=model.name).name == model.name  # no version -> default
    assert models.get_model(name=f"{model.name}@default").version_id == "1"

    endpoint = endpoints.get_endpoint(name=job.tuned_model.endpoint)
    deployed = endpoint.deployed_models[0]
    assert deployed.model == model.name
    assert deployed.model_version_id == "1"
    assert dict(endpoint.traffic_split) == {deployed.id: 100}
    assert (
        endpoint.labels["google-vertex-llm-tuning-job-id"]
        == model.labels["google-vertex-llm-tuning-job-id"]
    )

    answer, country, context = FACTS[3]
    resp = prediction.generate_content(
        model=endpoint.name,
        contents=[{"role": "user", "parts": [{"text": squad_prompt(country, context)}]}],
    )
    assert resp.candidates[0].content.parts[0].text == answer
    assert resp.candidates[0].finish_reason == aiplatform_v1.Candidate.FinishReason.STOP
    assert resp.usage_metadata.total_token_count > 0

    # Deleting a deployed model is refused at once: FAILED_PRECONDITION, HTTP 400.
    with pytest.raises(exceptions.BadRequest) as refused:
        models.delete_model(name=model.name)
    assert error_status(refused.value) == "FAILED_PRECONDITION"
    assert endpoint.name in refused.value.message
    # So is deleting an endpoint that still serves a model.
    with pytest.raises(exceptions.BadRequest) as refused_ep:
        endpoints.delete_endpoint(name=endpoint.name)
    assert error_status(refused_ep.value) == "FAILED_PRECONDITION"

    op = endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=deployed.id)
    assert op.operation.name.startswith(f"{endpoint.name}/operations/")
    op.result(timeout=10)  # polled under /ui/, parsed strictly
    assert isinstance(op.metadata, aiplatform_v1.UndeployModelOperationMetadata)
    assert not endpoints.get_endpoint(name=endpoint.name).deployed_models
    left = models.get_model(name=model.name).deployed_models
    assert endpoint.name not in {d.endpoint for d in left}
    for ref in left:  # the intermediate checkpoints' endpoints
        endpoints.undeploy_model(
            endpoint=ref.endpoint, deployed_model_id=ref.deployed_model_id
        ).result(timeout=10)
        endpoints.delete_endpoint(name=ref.endpoint).result(timeout=10)
    assert not models.get_model(name=model.name).deployed_models

    endpoints.delete_endpoint(name=endpoint.name).result(timeout=10)
    with pytest.raises(exceptions.NotFound):
        endpoints.get_endpoint(name=endpoint.name)
    delete = models.delete_model(name=model.name)
    delete.result(timeout=10)
    assert isinstance(delete.metadata, aiplatform_v1.DeleteOperationMetadata)
    with pytest.raises(exceptions.NotFound):
        models.get_model(name=model.name)
    # The job stays (no delete RPC) and still names its model.
    assert tuning.get_tuning_job(name=job.name).tuned_model.model == f"{model.name}@1"


def test_cancel_running_job(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    job = new_job(tuning, emu, train_uri, labels={"emulator-seconds-per-epoch": "2"}, epochs=5)
    wait_job(tuning, job.name, until=lambda j: j.state == aiplatform_v1.JobState.JOB_STATE_RUNNING)
    tuning.cancel_tuning_job(name=job.name)
    job = wait_job(tuning, job.name)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_CANCELLED
    assert job.error.code == 1
    assert job.end_time
    assert not job.tuned_model.model
    with pytest.raises(exceptions.BadRequest) as again:
        tuning.cancel_tuning_job(name=job.name)
    assert error_status(again.value) == "FAILED_PRECONDITION"
    with pytest.raises(exceptions.NotFound):
        tuning.cancel_tuning_job(name=f"{emu.parent}/tuningJobs/123")


def test_fail_label_fails_the_job(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    job = new_job(tuning, emu, train_uri, labels={"emulator-fail": "Quota exhausted mid-run."})
    job = wait_job(tuning, job.name)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_FAILED
    assert job.error.message == "Quota exhausted mid-run."
    assert job.start_time  # it did run before failing


def _checkpoint_counts(
    tuning: aiplatform_v1.GenAiTuningServiceClient, name: str
) -> tuple[set[int], aiplatform_v1.TuningJob]:
    """How many checkpoints each GET showed, until the job succeeded."""
    seen: set[int] = set()
    while True:
        job = tuning.get_tuning_job(name=name)
        seen.add(len(job.tuned_model.checkpoints))
        if job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED:
            return seen, job
        assert job.state in (
            aiplatform_v1.JobState.JOB_STATE_PENDING,
            aiplatform_v1.JobState.JOB_STATE_RUNNING,
        )


def test_no_progress_while_running_as_on_vertex(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    job = new_job(tuning, emu, train_uri, labels={"emulator-seconds-per-epoch": "0.3"}, epochs=3)
    seen, job = _checkpoint_counts(tuning, job.name)
    assert seen == {0, 3}  # nothing while RUNNING; the checkpoints come with the model
    model = gapic(emu, aiplatform_v1.ModelServiceClient).get_model(name=job.tuned_model.model)
    assert not model.metadata  # Vertex keeps no loss in the model


def test_progress_extras_grow_checkpoints_and_carry_the_loss(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    emu.configure(progress_extras=True)
    try:
        job = new_job(
            tuning, emu, train_uri, labels={"emulator-seconds-per-epoch": "0.3"}, epochs=3
        )
        seen, job = _checkpoint_counts(tuning, job.name)
        model = gapic(emu, aiplatform_v1.ModelServiceClient).get_model(name=job.tuned_model.model)
    finally:
        emu.configure(progress_extras=False)
    assert {1, 2, 3} <= seen
    metrics = emu.job_metrics(job.name)
    losses = [m["trainLoss"] for m in metrics["metrics"]]
    assert len(losses) == 3
    assert losses == sorted(losses, reverse=True)
    assert losses[0] > losses[-1]
    assert list(model.metadata["tuningMetrics"]["lossPerEpoch"]) == losses
