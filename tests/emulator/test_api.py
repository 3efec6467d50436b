"""Create validation, lists, models, bad datasets, faults, operations: official clients only."""

from __future__ import annotations

import json
import time

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1, aiplatform_v1beta1

from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import (
    BASE_MODEL,
    error_status,
    gapic,
    new_job,
    wait_job,
)

pytestmark = pytest.mark.emulator


def _spec(uri: str, **hp: object) -> aiplatform_v1.SupervisedTuningSpec:
    return aiplatform_v1.SupervisedTuningSpec(
        training_dataset_uri=uri,
        hyper_parameters=aiplatform_v1.SupervisedHyperParameters(**hp),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            {"base_model": "gemini-2.5-pro", "hp": {"adapter_size": "ADAPTER_SIZE_SIXTEEN"}},
            "The adapter size is not supported for this base model.",
        ),
        (
            {"base_model": BASE_MODEL, "hp": {"adapter_size": "ADAPTER_SIZE_THIRTY_TWO"}},
            "The adapter size is not supported for this base model.",
        ),
        ({"base_model": "gemini-9-ultra"}, "Base model gemini-9-ultra is not supported"),
        ({"base_model": "gemini-2.0-flash-001"}, "retired for tuning in 2026-02"),
        ({"base_model": BASE_MODEL, "hp": {"epoch_count": 101}}, "epoch_count must be between"),
        ({"base_model": BASE_MODEL, "hp": {"learning_rate_multiplier": 10.5}}, "multiplier"),
        ({"base_model": BASE_MODEL, "display": "x" * 129}, "at most 128"),
        ({"base_model": BASE_MODEL, "labels": {"Team": "a"}}, "Label key 'Team'"),
        ({"base_model": BASE_MODEL, "labels": {"team": "A B"}}, "Label value"),
        ({"base_model": BASE_MODEL, "uri": "/local/file.jsonl"}, "Cloud Storage URI"),
    ],
)
def test_create_validation(
    emu: EmulatorProcess,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    job: dict[str, object],
    message: str,
) -> None:
    before = emu.stats()["resources"].get("tuningJob", 0)
    request = aiplatform_v1.TuningJob(
        base_model=job["base_model"],
        supervised_tuning_spec=_spec(
            str(job.get("uri", "gs://data/train.jsonl")), **job.get("hp", {})
        ),  # type: ignore[arg-type]
        tuned_model_display_name=str(job.get("display", "ok")),
        labels=job.get("labels", {}),
    )
    with pytest.raises(exceptions.BadRequest) as err:
        tuning.create_tuning_job(parent=emu.parent, tuning_job=request)
    assert error_status(err.value) == "INVALID_ARGUMENT"
    assert message in err.value.message
    assert emu.stats()["resources"].get("tuningJob", 0) == before


def test_bad_dataset_fails_the_job_with_file_and_line(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient, train_uri: str
) -> None:
    good = json.dumps(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "yo"}]},
            ]
        }
    )
    bad_uri = emu.upload(f"{good}\n{good}\n{{not json\n{good}\n".encode(), "gs://data/bad.jsonl")
    job = new_job(tuning, emu, bad_uri)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_PENDING  # validation is asynchronous
    job = wait_job(tuning, job.name)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_FAILED
    assert job.error.code == 3
    assert "gs://data/bad.jsonl:3:" in job.error.message

    missing = new_job(tuning, emu, "gs://data/nope.jsonl")
    missing = wait_job(tuning, missing.name)
    assert missing.state == aiplatform_v1.JobState.JOB_STATE_FAILED
    assert missing.error.code == 3
    assert "gs://data/nope.jsonl" in missing.error.message

    bad_val = new_job(tuning, emu, train_uri, validation_dataset_uri=bad_uri)
    bad_val = wait_job(tuning, bad_val.name)
    assert bad_val.state == aiplatform_v1.JobState.JOB_STATE_FAILED
    assert "validation dataset" in bad_val.error.message
    assert ":3:" in bad_val.error.message


