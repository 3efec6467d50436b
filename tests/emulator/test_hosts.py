"""The emulator as several locations' hosts: the `/_host/{host}` prefix the provider sends
(the host the real service would be asked), a host that does not serve the path's location,
a name in a request that lives in another location, and the catalog's locations per model."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1

from gemini_tuning._locations import service_host
from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import error_status, wait_job


def _client(emu: EmulatorProcess, cls: Any, host: str | None) -> Any:
    endpoint = f"{emu.url}/_host/{host}" if host else emu.url
    return cls(
        transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )


def _job(base_model: str = "gemini-2.5-flash", **more: Any) -> aiplatform_v1.TuningJob:
    spec = aiplatform_v1.SupervisedTuningSpec(
        training_dataset_uri="gs://data/train.jsonl",
        hyper_parameters=aiplatform_v1.SupervisedHyperParameters(epoch_count=1),
    )
    return aiplatform_v1.TuningJob(base_model=base_model, supervised_tuning_spec=spec, **more)


def _parent(emu: EmulatorProcess, location: str) -> str:
    return f"projects/{emu.project}/locations/{location}"


@pytest.mark.parametrize("location", ["us", "eu", "us-central1"])
def test_a_job_in_each_location_through_its_host_is_seen_on_that_host(
    emu: EmulatorProcess, train_uri: str, location: str
) -> None:
    host = service_host(location)
    tuning = _client(emu, aiplatform_v1.GenAiTuningServiceClient, host)
    emu.reset_stats()
    job = tuning.create_tuning_job(parent=_parent(emu, location), tuning_job=_job())
    assert f"/locations/{location}/tuningJobs/" in job.name
    done = wait_job(tuning, job.name)
    assert done.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    models = _client(emu, aiplatform_v1.ModelServiceClient, host)
    model = models.get_model(name=done.tuned_model.model)
    assert f"/locations/{location}/models/" in model.name
    hosts = emu.stats()["hosts"]
    assert hosts[f"{host} GenAiTuningService.CreateTuningJob"] == 1
    assert hosts[f"{host} ModelService.GetModel"] == 1
    assert all(key.startswith(f"{host} ") for key in hosts), hosts


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("us-central1-aiplatform.googleapis.com", "us"),
        ("aiplatform.us.rep.googleapis.com", "eu"),
        ("aiplatform.googleapis.com", "us-central1"),
        ("europe-west4-aiplatform.googleapis.com", "us-central1"),
    ],
)
def test_a_host_that_does_not_serve_the_location_is_refused(
    emu: EmulatorProcess, train_uri: str, host: str, location: str
) -> None:
    before = emu.stats()["resources"].get("tuningJob", 0)
    tuning = _client(emu, aiplatform_v1.GenAiTuningServiceClient, host)
    with pytest.raises(exceptions.BadRequest) as err:
        tuning.create_tuning_job(parent=_parent(emu, location), tuning_job=_job())
    assert error_status(err.value) == "INVALID_ARGUMENT"
    assert f"send requests for resources in {location} to {service_host(location)}" in str(
        err.value.message
    )
    assert emu.stats()["resources"].get("tuningJob", 0) == before


def test_requests_without_the_prefix_are_served_as_before(
    emu: EmulatorProcess, train_uri: str
) -> None:
    tuning = _client(emu, aiplatform_v1.GenAiTuningServiceClient, None)
    job = tuning.create_tuning_job(parent=_parent(emu, "europe-west4"), tuning_job=_job())
    assert "/locations/europe-west4/" in job.name


def test_a_pre_tuned_model_in_another_location_is_refused(
    emu: EmulatorProcess, train_uri: str
) -> None:
    eu = _client(emu, aiplatform_v1.GenAiTuningServiceClient, service_host("eu"))
    first = wait_job(eu, eu.create_tuning_job(parent=_parent(emu, "eu"), tuning_job=_job()).name)
    us = _client(emu, aiplatform_v1.GenAiTuningServiceClient, service_host("us"))
    spec = aiplatform_v1.SupervisedTuningSpec(training_dataset_uri="gs://data/train.jsonl")
    again = aiplatform_v1.TuningJob(
        pre_tuned_model=aiplatform_v1.PreTunedModel(tuned_model_name=first.tuned_model.model),
        supervised_tuning_spec=spec,
    )
    with pytest.raises(exceptions.BadRequest) as err:
        us.create_tuning_job(parent=_parent(emu, "us"), tuning_job=again)
    assert error_status(err.value) == "INVALID_ARGUMENT"
    assert "is in location eu, but the tuning job is created in us" in str(err.value.message)
    continued = eu.create_tuning_job(parent=_parent(emu, "eu"), tuning_job=again)
    assert "/locations/eu/" in continued.name


@pytest.mark.parametrize(
    ("model", "location", "why"),
    [
        ("gemini-2.5-flash", "global", "no tuning on the global endpoint"),
        ("gemini-3.5-flash", "asia-east1", "does not list 'asia-east1'"),
    ],
)
def test_the_catalogs_locations_apply_per_location(
    emu: EmulatorProcess, train_uri: str, model: str, location: str, why: str
) -> None:
    tuning = _client(emu, aiplatform_v1.GenAiTuningServiceClient, service_host(location))
    with pytest.raises(exceptions.BadRequest) as err:
        tuning.create_tuning_job(parent=_parent(emu, location), tuning_job=_job(model))
    assert why in str(err.value.message)
