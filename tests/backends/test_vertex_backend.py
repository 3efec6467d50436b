"""The Vertex backend against the emulator: transient errors retried, others not; deletes are
idempotent; adoption lookups by label."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from gemini_tuning.backends import (
    BackendError,
    DeleteRefusedError,
    JobRequest,
    NotFoundError,
    QuotaExceededError,
    Settings,
    SubmitUncertainError,
)
from gemini_tuning.backends.vertex import VertexBackend, split_without
from gemini_tuning.testing import EmulatorProcess
from tests.backends.conftest import emulator_with_training_file

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with emulator_with_training_file(tmp_path_factory, seconds_per_epoch=0.02) as emulator:
        yield emulator


@pytest.fixture
def backend(emu: EmulatorProcess) -> VertexBackend:
    emu.clear_faults()
    emu.reset_stats()
    return VertexBackend(Settings(project=emu.project, location=emu.location, api_endpoint=emu.url))


def _request(**labels: str) -> JobRequest:
    return JobRequest(
        display_name=None,
        base_model="gemini-2.5-flash",
        pre_tuned_model=None,
        training_uri="gs://b/t.jsonl",
        validation_uri=None,
        labels=labels,
        epoch_count=1,
    )


def _succeeded(backend: VertexBackend, name: str) -> str:
    import time

    for _ in range(200):
        status = backend.get_job(name)
        if not status.active:
            assert status.succeeded, status
            assert status.tuned_model is not None
            return status.tuned_model
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_transient_errors_are_retried(backend: VertexBackend, emu: EmulatorProcess) -> None:
    job = backend.submit_job(_request(owner="retry"))
    emu.set_faults(fail_next=[503, 429, 503])
    assert backend.get_job(job.name).name == job.name
    assert sum(emu.stats()["faults"].values()) == 3


def test_other_errors_are_not_retried(backend: VertexBackend, emu: EmulatorProcess) -> None:
    with pytest.raises(NotFoundError):
        backend.get_job(f"{emu.parent}/tuningJobs/404404")
    assert emu.calls("GenAiTuningService.GetTuningJob") == 1
    with pytest.raises(BackendError, match="adapter size is not supported"):
        backend.submit_job(
            JobRequest(
                display_name=None,
                base_model="gemini-2.5-pro",
                pre_tuned_model=None,
                training_uri="gs://b/t.jsonl",
                validation_uri=None,
                labels={},
                adapter_size=16,
            )
        )
    assert emu.calls("GenAiTuningService.CreateTuningJob") == 1


def test_find_jobs_by_labels(backend: VertexBackend) -> None:
    mine = backend.submit_job(_request(owner="find-me", spec="s1"))
    backend.submit_job(_request(owner="find-me", spec="s2"))
    found = backend.find_jobs({"owner": "find-me", "spec": "s1"})
    assert [j.name for j in found] == [mine.name]


def test_delete_model_is_idempotent(backend: VertexBackend) -> None:
    job = backend.submit_job(_request(owner="delete"))
    model = _succeeded(backend, job.name)
    endpoint = backend.get_job(job.name).endpoint
    steps = backend.delete_version(model, endpoint)
    assert steps[-1].startswith("deleted model")
    assert any(s.startswith("deleted endpoint") for s in steps)
    with pytest.raises(NotFoundError):
        backend.get_model(model)
    assert backend.delete_version(model, endpoint) == []  # already gone: nothing to do, no error


def test_aliases_merge_and_remove(backend: VertexBackend) -> None:
    model = _succeeded(backend, backend.submit_job(_request(owner="alias")).name)
    assert set(backend.merge_aliases(model, add=["dev", "staging"], remove=[]).version_aliases) == {
        "default",
        "dev",
        "staging",
    }
    assert set(backend.merge_aliases(model, add=[], remove=["dev"]).version_aliases) == {
        "default",
        "staging",
    }


def _continue_from(backend: VertexBackend, model: str) -> str:
    """Continuous tuning: the result is the model's next version (models/X@N+1)."""
    request = JobRequest(
        display_name=None,
        base_model=None,
        pre_tuned_model=model,
        training_uri="gs://b/t.jsonl",
        validation_uri=None,
        labels={"owner": "versions"},
        epoch_count=1,
    )
    return _succeeded(backend, backend.submit_job(request).name)


