"""Continuous tuning (preTunedModel) on the emulator, through the official clients: where the
result lands (the parent model's next version, or a new model for a new display name), which
checkpoint and adapter it continues, which base models allow it; and google-genai's own call.

Google: "Use continuous tuning for Gemini models" (https://docs.cloud.google.com/vertex-ai/
generative-ai/docs/models/gemini-use-continuous-tuning) and TuningJob.tunedModelDisplayName
(https://docs.cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.tuningJobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1
from google.genai import types

from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import error_status, genai_client, new_job, wait_genai_job, wait_job

pytestmark = pytest.mark.emulator
ADAPTER = aiplatform_v1.SupervisedHyperParameters.AdapterSize


def _parent_version(
    tuning: aiplatform_v1.GenAiTuningServiceClient, emu: EmulatorProcess, train_uri: str
) -> str:
    """A tuned ``models/M@1`` (display name ``capitals``, adapter size 4)."""
    hyper = aiplatform_v1.SupervisedHyperParameters(
        epoch_count=2, adapter_size=ADAPTER.ADAPTER_SIZE_FOUR
    )
    job = aiplatform_v1.TuningJob(
        base_model="gemini-2.5-flash",
        supervised_tuning_spec=aiplatform_v1.SupervisedTuningSpec(
            training_dataset_uri=train_uri, hyper_parameters=hyper
        ),
        tuned_model_display_name="capitals",
    )
    done = wait_job(tuning, tuning.create_tuning_job(parent=emu.parent, tuning_job=job).name)
    assert done.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    assert done.tuned_model.model.endswith("@1")
    return done.tuned_model.model


def _continue(
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    emu: EmulatorProcess,
    train_uri: str,
    pre_tuned: str,
    *,
    display_name: str = "",
    checkpoint_id: str = "",
    adapter_size: Any = None,
) -> aiplatform_v1.TuningJob:
    hyper = aiplatform_v1.SupervisedHyperParameters(epoch_count=1)
    if adapter_size is not None:
        hyper.adapter_size = adapter_size
    job = aiplatform_v1.TuningJob(
        pre_tuned_model=aiplatform_v1.PreTunedModel(
            tuned_model_name=pre_tuned, checkpoint_id=checkpoint_id
        ),
        supervised_tuning_spec=aiplatform_v1.SupervisedTuningSpec(
            training_dataset_uri=train_uri, hyper_parameters=hyper
        ),
        tuned_model_display_name=display_name,
    )
    return tuning.create_tuning_job(parent=emu.parent, tuning_job=job)


def test_a_continued_version_lands_under_the_same_model_with_its_display_name(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
) -> None:
    v1 = _parent_version(tuning, emu, train_uri)
    model = v1.split("@", 1)[0]
    created = _continue(tuning, emu, train_uri, v1)
    assert not created.base_model  # the oneof holds preTunedModel only
    assert created.pre_tuned_model.tuned_model_name == v1
    assert created.pre_tuned_model.base_model == "gemini-2.5-flash"  # output only
    assert created.tuned_model_display_name == "capitals"  # "by default ... the pre-tuned model"
    done = wait_job(tuning, created.name)
    assert done.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    assert done.tuned_model.model == f"{model}@2"
    v2 = models.get_model(name=f"{model}@2")
    assert v2.display_name == "capitals"
    assert list(v2.version_aliases) == []  # default stays on v1
    assert "default" in models.get_model(name=v1).version_aliases
    # The same display name as the parent's is still the parent's next version.
    again = wait_job(tuning, _continue(tuning, emu, train_uri, v1, display_name="capitals").name)
    assert again.tuned_model.model == f"{model}@3"
    versions = models.list_model_versions(name=model)
    assert sorted(v.version_id for v in versions) == ["1", "2", "3"]


def test_a_new_display_name_makes_a_new_model(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    models: aiplatform_v1.ModelServiceClient,
) -> None:
    v1 = _parent_version(tuning, emu, train_uri)
    job = _continue(tuning, emu, train_uri, v1, display_name="capitals-more")
    done = wait_job(tuning, job.name)
    assert done.tuned_model.model.endswith("@1")
    assert done.tuned_model.model.split("@")[0] != v1.split("@")[0]
    assert models.get_model(name=done.tuned_model.model).display_name == "capitals-more"
    assert [v.version_id for v in models.list_model_versions(name=v1.split("@")[0])] == ["1"]


def test_a_continuation_keeps_the_adapter_and_names_an_existing_checkpoint(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    v1 = _parent_version(tuning, emu, train_uri)
    with pytest.raises(exceptions.BadRequest) as err:
        _continue(tuning, emu, train_uri, v1, adapter_size=ADAPTER.ADAPTER_SIZE_EIGHT)
    assert error_status(err.value) == "INVALID_ARGUMENT"
    assert "a continued model keeps its adapter size" in str(err.value.message)
    with pytest.raises(exceptions.BadRequest) as err:
        _continue(tuning, emu, train_uri, v1, checkpoint_id="7")
    assert "Checkpoint 7 not found" in str(err.value.message)
    kept = _continue(tuning, emu, train_uri, v1, checkpoint_id="1")
    assert kept.supervised_tuning_spec.hyper_parameters.adapter_size == ADAPTER.ADAPTER_SIZE_FOUR
    assert kept.pre_tuned_model.checkpoint_id == "1"
    wait_job(tuning, kept.name)


def test_a_model_google_does_not_continue_is_refused(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    first = wait_job(
        tuning, new_job(tuning, emu, train_uri, base_model="translation-llm-002", epochs=1).name
    )
    assert first.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED, first.error
    with pytest.raises(exceptions.BadRequest) as err:
        _continue(tuning, emu, train_uri, first.tuned_model.model)
    assert "cannot be tuned further" in str(err.value.message)
    assert "translation-llm-002" in str(err.value.message)


@pytest.mark.filterwarnings("ignore:The SDK's tuning implementation is experimental")
def test_google_genai_tunes_a_tuned_model_version(
    emu: EmulatorProcess, train_uri: str, tuning: aiplatform_v1.GenAiTuningServiceClient
) -> None:
    """google-genai's continuous tuning: ``tunings.tune(base_model=<model resource name>)``
    sends ``preTunedModel`` (google/genai/tunings.py: "if base_model.startswith('projects/'):
    # Pre-tuned model"), with ``pre_tuned_model_checkpoint_id`` as its checkpoint."""
    v1 = _parent_version(tuning, emu, train_uri)
    client = genai_client(emu, "v1")
    job = client.tunings.tune(
        base_model=v1,
        training_dataset=types.TuningDataset(gcs_uri=train_uri),
        config=types.CreateTuningJobConfig(epoch_count=1, pre_tuned_model_checkpoint_id="2"),
    )
    assert job.pre_tuned_model is not None
    assert job.pre_tuned_model.tuned_model_name == v1
    assert job.pre_tuned_model.checkpoint_id == "2"
    assert job.pre_tuned_model.base_model == "gemini-2.5-flash"
    job = wait_genai_job(client, job)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.tuned_model is not None
    assert job.tuned_model.model == v1.replace("@1", "@2")


@pytest.fixture
def provider_on(emu: EmulatorProcess) -> Iterator[None]:
    """The resources' backends pointed at ``emu`` (as a stack's configure() does)."""
    from gemini_tuning import backends

    config = {
        "gemini-tuning:project": emu.project,
        "gemini-tuning:location": emu.location,
        "gemini-tuning:apiEndpoint": emu.url,
    }
    backends.configure(config.get)
    yield
    backends.configure(None)


def test_preview_refuses_a_new_continuation_of_a_version_that_is_gone(
    emu: EmulatorProcess,
    train_uri: str,
    tuning: aiplatform_v1.GenAiTuningServiceClient,
    provider_on: None,
    tmp_path: Path,
) -> None:
    from gemini_tuning.resources.tuning_job import TuningJobProvider

    v1 = _parent_version(tuning, emu, train_uri)
    gone = v1.replace("@1", "@9")
    data = tmp_path / "t.jsonl"
    turns = (
        '[{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]'
    )
    data.write_text('{"contents": ' + turns + "}\n")
    news = {
        "resource_name": "qa-more",
        "stack": "it",
        "backend": "vertex",
        "training_dataset": str(data),
    }
    provider = TuningJobProvider()
    ok = provider.check({}, {**news, "pre_tuned_model": v1}).failures
    assert [(f.property, f.reason) for f in ok] == []
    failed = provider.check({}, {**news, "pre_tuned_model": gone}).failures
    assert [f.property for f in failed] == ["pre_tuned_model"]
    assert f"{gone} does not exist (deleted or pruned since it was released)" in failed[0].reason
    # A job already tuned from it is left alone: no new job, nothing to check...
    kept = provider.check({}, {**news, "pre_tuned_model": v1}).inputs
    tuned = {**kept, "pre_tuned_model": gone}
    assert provider.check(tuned, {**news, "pre_tuned_model": gone}).failures == []
    # ...unless a change makes it a new job (here more epochs): then the version must exist.
    again = provider.check(tuned, {**news, "pre_tuned_model": gone, "epoch_count": 2}).failures
    assert [f.property for f in again] == ["pre_tuned_model"]
