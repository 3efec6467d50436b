"""google-genai in Vertex mode against the emulator (spec section 9)."""

from __future__ import annotations

import pytest
from google import genai
from google.api_core import exceptions
from google.cloud import aiplatform_v1
from google.genai import errors as genai_errors
from google.genai import types

from gemini_tuning import datasets
from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import (
    BASE_MODEL,
    FACTS,
    gapic,
    genai_client,
    squad_prompt,
    wait_genai_job,
)

pytestmark = pytest.mark.emulator


def _tune_one_epoch(client: genai.Client, train_uri: str) -> str:
    """Tune BASE_MODEL for one epoch, wait, and return the tuned model's endpoint."""
    job = client.tunings.tune(
        base_model=BASE_MODEL,
        training_dataset=types.TuningDataset(gcs_uri=train_uri),
        config=types.CreateTuningJobConfig(epoch_count=1),
    )
    job = wait_genai_job(client, job)
    assert job.tuned_model
    assert job.tuned_model.endpoint
    return job.tuned_model.endpoint


@pytest.mark.parametrize("api_version", [None, "v1"])  # None = genai's default, /v1beta1/
def test_genai_tune_generate_update_list(
    emu: EmulatorProcess, train_uri: str, api_version: str | None
) -> None:
    client = genai_client(emu, api_version)
    job = client.tunings.tune(
        base_model=BASE_MODEL,
        training_dataset=types.TuningDataset(gcs_uri=train_uri),
        config=types.CreateTuningJobConfig(
            epoch_count=2,
            adapter_size=types.AdapterSize.ADAPTER_SIZE_FOUR,
            tuned_model_display_name="genai-capitals",
            labels={"via": "genai"},
        ),
    )
    assert job.name
    assert job.state == types.JobState.JOB_STATE_PENDING
    job = wait_genai_job(client, job)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.tuned_model
    assert job.tuned_model.endpoint
    assert job.tuned_model.model

    answer, country, context = FACTS[0]
    resp = client.models.generate_content(
        model=job.tuned_model.endpoint, contents=squad_prompt(country, context)
    )
    assert resp.text == answer
    streamed = "".join(
        chunk.text or ""
        for chunk in client.models.generate_content_stream(
            model=job.tuned_model.endpoint, contents=squad_prompt(country, context)
        )
    )
    assert streamed == answer

    model = client.models.get(model=job.tuned_model.model)  # raw '@' in the path
    assert model.display_name == "genai-capitals"
    # The description is the model's, not a version's (UpdateModelRequest): it is updated on
    # the model's name; on models/X@1 the service answers with a precondition error.
    updated = client.models.update(
        model=job.tuned_model.model.split("@")[0],
        config=types.UpdateModelConfig(description="capitals of Europe"),
    )
    assert updated.description == "capitals of Europe"
    with pytest.raises(genai_errors.ClientError, match="FAILED_PRECONDITION"):
        client.models.update(
            model=job.tuned_model.model, config=types.UpdateModelConfig(description="no")
        )
    tuned = list(client.models.list(config=types.ListModelsConfig(query_base=False)))
    assert job.tuned_model.model.split("@")[0] in [m.name for m in tuned]
    listed = list(client.tunings.list(config=types.ListTuningJobsConfig(filter="labels.via=genai")))
    assert job.name in [j.name for j in listed]


def test_tuned_model_beats_base_model_on_squad_metrics(
    emu: EmulatorProcess, train_uri: str
) -> None:
    client = genai_client(emu, "v1")
    endpoint = _tune_one_epoch(client, train_uri)

    def score(model: str) -> tuple[float, float]:
        em = f1 = 0.0
        for answer, country, context in FACTS:
            text = (
                client.models.generate_content(
                    model=model, contents=squad_prompt(country, context)
                ).text
                or ""
            )
            em += datasets.exact_match(text, [answer])
            f1 += datasets.token_f1(text, [answer])
        return em / len(FACTS), f1 / len(FACTS)

    base_em, base_f1 = score(BASE_MODEL)  # publishers/google/models/gemini-2.5-flash
    tuned_em, tuned_f1 = score(endpoint)
    assert tuned_em == 1.0
    assert tuned_f1 == 1.0
    assert base_em < 0.5
    assert 0 < base_f1 < tuned_f1


def test_unseen_reading_prompt_gets_a_short_span(emu: EmulatorProcess, train_uri: str) -> None:
    client = genai_client(emu, "v1")
    unseen = (
        "Context: Sweden is a Nordic country. The capital of Sweden is Stockholm.\n"
        "Question: What is the capital of Sweden?"
    )
    base = client.models.generate_content(model=BASE_MODEL, contents=unseen)
    assert base.text == "The capital of Sweden is Stockholm."  # the best context sentence
    endpoint = _tune_one_epoch(client, train_uri)
    tuned = client.models.generate_content(model=endpoint, contents=unseen)
    assert tuned.text == "Stockholm"  # a span as long as the training answers (one word)
    with pytest.raises(genai.errors.ClientError) as err:
        client.models.generate_content(model="text-unicorn-999", contents="hi")
    assert err.value.code == 404
    prediction = gapic(emu, aiplatform_v1.PredictionServiceClient)
    with pytest.raises(exceptions.BadRequest):  # empty contents (genai refuses client-side)
        prediction.generate_content(model=endpoint, contents=[])