def test_deletes_are_version_exact(backend: VertexBackend) -> None:
    first = _succeeded(backend, backend.submit_job(_request(owner="versions")).name)
    second = _continue_from(backend, first)
    third = _continue_from(backend, second)
    model_id = first.split("@")[0]
    assert [second, third] == [f"{model_id}@2", f"{model_id}@3"]
    endpoints = {m: backend.get_model(m).endpoints[0] for m in (first, second, third)}

    # Labels are per version: claiming v2 leaves v1 and v3 alone.
    backend.update_labels(second, lambda labels: {**labels, "claim": "staging"})
    assert "claim" not in backend.get_model(first).labels
    assert "claim" not in backend.get_model(third).labels

    steps = backend.delete_version(first, endpoints[first])  # v1 holds the 'default' alias
    assert f"deleted model version {first}" in steps
    assert f"moved alias default to {third}" in steps
    with pytest.raises(NotFoundError):
        backend.get_model(first)
    assert "default" in backend.get_model(third).version_aliases
    assert backend.get_model(second).labels["claim"] == "staging"
    endpoint_client = backend._client("endpoint")
    with pytest.raises(Exception, match="not found"):
        endpoint_client.get_endpoint(name=endpoints[first])
    for alive in (second, third):  # the other versions are still served where they were
        deployed = endpoint_client.get_endpoint(name=endpoints[alive]).deployed_models
        assert [(d.model, d.model_version_id) for d in deployed] == [
            (model_id, alive.split("@")[1])
        ]

    backend.delete_version(third, endpoints[third])
    assert [m.name for m in backend.list_versions(model_id)] == [second]
    assert backend.delete_version(second, endpoints[second])[-1] == f"deleted model {model_id}"
    with pytest.raises(NotFoundError):
        backend.get_model(second)


def test_label_updates_never_overwrite_a_concurrent_writer(backend: VertexBackend) -> None:
    """Two stacks claim one version at once: the etag makes the slower write fail and retry on
    what the faster one wrote, so both claims survive."""
    model = _succeeded(backend, backend.submit_job(_request(owner="race")).name)
    calls = 0

    def claim_b_after_a_raced_in(labels: Mapping[str, str]) -> dict[str, str]:
        nonlocal calls
        calls += 1
        if calls == 1:  # another stack writes between our read and our write
            backend.update_labels(model, lambda current: {**current, "claim-a": "staging"})
        return {**labels, "claim-b": "prod"}

    status = backend.update_labels(model, claim_b_after_a_raced_in)
    assert calls == 2  # the first write was refused (stale etag) and the change re-applied
    assert {"claim-a", "claim-b"} <= set(status.labels)


# -- the real service's hazards (issue 12) --------------------------------------------------

CREATE = "GenAiTuningService.CreateTuningJob"


@pytest.fixture
def hazards(emu: EmulatorProcess) -> Iterator[EmulatorProcess]:
    yield emu
    emu.clear_faults()
    emu.configure(
        lro_polls=1,
        lro_never_done=False,
        max_running_jobs=None,
        tuning_job_list_filter="honest",
        hang_seconds=30.0,
    )


def _backend(emu: EmulatorProcess, **settings: float) -> VertexBackend:
    return VertexBackend(
        Settings(project=emu.project, location=emu.location, api_endpoint=emu.url, **settings)
    )


@pytest.mark.parametrize("answer", ["503", "500", "drop"])
def test_a_lost_create_answer_is_never_retried(
    backend: VertexBackend, hazards: EmulatorProcess, answer: str
) -> None:
    hazards.add_fault(answer, method="CreateTuningJob", when="after", next=1)
    with pytest.raises(SubmitUncertainError, match="answer to CreateTuningJob was lost"):
        backend.submit_job(_request(owner=f"lost-{answer}"))
    assert hazards.calls(CREATE) == 1  # one request, one (billed) job: no blind retry
    assert len(backend.find_jobs({"owner": f"lost-{answer}"})) == 1


def test_a_create_that_times_out_after_the_effect_is_uncertain(hazards: EmulatorProcess) -> None:
    hazards.configure(hang_seconds=3.0)
    hazards.add_fault("timeout", method="CreateTuningJob", when="after", next=1)
    backend = _backend(hazards, request_timeout_seconds=0.5)
    with pytest.raises(SubmitUncertainError):
        backend.submit_job(_request(owner="timeout"))
    assert len(backend.find_jobs({"owner": "timeout"})) == 1


