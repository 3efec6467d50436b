"""The real service's hazards, played by the emulator: answers lost after the effect, slow
operations, the concurrent-job quota, list filters that misbehave, unknown request fields."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.api_core import timeout as timeouts
from google.cloud import aiplatform_v1

from gemini_tuning.emulator._faults import rate_rules
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.emulator import dataset_lines, gapic, new_job, wait_job

pytestmark = pytest.mark.emulator

CREATE = "GenAiTuningService.CreateTuningJob"


@pytest.fixture(scope="module")
def hazards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path_factory.mktemp("hazards"), seconds_per_epoch=0.05) as emu:
        emu.upload(("\n".join(dataset_lines()) + "\n").encode(), "gs://data/train.jsonl")
        yield emu


@pytest.fixture
def emu(hazards: EmulatorProcess) -> Iterator[EmulatorProcess]:
    hazards.reset()
    yield hazards
    hazards.clear_faults()
    hazards.configure(
        lro_polls=1,
        lro_seconds=0.0,
        lro_never_done=False,
        max_running_jobs=None,
        tuning_job_list_filter="honest",
        hang_seconds=30.0,
        hold_seconds=0.0,
        hold_state="PAUSED",
    )


@pytest.fixture
def tuning(emu: EmulatorProcess) -> aiplatform_v1.GenAiTuningServiceClient:
    return gapic(emu, aiplatform_v1.GenAiTuningServiceClient)


def _jobs(tuning: aiplatform_v1.GenAiTuningServiceClient, emu: EmulatorProcess) -> list[Any]:
    return list(tuning.list_tuning_jobs(parent=emu.parent))


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        ("503", exceptions.ServiceUnavailable),
        ("500", exceptions.InternalServerError),
        ("drop", requests.exceptions.ConnectionError),
    ],
)
def test_a_create_whose_answer_is_lost_still_creates_the_job(
    emu: EmulatorProcess,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    answer: str,
    raised: type[Exception],
) -> None:
    emu.add_fault(answer, method="CreateTuningJob", when="after", next=1)
    with pytest.raises(raised):
        new_job(tuning, emu, "gs://data/train.jsonl")
    assert len(_jobs(tuning, emu)) == 1  # the effect happened; only the answer was lost
    assert emu.stats()["faults"] == {f"{CREATE}:{answer}:after": 1}
    new_job(tuning, emu, "gs://data/train.jsonl")  # the rule was for the next one only
    assert len(_jobs(tuning, emu)) == 2


def test_a_timeout_after_the_effect_holds_the_answer_then_504(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    emu.configure(hang_seconds=1.0)
    emu.add_fault("timeout", method="CreateTuningJob", when="after", next=2)
    with pytest.raises(exceptions.GatewayTimeout):
        new_job(tuning, emu, "gs://data/train.jsonl")
    request = aiplatform_v1.TuningJob(
        base_model="gemini-2.5-flash",
        supervised_tuning_spec={"training_dataset_uri": "gs://data/train.jsonl"},
    )
    with pytest.raises(requests.exceptions.Timeout):  # a client that waits less gives up first
        tuning.create_tuning_job(
            parent=emu.parent, tuning_job=request, timeout=timeouts.ConstantTimeout(0.3)
        )
    assert len(_jobs(tuning, emu)) == 2


def test_a_fault_before_the_effect_creates_nothing(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    emu.add_fault("503", method="CreateTuningJob", when="before", next=1)
    with pytest.raises(exceptions.ServiceUnavailable):
        new_job(tuning, emu, "gs://data/train.jsonl")
    assert _jobs(tuning, emu) == []


def test_the_concurrent_job_quota_answers_429_until_a_job_ends(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    emu.configure(max_running_jobs=2)
    slow = {"emulator-seconds-per-epoch": "1"}
    first = new_job(tuning, emu, "gs://data/train.jsonl", epochs=1, labels=slow)
    new_job(tuning, emu, "gs://data/train.jsonl", epochs=1, labels=slow)
    with pytest.raises(exceptions.TooManyRequests) as err:
        new_job(tuning, emu, "gs://data/train.jsonl", epochs=1)
    assert err.value.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "The following quota metrics exceed quota limits" in err.value.message
    assert len(_jobs(tuning, emu)) == 2
    wait_job(tuning, first.name)
    new_job(tuning, emu, "gs://data/train.jsonl", epochs=1)


def test_slow_operations_take_their_polls_and_land_their_effect_when_done(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    job = wait_job(tuning, new_job(tuning, emu, "gs://data/train.jsonl", epochs=1).name)
    endpoints = gapic(emu, aiplatform_v1.EndpointServiceClient)
    endpoint = endpoints.get_endpoint(name=job.tuned_model.endpoint)
    emu.configure(lro_polls=3)
    emu.reset_stats()
    operation = endpoints.undeploy_model(
        endpoint=endpoint.name, deployed_model_id=endpoint.deployed_models[0].id
    )
    assert not operation.done()  # poll 1 of 3
    assert endpoints.get_endpoint(name=endpoint.name).deployed_models  # not undeployed yet
    operation.result(timeout=30)
    assert emu.calls("Operations.GetOperation") == 3
    assert not endpoints.get_endpoint(name=endpoint.name).deployed_models


def test_an_operation_that_never_ends_times_the_client_out(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    job = wait_job(tuning, new_job(tuning, emu, "gs://data/train.jsonl", epochs=1).name)
    endpoints = gapic(emu, aiplatform_v1.EndpointServiceClient)
    endpoint = endpoints.get_endpoint(name=job.tuned_model.endpoint)
    emu.configure(lro_never_done=True)
    operation = endpoints.undeploy_model(
        endpoint=endpoint.name, deployed_model_id=endpoint.deployed_models[0].id
    )
    with pytest.raises(TimeoutError):
        operation.result(timeout=2)
    assert endpoints.get_endpoint(name=endpoint.name).deployed_models  # no effect, ever


def test_list_filters_can_be_ignored_or_refused(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    new_job(tuning, emu, "gs://data/train.jsonl", labels={"owner": "a"})
    new_job(tuning, emu, "gs://data/train.jsonl", labels={"owner": "b"})
    request = {"parent": emu.parent, "filter": 'labels.owner="a"'}
    assert len(list(tuning.list_tuning_jobs(request=request))) == 1
    emu.configure(tuning_job_list_filter="ignore")
    assert len(list(tuning.list_tuning_jobs(request=request))) == 2  # a mis-filtering service
    emu.configure(tuning_job_list_filter="refuse")
    with pytest.raises(exceptions.BadRequest):
        list(tuning.list_tuning_jobs(request=request))
    assert len(_jobs(tuning, emu)) == 2  # no filter: still answered


def test_a_label_filter_can_answer_nothing(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    """``labels_empty``: an undocumented filter the service matches nothing with (no 400)."""
    job = new_job(tuning, emu, "gs://data/train.jsonl", labels={"owner": "a"})
    emu.configure(tuning_job_list_filter="labels_empty")
    labelled = {"parent": emu.parent, "filter": 'labels.owner="a"'}
    assert list(tuning.list_tuning_jobs(request=labelled)) == []
    by_time = {"parent": emu.parent, "filter": f'create_time>="{job.create_time.isoformat()}"'}
    assert [j.name for j in tuning.list_tuning_jobs(request=by_time)] == [job.name]
    assert [j.name for j in _jobs(tuning, emu)] == [job.name]


@pytest.mark.parametrize("state", ["PAUSED", "UPDATING"])
def test_a_held_job_reports_its_hold_state_then_runs_on_and_succeeds(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient, state: str
) -> None:
    """A quarter of an epoch after it starts, the job is PAUSED (or UPDATING) for
    ``hold_seconds``, then RUNNING again; it ends that much later, with every epoch."""
    # A hold long enough that polls every 50 ms see it even on a loaded machine.
    emu.configure(hold_seconds=3.0, hold_state=state)
    job = new_job(tuning, emu, "gs://data/train.jsonl", epochs=2)
    emu.configure(hold_seconds=0.0)  # taken at create: later changes do not touch this job
    held = getattr(aiplatform_v1.JobState, f"JOB_STATE_{state}")
    seen = wait_job(tuning, job.name, until=lambda j: j.state == held)
    after = wait_job(tuning, job.name)
    assert after.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    assert seen.start_time is not None
    trained = after.end_time - after.start_time
    # The hold and both epochs (a microsecond's rounding of the timestamps allowed for).
    assert trained.total_seconds() >= 3.0 + 2 * 0.05 - 1e-3
    assert len(after.tuned_model.checkpoints) == 2


def test_hold_settings_are_checked(emu: EmulatorProcess) -> None:
    for bad in ({"hold_state": "RUNNING"}, {"hold_seconds": -1}):
        response = requests.post(f"{emu.url}/emulator/config", json=bad, timeout=10)
        assert response.status_code == 400, bad


def _post(emu: EmulatorProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{emu.url}/v1/{emu.parent}/{path}", json=body, timeout=10)
    assert response.status_code == 400
    return dict(response.json()["error"])


def test_an_unknown_request_field_is_400_with_googles_message(emu: EmulatorProcess) -> None:
    body = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {"trainingDatasetUri": "gs://data/train.jsonl", "epochs": 3},
        "labelz": {"team": "a"},
    }
    error = _post(emu, "tuningJobs", body)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == (
        'Invalid JSON payload received. Unknown name "epochs" at '
        "'tuning_job.supervised_tuning_spec': Cannot find field.\n"
        "Invalid JSON payload received. Unknown name \"labelz\" at 'tuning_job': "
        "Cannot find field."
    )
    (details,) = error["details"]
    assert details["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert [v["field"] for v in details["fieldViolations"]] == [
        "tuning_job.supervised_tuning_spec",
        "tuning_job",
    ]
    assert emu.calls(CREATE) == 1
    assert emu.stats()["resources"].get("tuningJob", 0) == 0


def test_an_unknown_field_of_a_body_star_request_has_no_path(emu: EmulatorProcess) -> None:
    error = _post(emu, "endpoints/1:undeployModel", {"deployedModelId": "1", "trafficSplitt": {}})
    assert error["message"] == (
        'Invalid JSON payload received. Unknown name "trafficSplitt": Cannot find field.'
    )
    assert "field" not in error["details"][0]["fieldViolations"][0]


def test_snake_case_enum_numbers_and_int64_strings_still_parse(
    emu: EmulatorProcess, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    body = {
        "base_model": "gemini-2.5-flash",
        "supervised_tuning_spec": {
            "training_dataset_uri": "gs://data/train.jsonl",
            "hyper_parameters": {"epoch_count": "2", "adapter_size": 2},
        },
    }
    response = requests.post(f"{emu.url}/v1/{emu.parent}/tuningJobs", json=body, timeout=10)
    assert response.status_code == 200, response.text
    hyper = response.json()["supervisedTuningSpec"]["hyperParameters"]
    assert hyper == {
        "epochCount": "2",
        "adapterSize": "ADAPTER_SIZE_FOUR",
        "learningRateMultiplier": 1.0,
    }


def test_fault_rules_are_checked(emu: EmulatorProcess) -> None:
    for rule in ({"answer": "418"}, {"answer": "503", "when": "later"}, {"answer": "503", "x": 1}):
        with pytest.raises(Exception, match="400"):
            emu.configure(faults=[rule])
    assert Path(emu.state_dir).is_dir()


def test_rate_shorthands_are_rules_with_the_rates_they_say() -> None:
    """--rate-429 0.25 --rate-503 0.5: the 503 rule sees only what the 429 rule let through."""
    rules = rate_rules(0.25, 0.5)
    assert [(r["answer"], r["when"], round(r["rate"], 4)) for r in rules] == [
        ("429", "before", 0.25),
        ("503", "before", 0.6667),  # 0.75 * 0.6667 = 0.5 of all requests
    ]
    assert rate_rules() == []


def test_set_faults_replaces_the_rules_in_order(emu: EmulatorProcess) -> None:
    try:
        emu.add_fault("500", method="CreateTuningJob")
        emu.set_faults(fail_next=[503, 429], rate_503=1.0, method="ListModels")
        rules = emu.configure()["faults"]
        assert [(r["answer"], r["method"], r["next"]) for r in rules] == [
            ("503", "ListModels", 1),
            ("429", "ListModels", 1),
            ("503", "ListModels", None),
        ]
    finally:
        emu.clear_faults()
    assert emu.configure()["faults"] == []
