"""The Vertex backend against the emulator: transient errors retried, others not; deletes are
idempotent; adoption lookups by label."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from gemini_tuning.backends import (
    BackendError,
    DeleteRefusedError,
    JobRequest,
    JobStatus,
    NotFoundError,
    QuotaExceededError,
    Settings,
    SubmitUncertainError,
)
from gemini_tuning.backends.vertex import VertexBackend, split_without
from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import emulator_with_training_file

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


def test_labels_and_aliases_are_written_to_one_version_only(backend: VertexBackend) -> None:
    """Issue 22 item 4: a write to a bare name lands on the model (every version shows it), so
    the backend refuses one and resolves names first; the emulator keeps the two levels apart
    as UpdateModelRequest documents them."""
    from google.api_core import exceptions
    from google.cloud import aiplatform_v1

    first = _succeeded(backend, backend.submit_job(_request(owner="levels")).name)
    second = _continue_from(backend, first)
    model_id = first.split("@")[0]
    backend.merge_aliases(second, add=["golden"], remove=[])
    assert backend.version_name(model_id) == first  # the version holding 'default'
    assert backend.version_name(f"{model_id}@golden") == second
    assert backend.version_name(second) == second
    for name in (model_id, f"{model_id}@golden", f"{model_id}@-"):
        with pytest.raises(BackendError, match="refusing to write labels to"):
            backend.update_labels(name, lambda labels: {**labels, "claim": "x"})
        with pytest.raises(BackendError, match="refusing to merge aliases on"):
            backend.merge_aliases(name, add=["prod"], remove=[])

    client = backend._client("model")
    # What a bare-name label write does: the label is the model's, and every version shows it.
    current = dict(client.get_model(name=model_id).labels)
    client.update_model(
        model=aiplatform_v1.Model(name=model_id, labels={**current, "stray": "claim"}),
        update_mask={"paths": ["labels"]},
    )
    assert backend.get_model(first).labels["stray"] == "claim"
    assert backend.get_model(second).labels["stray"] == "claim"
    # A version write cannot take it away: the model's label still shows once merged.
    kept = backend.update_labels(second, lambda labels: {k: labels[k] for k in labels if k != "x"})
    assert kept.labels["stray"] == "claim"
    after = backend.update_labels(
        second, lambda labels: {k: v for k, v in labels.items() if k != "stray"}
    )
    assert after.labels["stray"] == "claim"
    # Version labels stay on their version.
    backend.update_labels(second, lambda labels: {**labels, "mine": "v2"})
    assert "mine" not in backend.get_model(first).labels

    # A bare-name alias merge is refused, as are fields addressed to the wrong level.
    with pytest.raises(exceptions.BadRequest, match="version ID"):
        client.merge_version_aliases(name=model_id, version_aliases=["prod"])
    # FAILED_PRECONDITION is HTTP 400: the REST client raises BadRequest for it.
    with pytest.raises(exceptions.BadRequest, match="field of the model, not of version 2"):
        client.update_model(
            model=aiplatform_v1.Model(name=second, display_name="renamed"),
            update_mask={"paths": ["display_name"]},
        )
    with pytest.raises(exceptions.BadRequest, match="field of a model version"):
        client.update_model(
            model=aiplatform_v1.Model(name=model_id, version_description="v?"),
            update_mask={"paths": ["version_description"]},
        )
    # display_name and description are the model's: set through any version's name, every
    # version shows them.
    renamed = backend.update_model(second, display_name="levels", description="both")
    assert renamed.name == second
    assert {backend.get_model(v).display_name for v in (first, second)} == {"levels"}
    assert {backend.get_model(v).description for v in (first, second)} == {"both"}


def test_releases_list_reports_a_claim_written_to_the_model(backend: VertexBackend) -> None:
    """`releases list` against the registry: a claim on the model (a bare-name write) shows on
    every version and is reported as such; a claim on one version is not."""
    from google.cloud import aiplatform_v1

    from gemini_tuning import _claims as claims
    from gemini_tuning.cli._releases import registry_views, render

    first = _succeeded(backend, backend.submit_job(_request(owner="stray")).name)
    second = _continue_from(backend, first)
    backend.update_labels(second, lambda labels: claims.with_claim(labels, "gemini-tuning/staging"))
    backend._client("model").update_model(
        model=aiplatform_v1.Model(
            name=first.split("@")[0], labels=claims.with_claim({}, "gemini-tuning/prod")
        ),
        update_mask={"paths": ["labels"]},
    )
    records = [
        (f"gs://b/r/qa/v{n}.json", {"model": "qa", "version": n, "tuned_model": name})
        for n, name in ((1, first), (2, second))
    ]
    views = registry_views(backend, records, current={second}, own_aliases=())
    rows = {row["version"]: row for row in (v.to_dict() for v in views)}
    assert rows[1]["status"] == "claimed"  # held by the stray claim: never pruned meanwhile
    for row in rows.values():
        assert len(row["notes"]) == 1
        assert row["notes"][0].startswith("claim at model level: gemini-tuning-prod (")
        assert "staging" not in row["notes"][0]
    assert "gemini-tuning-staging" in rows[2]["claims"]
    assert "claim at model level: gemini-tuning-prod" in render(list(rows.values()))


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


@pytest.mark.parametrize("mode", ["ignore", "refuse", "labels_empty"])
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
    assert status.validation_loss_per_epoch == ()  # no validation dataset: no validation loss


def test_the_loss_is_the_learners_own_and_validation_loss_comes_with_a_validation_set(
    backend: VertexBackend, emu: EmulatorProcess
) -> None:
    """Issue 25 item 2: /train_total_loss per step and /eval_total_loss per epoch are what the
    emulator's learner computed on the job's data (_learner.py), read back through the job's
    experiment as on Vertex."""
    from pathlib import Path

    from gemini_tuning.datasets import iter_file_text_pairs
    from gemini_tuning.emulator import _learner

    data = Path(__file__).resolve().parents[2] / "stacks" / "data"
    train, val = data / "number-successor-vertex.jsonl", data / "number-successor-vertex-eval.jsonl"
    emu.upload(train.read_bytes(), "gs://b/ns-train.jsonl")
    emu.upload(val.read_bytes(), "gs://b/ns-val.jsonl")
    request = JobRequest(
        **{
            **_request(owner="validation").__dict__,
            "training_uri": "gs://b/ns-train.jsonl",
            "validation_uri": "gs://b/ns-val.jsonl",
            "epoch_count": 3,
        }
    )
    job = backend.submit_job(request)
    _succeeded(backend, job.name)
    status = backend.get_job(job.name)
    pairs = list(iter_file_text_pairs(train))
    learned = _learner.train(pairs, epochs=3)
    steps = int(status.data_stats["steps"]) // 3
    assert status.loss_per_epoch == pytest.approx(learned.epoch_losses(steps), abs=1e-5)
    expected = _learner.validation_losses(learned, pairs, list(iter_file_text_pairs(val)))
    assert status.validation_loss_per_epoch == pytest.approx(expected, abs=1e-6)
    assert len(status.validation_loss_per_epoch) == 3


def test_the_whole_loss_curve_is_read_not_a_sample(
    backend: VertexBackend, emu: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 22 item 9: timeSeries.read answers a random sample of 1000 points of a longer
    series unless maxDataPoints says otherwise; the provider asks for every point (-1)."""
    from google.api_core import exceptions

    from gemini_tuning.backends import _experiment
    from gemini_tuning.emulator._metrics import RUN_ID
    from tests.support.engine import write_examples

    emu.upload(write_examples(tmp_path_factory.mktemp("long") / "l.jsonl", 400), "gs://b/l.jsonl")
    request = JobRequest(
        **{**_request(owner="long").__dict__, "training_uri": "gs://b/l.jsonl", "epoch_count": 25}
    )
    job = backend.submit_job(request)
    _succeeded(backend, job.name)
    status = backend.get_job(job.name)
    assert status.data_stats["steps"] == 1250  # 25 epochs of 400 / 8 steps: more than 1000
    assert status.experiment is not None
    points = _experiment.training_loss(backend._call, status.experiment)
    assert [step for step, _ in points] == list(range(1, 1251))
    published = [m["trainLoss"] for m in emu.job_metrics(job.name)["metrics"]]
    assert status.loss_per_epoch == pytest.approx(published, abs=1e-6)

    # What a read without maxDataPoints gets: 1000 distinct points of the 1250, in step order.
    context = backend._call("metadata", "get_context", name=status.experiment)
    tensorboard = dict(context.metadata)[_experiment.TENSORBOARD_KEY]
    experiment_id = status.experiment.rsplit("/", 1)[-1]
    run = f"{tensorboard}/experiments/{experiment_id}/runs/{RUN_ID}"
    tensorboards = backend._client("tensorboard")
    (series,) = list(tensorboards.list_tensorboard_time_series(parent=run))

    def read(**extra: int) -> list[int]:
        data = tensorboards.read_tensorboard_time_series_data(
            request={"tensorboard_time_series": series.name, **extra}
        )
        return [int(v.step) for v in data.time_series_data.values]

    sampled = read()
    assert len(sampled) == 1000
    assert sampled == sorted(set(sampled))
    assert sampled != list(range(1, 1001))  # random, not the first 1000
    assert read() == sampled  # the emulator's dice are seeded
    assert len(read(max_data_points=5)) == 5
    assert len(read(max_data_points=-1)) == 1250
    with pytest.raises(exceptions.BadRequest, match="max_data_points"):
        read(max_data_points=10_001)


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


