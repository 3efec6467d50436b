"""The Vertex backend against the emulator: transient errors retried, others not; deletes are
idempotent; adoption lookups by label."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from gemini_tuning.backends import BackendError, JobRequest, NotFoundError, Settings
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.engine.conftest import write_examples

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path_factory.mktemp("emu"), seconds_per_epoch=0.02) as emulator:
        emulator.upload(
            write_examples(tmp_path_factory.mktemp("data") / "t.jsonl"), "gs://b/t.jsonl"
        )
        yield emulator


@pytest.fixture
def backend(emu: EmulatorProcess) -> VertexBackend:
    emu.set_faults(rate_429=0, rate_503=0)
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