def test_list_filters_and_pages(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    created = [
        new_job(tuning, emu, train_uri, labels={"suite": "listing", "n": str(i)}, epochs=1)
        for i in range(5)
    ]
    names = [j.name for j in created]
    wait_job(tuning, names[-1])
    for name in names:
        wait_job(tuning, name)

    listed = [
        j.name
        for j in tuning.list_tuning_jobs(
            request={"parent": emu.parent, "filter": "labels.suite=listing", "page_size": 2}
        )
    ]
    assert listed == list(reversed(names))  # newest first, across 3 pages
    pager = tuning.list_tuning_jobs(
        request={"parent": emu.parent, "filter": "labels.suite=listing", "page_size": 2}
    )
    pages = list(pager.pages)
    assert [len(p.tuning_jobs) for p in pages] == [2, 2, 1]
    assert pages[-1].next_page_token == ""

    both = 'labels.suite="listing" AND state=JOB_STATE_SUCCEEDED AND labels.n:*'
    assert len(list(tuning.list_tuning_jobs(request={"parent": emu.parent, "filter": both}))) == 5
    one = f'labels.suite=listing AND labels.n=3 AND base_model="{BASE_MODEL}"'
    assert [
        j.name for j in tuning.list_tuning_jobs(request={"parent": emu.parent, "filter": one})
    ] == [names[3]]
    since = created[2].create_time.isoformat().replace("+00:00", "Z")
    newer = tuning.list_tuning_jobs(
        request={"parent": emu.parent, "filter": f'labels.suite=listing AND create_time>"{since}"'}
    )
    assert [j.name for j in newer] == list(reversed(names[3:]))
    assert not list(
        tuning.list_tuning_jobs(
            request={
                "parent": emu.parent,
                "filter": "labels.suite=listing AND state=JOB_STATE_FAILED",
            }
        )
    )

    with pytest.raises(exceptions.BadRequest):
        list(tuning.list_tuning_jobs(request={"parent": emu.parent, "filter": "state=="}))
    with pytest.raises(exceptions.BadRequest):
        list(tuning.list_tuning_jobs(request={"parent": emu.parent, "filter": "colour=red"}))
    with pytest.raises(exceptions.BadRequest):
        tuning.list_tuning_jobs(request={"parent": emu.parent, "page_token": "garbage!"})
    token = pages[0].next_page_token
    with pytest.raises(exceptions.BadRequest):  # a token from another query
        tuning.list_tuning_jobs(request={"parent": emu.parent, "page_token": token})


def test_models_update_versions_aliases_and_lists(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
    endpoints: aiplatform_v1.EndpointServiceClient,
) -> None:
    job = wait_job(tuning, new_job(tuning, emu, train_uri, labels={"suite": "models"}).name)
    name = job.tuned_model.model.split("@")[0]
    labels = {**models.get_model(name=name).labels, "x": "1"}
    updated = models.update_model(
        model=aiplatform_v1.Model(name=name, display_name="renamed", labels=labels),
        update_mask={"paths": ["display_name", "labels"]},
    )
    assert updated.display_name == "renamed"
    assert updated.labels == labels  # the map is replaced
    with pytest.raises(exceptions.BadRequest):
        models.update_model(
            model=aiplatform_v1.Model(name=name, artifact_uri="gs://x"),
            update_mask={"paths": ["artifact_uri"]},
        )
    merged = models.merge_version_aliases(name=f"{name}@1", version_aliases=["golden", "canary"])
    assert merged.version_aliases == ["default", "canary", "golden"]
    merged = models.merge_version_aliases(
        name=f"{name}@1", version_aliases=["-canary", "tmp", "-tmp"]
    )
    assert merged.version_aliases == ["default", "golden"]
    assert models.get_model(name=f"{name}@golden").version_id == "1"
    with pytest.raises(exceptions.BadRequest):
        models.merge_version_aliases(name=f"{name}@1", version_aliases=["Bad_Alias"])
    versions = list(models.list_model_versions(name=name))
    assert [v.name for v in versions] == [f"{name}@1"]

    listed = list(models.list_models(request={"parent": emu.parent, "filter": "labels.x=1"}))
    assert [m.name for m in listed] == [name]
    tuned = list(models.list_models(request={"parent": emu.parent, "filter": "labels.tune-type:*"}))
    assert name in [m.name for m in tuned]
    by_name = list(
        models.list_models(
            request={
                "parent": emu.parent,
                "filter": 'display_name="renamed"',
                "order_by": "create_time desc",
            }
        )
    )
    assert [m.name for m in by_name] == [name]
    eps = list(
        endpoints.list_endpoints(
            request={
                "parent": emu.parent,
                "filter": f"labels.google-vertex-llm-tuning-job-id={job.name.rsplit('/', 1)[-1]}",
            }
        )
    )
    # One endpoint per checkpoint, the default one's among them (test_checkpoints.py).
    assert {e.name for e in eps} == {c.endpoint for c in job.tuned_model.checkpoints}
    assert job.tuned_model.endpoint in {e.name for e in eps}
    with pytest.raises(exceptions.BadRequest):
        list(models.list_models(request={"parent": emu.parent, "order_by": "colour"}))


def test_injected_faults_surface_as_google_exceptions(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    try:
        emu.set_faults(fail_next=[503, 429])
        with pytest.raises(exceptions.ServiceUnavailable):
            list(tuning.list_tuning_jobs(parent=emu.parent))
        with pytest.raises(exceptions.TooManyRequests):
            list(tuning.list_tuning_jobs(parent=emu.parent))
        list(tuning.list_tuning_jobs(parent=emu.parent))  # healthy again

        emu.set_faults(rate_503=1.0, method="GetTuningJob")
        with pytest.raises(exceptions.ServiceUnavailable) as err:
            tuning.get_tuning_job(name=f"{emu.parent}/tuningJobs/1")
        assert error_status(err.value) == "UNAVAILABLE"
        list(tuning.list_tuning_jobs(parent=emu.parent))  # other methods unaffected

        emu.set_faults(latency_ms=150)
        started = time.monotonic()
        list(tuning.list_tuning_jobs(parent=emu.parent))
        assert time.monotonic() - started >= 0.15
        faults = emu.stats()["faults"]
        assert faults["GenAiTuningService.GetTuningJob:503"] == 1
        assert faults["GenAiTuningService.ListTuningJobs:429"] == 1
    finally:
        emu.set_faults(latency_ms=0.0)


def test_v1beta1_clients_get_v1beta1_operation_types(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    job = new_job(tuning, emu, train_uri, export_last_checkpoint_only=True)  # one endpoint
    job = wait_job(tuning, job.name)
    endpoints = gapic(emu, aiplatform_v1beta1.EndpointServiceClient)
    models = gapic(emu, aiplatform_v1beta1.ModelServiceClient)
    endpoint = endpoints.get_endpoint(name=job.tuned_model.endpoint)
    op = endpoints.undeploy_model(
        endpoint=endpoint.name, deployed_model_id=endpoint.deployed_models[0].id
    )
    op.result(timeout=10)
    assert isinstance(op.metadata, aiplatform_v1beta1.UndeployModelOperationMetadata)
    delete = endpoints.delete_endpoint(name=endpoint.name)
    delete.result(timeout=10)
    assert isinstance(delete.metadata, aiplatform_v1beta1.DeleteOperationMetadata)
    model_delete = models.delete_model(name=job.tuned_model.model.split("@")[0])
    model_delete.result(timeout=10)
    # The operation mixin (GET /v1beta1/{name}) and the v1 one read the same record.
    got = models.get_operation(request={"name": model_delete.operation.name})
    assert got.done


def test_enums_as_ints_for_gapic_and_names_for_genai(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    from google import genai

    from tests.support.emulator import genai_client

    # gapic sends adapterSize as an int (TWO = 6, not in size order) and reads ints back.
    request = aiplatform_v1.TuningJob(
        base_model=BASE_MODEL,
        supervised_tuning_spec=_spec(
            train_uri,
            epoch_count=1,
            adapter_size=aiplatform_v1.SupervisedHyperParameters.AdapterSize.ADAPTER_SIZE_TWO,
        ),
    )
    job = tuning.create_tuning_job(parent=emu.parent, tuning_job=request)
    assert job.supervised_tuning_spec.hyper_parameters.adapter_size.name == "ADAPTER_SIZE_TWO"
    # genai (no $alt) gets names: it would crash on ints.
    client: genai.Client = genai_client(emu)
    seen = client.tunings.get(name=job.name)
    assert seen.state is not None
    assert seen.state.name in (
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_SUCCEEDED",
    )
    assert seen.supervised_tuning_spec is not None
    hp = seen.supervised_tuning_spec.hyper_parameters
    assert hp is not None
    assert hp.adapter_size is not None
    assert hp.adapter_size.value == "ADAPTER_SIZE_TWO"
    assert hp.epoch_count == 1