def _cancelled_after_its_first_checkpoint(backend: VertexBackend, name: str) -> JobStatus:
    """A 3-epoch job, cancelled once its first checkpoint is deployed to an endpoint, as it is
    once the cancel took effect."""
    import time

    request = JobRequest(
        **{**_three_epochs(name).__dict__, "labels": {"emulator-seconds-per-epoch": "0.3"}}
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
    return status


def test_a_cancelled_job_leaves_no_endpoint(backend: VertexBackend, emu: EmulatorProcess) -> None:
    job = status = _cancelled_after_its_first_checkpoint(backend, "cancel")
    assert status.state == "CANCELLED"
    assert status.tuned_model is None
    assert _labelled_endpoints(backend, job.name)
    steps = backend.delete_job_endpoints(job.name)
    assert any(s.startswith("deleted endpoint") for s in steps)
    assert _labelled_endpoints(backend, job.name) == []


def test_a_job_that_ends_badly_fails_the_create_and_leaves_no_endpoint(
    backend: VertexBackend, emu: EmulatorProcess
) -> None:
    """Cancelled by someone else after its first checkpoint was deployed: the create fails
    with the job's own error, and takes the checkpoint's endpoint with it (a failed create
    leaves no resource in the state that could delete it later)."""
    from gemini_tuning.resources import _submit, tuning_job

    job = status = _cancelled_after_its_first_checkpoint(backend, "ended")
    assert _labelled_endpoints(backend, job.name)

    try:
        with pytest.raises(RuntimeError, match="ended CANCELLED"):
            tuning_job._check_end(status, {"gemini-tuning-resource": "ended"}, "qa", backend)
    finally:
        _submit.forget_ended_badly()
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