def test_the_quota_refusal_is_quota_exceeded(
    backend: VertexBackend, hazards: EmulatorProcess
) -> None:
    hazards.configure(max_running_jobs=0)
    with pytest.raises(QuotaExceededError, match=r"429 .*The following quota metrics"):
        backend.submit_job(_request(owner="quota"))
    assert backend.find_jobs({"owner": "quota"}) == []


@pytest.mark.parametrize("mode", ["ignore", "refuse"])
def test_find_jobs_checks_every_label_whatever_the_filter_answers(
    backend: VertexBackend, hazards: EmulatorProcess, mode: str
) -> None:
    mine = backend.submit_job(_request(owner=f"f-{mode}", spec="s1"))
    backend.submit_job(_request(owner=f"f-{mode}", spec="s2"))
    hazards.configure(tuning_job_list_filter=mode)
    found = backend.find_jobs({"owner": f"f-{mode}", "spec": "s1"})
    assert [j.name for j in found] == [mine.name]


def test_slow_operations_are_waited_for_and_delete_everything(
    backend: VertexBackend, hazards: EmulatorProcess
) -> None:
    job = backend.submit_job(_request(owner="slow-ops"))
    model = _succeeded(backend, job.name)
    endpoint = backend.get_job(job.name).endpoint
    hazards.configure(lro_polls=3)
    hazards.reset_stats()
    backend.delete_version(model, endpoint)
    assert hazards.calls("Operations.GetOperation") == 9  # undeploy, endpoint, model: 3 each
    with pytest.raises(NotFoundError):
        backend.get_model(model)


def test_an_operation_that_never_ends_fails_naming_it(hazards: EmulatorProcess) -> None:
    backend = _backend(hazards, operation_timeout_seconds=2.0)
    model = _succeeded(backend, backend.submit_job(_request(owner="never")).name)
    hazards.configure(lro_never_done=True)
    with pytest.raises(BackendError) as err:
        backend.delete_version(model, None)
    message = str(err.value)
    assert "the undeploy_model operation projects/" in message
    assert "/operations/" in message
    assert "did not finish within 2 s" in message
    assert not isinstance(err.value.__cause__, type(None))


def test_the_loss_comes_from_the_jobs_experiment(
    backend: VertexBackend, emu: EmulatorProcess
) -> None:
    request = _request(owner="loss")
    request = JobRequest(**{**request.__dict__, "epoch_count": 3})
    job = backend.submit_job(request)
    _succeeded(backend, job.name)
    status = backend.get_job(job.name)
    published = [m["trainLoss"] for m in emu.job_metrics(job.name)["metrics"]]
    assert status.loss_per_epoch == pytest.approx(published, abs=1e-5)
    assert status.loss_note is None


def test_no_published_loss_is_said_not_drawn(backend: VertexBackend, emu: EmulatorProcess) -> None:
    emu.configure(publish_metrics=False)
    try:
        job = backend.submit_job(_request(owner="no-loss"))
        _succeeded(backend, job.name)
        status = backend.get_job(job.name)
    finally:
        emu.configure(publish_metrics=True)
    assert status.loss_per_epoch == ()
    assert status.loss_note == "loss not available: the job names no experiment"


def test_a_running_jobs_progress_is_counted_in_published_steps(backend: VertexBackend) -> None:
    import time

    request = JobRequest(
        **{**_request(owner="steps").__dict__, "labels": {"emulator-seconds-per-epoch": "1"}}
    )
    job = backend.submit_job(JobRequest(**{**request.__dict__, "epoch_count": 3}))
    seen: list[tuple[int, int]] = []
    for _ in range(100):
        status = backend.get_job(job.name)
        if status.state == "RUNNING":
            counted = backend.training_progress(status)
            assert counted is not None
            seen.append(counted)
        if status.succeeded:
            break
        time.sleep(0.1)
    assert seen, "the job was never seen RUNNING"
    assert {total for _, total in seen} == {9}  # 3 epochs of ceil(24 / 8) steps
    assert seen[0][0] < seen[-1][0] <= 9  # it grows while the job runs
    assert status.epochs_done == 3


# -- checkpoints' endpoints and a service that keeps tuned models (issue 22) ----------------

JOB_LABEL = "google-vertex-llm-tuning-job-id"


def _labelled_endpoints(backend: VertexBackend, job_name: str) -> list[str]:
    """Every endpoint carrying the job's tuning label, read from the unfiltered list."""
    job_id = job_name.rsplit("/", 1)[-1]
    parent = job_name.split("/tuningJobs/", maxsplit=1)[0]
    listed = backend._client("endpoint").list_endpoints(request={"parent": parent})
    return [e.name for e in listed if e.labels.get(JOB_LABEL) == job_id]


def _three_epochs(owner: str) -> JobRequest:
    return JobRequest(**{**_request(owner=owner).__dict__, "epoch_count": 3})


def test_delete_removes_every_checkpoint_endpoint(backend: VertexBackend) -> None:
    job = backend.submit_job(_three_epochs("checkpoints"))
    model = _succeeded(backend, job.name)
    status = backend.get_job(job.name)
    assert len(status.endpoints) == 3  # the default checkpoint's and two intermediate ones
    assert sorted(_labelled_endpoints(backend, job.name)) == list(status.endpoints)
    steps = backend.delete_version(model, status.endpoint)
    assert sum(s.startswith("deleted endpoint") for s in steps) == 3
    assert _labelled_endpoints(backend, job.name) == []
    with pytest.raises(NotFoundError):
        backend.get_model(model)


def test_a_refused_delete_leaves_nothing_serving_and_says_how_to_finish(
    backend: VertexBackend, emu: EmulatorProcess
) -> None:
    job = backend.submit_job(_three_epochs("refused"))
    model = _succeeded(backend, job.name)
    emu.configure(refuse_tuned_model_delete=True)
    try:
        with pytest.raises(DeleteRefusedError) as refused:
            backend.delete_version(model, backend.get_job(job.name).endpoint)
    finally:
        emu.configure(refuse_tuned_model_delete=False)
    line = str(refused.value)
    model_id = model.split("@")[0].rsplit("/", 1)[-1]
    assert line.startswith(f"the service kept tuned model {model} (it refused the delete: ")
    assert "delete: 400" not in line  # the service's message, not a raw status
    assert f"gcloud ai models delete {model_id} --region={emu.location} --project=" in line
    assert sum(s.startswith("deleted endpoint") for s in refused.value.done) == 3
    assert _labelled_endpoints(backend, job.name) == []
    assert backend.get_model(model).endpoints == ()  # kept, served by nothing
    assert backend.delete_version(model, None)[-1].startswith("deleted model")  # by hand, later


def test_a_cancelled_job_leaves_no_endpoint(backend: VertexBackend, emu: EmulatorProcess) -> None:
    import time

    request = JobRequest(
        **{**_three_epochs("cancel").__dict__, "labels": {"emulator-seconds-per-epoch": "0.3"}}
    )
    job = backend.submit_job(request)
    for _ in range(200):  # until the first checkpoint is deployed
        if _labelled_endpoints(backend, job.name):
            break
        time.sleep(0.05)
    backend.cancel_job(job.name)
    for _ in range(200):
        status = backend.get_job(job.name)
        if not status.active:
            break
        time.sleep(0.05)
    assert status.state == "CANCELLED"
    assert status.tuned_model is None
    assert _labelled_endpoints(backend, job.name)
    steps = backend.delete_job_endpoints(job.name)
    assert any(s.startswith("deleted endpoint") for s in steps)
    assert _labelled_endpoints(backend, job.name) == []


def test_split_without_moves_the_leaving_share_to_those_that_stay() -> None:
    assert split_without({"a": 100}, "a", []) == {}
    assert split_without({"a": 60, "b": 30, "c": 10}, "a", ["b", "c"]) == {"b": 75, "c": 25}
    assert split_without({"a": 100, "b": 0, "c": 0}, "a", ["b", "c"], prefer=["c"]) == {
        "b": 0,
        "c": 100,
    }
    thirds = split_without({"a": 100}, "a", ["b", "c", "d"])
    assert sum(thirds.values()) == 100
    assert sorted(thirds.values()) == [33, 33, 34]
