"""The emulator's Gemini API `tunedModels` surface (wire-contract.md section 6; issue 7).

Through the official clients where they can: the GAPIC `google-ai-generativelanguage` client
(what the gemini-api backend uses) and google-genai in Gemini API mode (get, list, update,
delete, generateContent). The tutorial's own snake_case create request, its `?key=` and its
operation polling under `/v1/` go through plain HTTP, as the tutorial sends them with curl
(google-genai 2.34 cannot create: its tune() drops the examples, shown below).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google import genai
from google.ai import generativelanguage_v1beta as glm
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.genai import errors, types
from google.longrunning import operations_pb2

from gemini_tuning.testing import EmulatorProcess
from tests.support.emulator import BASE, TUTORIAL

pytestmark = pytest.mark.emulator

KEY = "emulator-test-key-5c1d"


def rest(
    emu: EmulatorProcess, method: str, path: str, *, key: str | None = KEY, **kwargs: Any
) -> requests.Response:
    params = dict(kwargs.pop("params", {}))
    if key:
        params["key"] = key
    return requests.request(method, f"{emu.url}/{path}", params=params, timeout=10, **kwargs)


def tutorial_body(**overrides: Any) -> dict[str, Any]:
    """The tutorial's request, in its snake_case spelling."""
    body: dict[str, Any] = {
        "display_name": "number generator model",
        "base_model": BASE,
        "tuning_task": {
            "hyperparameters": {"batch_size": 2, "learning_rate": 0.001, "epoch_count": 5},
            "training_data": {"examples": {"examples": TUTORIAL}},
        },
    }
    body.update(overrides)
    return body


def create(emu: EmulatorProcess, body: dict[str, Any], **params: str) -> dict[str, Any]:
    response = rest(emu, "POST", "v1beta/tunedModels", json=body, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_done(emu: EmulatorProcess, operation: str, version: str = "v1") -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        op = rest(emu, "GET", f"{version}/{operation}").json()
        if op.get("done"):
            return dict(op)
        assert time.monotonic() < deadline, op
        time.sleep(0.05)


def error_of(response: requests.Response) -> tuple[int, str, str]:
    err = response.json()["error"]
    return response.status_code, err["status"], err["message"]


@pytest.fixture
def slow(emu: EmulatorProcess) -> Iterator[None]:
    emu.configure(seconds_per_epoch=0.5)
    yield
    emu.configure(seconds_per_epoch=emu.seconds_per_epoch)


@pytest.fixture
def gapic(emu: EmulatorProcess) -> glm.ModelServiceClient:
    options = ClientOptions(api_endpoint=emu.url, api_key=KEY)
    return glm.ModelServiceClient(transport="rest", client_options=options)


@pytest.fixture
def genai_client(emu: EmulatorProcess) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=emu.url))


def test_tutorial_request_tunes_with_15_examples_and_polls_under_v1(
    emu: EmulatorProcess, slow: None
) -> None:
    first = create(emu, tutorial_body())
    model = first["metadata"]["tunedModel"]
    assert first["name"].startswith(f"{model}/operations/")
    assert model.startswith("tunedModels/number-generator-model-")
    assert "done" not in first
    assert first["metadata"] == {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.CreateTunedModelMetadata",
        "tunedModel": model,
        "totalSteps": math.ceil(15 / 2) * 5,
    }
    assert rest(emu, "GET", f"v1beta/{model}").json()["state"] == "CREATING"
    seen: list[float] = []
    deadline = time.monotonic() + 20
    while True:
        op = rest(emu, "GET", f"v1/{first['name']}").json()  # "you can only check it on v1/"
        seen.append(op["metadata"].get("completedPercent", 0.0))
        if op.get("done"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert seen == sorted(seen)
    assert any(0 < p < 100 for p in seen), seen
    meta = op["metadata"]
    assert (meta["completedSteps"], meta["completedPercent"]) == (40, 100)
    assert len(meta["snapshots"]) == 40
    response = op["response"]
    assert response["@type"].endswith("v1beta.TunedModel")
    assert response["state"] == "ACTIVE"
    got = rest(emu, "GET", f"v1beta/{model}").json()
    assert got["state"] == "ACTIVE"
    assert got["tuningTask"]["hyperparameters"] == {
        "epochCount": 5,
        "batchSize": 2,
        "learningRate": 0.001,
    }
    assert "trainingData" not in got["tuningTask"]  # input only, never echoed
    snapshots = got["tuningTask"]["snapshots"]
    assert snapshots[0]["step"] == 1
    assert "epoch" not in snapshots[0]  # epoch 0, omitted as a proto3 default
    assert {s.get("epoch", 0) for s in snapshots} == {0, 1, 2, 3, 4}
    assert got["tuningTask"]["startTime"] < got["tuningTask"]["completeTime"]
    answer = rest(
        emu,
        "POST",
        f"v1beta/{model}:generateContent",
        json={"contents": [{"parts": [{"text": "ninety nine"}]}]},
    ).json()
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "one hundred"
    assert rest(emu, "DELETE", f"v1beta/{model}").json() == {}


def test_gapic_client_camel_case_operation_and_int_enums(
    emu: EmulatorProcess, gapic: glm.ModelServiceClient
) -> None:
    tuned = glm.TunedModel(
        display_name="gapic numbers",
        base_model=BASE,
        tuning_task=glm.TuningTask(
            hyperparameters=glm.Hyperparameters(epoch_count=2, learning_rate_multiplier=0.5),
            training_data=glm.Dataset(
                examples=glm.TuningExamples(
                    examples=[
                        glm.TuningExample(text_input=p["text_input"], output=p["output"])
                        for p in TUTORIAL
                    ]
                )
            ),
        ),
    )
    operation = gapic.create_tuned_model(tuned_model=tuned, tuned_model_id="gapic-numbers-1")
    assert operation.metadata.tuned_model == "tunedModels/gapic-numbers-1"
    assert operation.metadata.total_steps == math.ceil(15 / 4) * 2  # default batch size 4
    result = operation.result(timeout=20)
    assert result.state == glm.TunedModel.State.ACTIVE
    assert result.tuning_task.hyperparameters.learning_rate_multiplier == 0.5
    listed = gapic.list_operations(
        operations_pb2.ListOperationsRequest(name="tunedModels/gapic-numbers-1")
    )
    meta = glm.CreateTunedModelMetadata.deserialize(listed.operations[0].metadata.value)
    assert meta.completed_percent == 100
    assert len(meta.snapshots) == meta.total_steps
    raw = rest(
        emu, "GET", "v1beta/tunedModels/gapic-numbers-1", params={"$alt": "json;enum-encoding=int"}
    )
    assert raw.json()["state"] == 2  # ACTIVE, as gapic asks for int enums
    with pytest.raises(exceptions.Conflict):
        gapic.create_tuned_model(tuned_model=tuned, tuned_model_id="gapic-numbers-1")
    gapic.delete_tuned_model(name="tunedModels/gapic-numbers-1")
    with pytest.raises(exceptions.NotFound):
        gapic.get_tuned_model(name="tunedModels/gapic-numbers-1")
    op_path = f"v1beta/{listed.operations[0].name}"
    assert rest(emu, "GET", op_path).status_code == 404  # its operations went with it


def test_genai_gemini_api_mode_get_list_generate_update_delete(
    emu: EmulatorProcess, genai_client: genai.Client
) -> None:
    created = create(emu, tutorial_body(display_name="genai numbers"))
    model = created["metadata"]["tunedModel"]
    wait_done(emu, created["name"], "v1beta")
    got = genai_client.models.get(model=model)
    assert got.name == model
    assert got.display_name == "genai numbers"
    names = [m.name for m in genai_client.models.list(config={"query_base": False})]
    assert model in names
    reply = genai_client.models.generate_content(model=model, contents="twenty two")
    assert reply.text == "twenty three"
    streamed = "".join(
        chunk.text or ""
        for chunk in genai_client.models.generate_content_stream(model=model, contents="-98")
    )
    assert streamed == "-97"
    updated = genai_client.models.update(  # PATCH without updateMask: lenient
        model=model, config=types.UpdateModelConfig(description="successors")
    )
    assert updated.description == "successors"
    assert updated.display_name == "genai numbers"
    job = genai_client.tunings.get(name=model)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    genai_client.models.delete(model=model)
    with pytest.raises(errors.ClientError) as err:
        genai_client.models.get(model=model)
    assert err.value.code == 404


def test_genai_tune_drops_the_examples_in_gemini_api_mode(genai_client: genai.Client) -> None:
    """wire-contract.md section 6: why the backend uses the GAPIC client to create."""
    with pytest.raises(errors.ClientError) as err:
        genai_client.tunings.tune(
            base_model=BASE,
            training_dataset=types.TuningDataset(
                examples=[types.TuningExample(text_input="1", output="2")]
            ),
            config=types.CreateTuningJobConfig(epoch_count=1),
        )
    assert err.value.code == 400
    assert "training_data is required" in str(err.value)


def test_api_key_is_required_in_header_query_or_bearer_and_never_echoed(
    emu: EmulatorProcess,
) -> None:
    response = rest(emu, "GET", "v1beta/tunedModels", key=None)
    assert error_of(response)[:2] == (403, "PERMISSION_DENIED")
    assert "API Key" in error_of(response)[2]
    assert rest(emu, "GET", "v1beta/tunedModels", key="").status_code == 403
    header = requests.get(
        f"{emu.url}/v1beta/tunedModels", headers={"x-goog-api-key": KEY}, timeout=10
    )
    assert header.status_code == 200
    bearer = requests.get(
        f"{emu.url}/v1beta/tunedModels", headers={"Authorization": "Bearer t"}, timeout=10
    )
    assert bearer.status_code == 200
    refused = rest(emu, "POST", "v1beta/tunedModels", json=tutorial_body(base_model="x"))
    assert KEY not in refused.text
    log = emu.state_dir / "emulator.log"
    assert not log.exists() or KEY not in log.read_text()


def _example(text: str = "1", output: str = "2", **extra: Any) -> dict[str, Any]:
    return {"text_input": text, "output": output, **extra}


@pytest.mark.parametrize(
    ("examples", "wanted"),
    [
        ([_example("x" * 40_001)], "maximum input size per example is 40000"),
        ([_example(output="y" * 5_001)], "maximum output size per example is 5000"),
        (
            [{"contents": [{"role": "user", "parts": [{"text": "1"}]}]}],
            # No multi-turn: the message has no such field, and Google's front end says so.
            'Unknown name "contents" at '
            "'tuned_model.tuning_task.training_data.examples.examples[0]': Cannot find field.",
        ),
        ([_example(), _example(text="")], "examples[1].text_input is required"),
        ([_example("x" * 40_000, "y" * 5_000)] * 100, "at most 4194304 bytes (4 MB)"),
        ([], "must not be empty"),
    ],
    ids=["input-40k", "output-5k", "multi-turn", "empty-input", "4MB", "no-examples"],
)
def test_documented_limits_are_400(
    emu: EmulatorProcess, examples: list[dict[str, Any]], wanted: str
) -> None:
    body = tutorial_body()
    body["tuning_task"]["training_data"]["examples"]["examples"] = examples
    code, status, message = error_of(rest(emu, "POST", "v1beta/tunedModels", json=body))
    assert (code, status) == (400, "INVALID_ARGUMENT")
    assert wanted in message


def test_other_create_validation(emu: EmulatorProcess) -> None:
    both = tutorial_body()
    both["tuning_task"]["hyperparameters"]["learning_rate_multiplier"] = 1.0
    assert error_of(rest(emu, "POST", "v1beta/tunedModels", json=both))[2] == (
        "Invalid value at 'tuned_model.tuning_task.hyperparameters' (oneof), oneof field "
        "'learning_rate_option' is already set. Cannot set 'learning_rate_multiplier'"
    )
    long_name = tutorial_body(display_name="n" * 41)
    assert error_of(rest(emu, "POST", "v1beta/tunedModels", json=long_name))[0] == 400
    bad_id = rest(
        emu, "POST", "v1beta/tunedModels", json=tutorial_body(), params={"tunedModelId": "9bad"}
    )
    assert error_of(bad_id)[0] == 400
    unknown = error_of(
        rest(
            emu,
            "POST",
            "v1beta/tunedModels",
            json=tutorial_body(base_model="models/gemini-2.5-flash"),
        )
    )
    assert unknown[:2] == (404, "NOT_FOUND")
    assert "not supported for createTunedModel" in unknown[2]


def test_defaults_follow_the_proto(emu: EmulatorProcess) -> None:
    small = tutorial_body()
    small["tuning_task"].pop("hyperparameters")
    created = create(emu, small)
    model = rest(emu, "GET", f"v1beta/{created['metadata']['tunedModel']}").json()
    assert model["tuningTask"]["hyperparameters"] == {
        "epochCount": 5,
        "batchSize": 4,
        "learningRate": 0.001,
    }
    large = tutorial_body()
    large["tuning_task"].pop("hyperparameters")
    large["tuning_task"]["training_data"]["examples"]["examples"] = [
        _example(str(i), str(i + 1)) for i in range(500)
    ]
    created = create(emu, large)
    model = rest(emu, "GET", f"v1beta/{created['metadata']['tunedModel']}").json()
    assert model["tuningTask"]["hyperparameters"]["batchSize"] == 16
    assert model["tuningTask"]["hyperparameters"]["learningRate"] == 0.0002
    assert created["metadata"]["totalSteps"] == math.ceil(500 / 16) * 5


def test_list_pages_and_filter(emu: EmulatorProcess) -> None:
    tag = f"zebra{int(time.time() * 1000) % 100000}"
    for n in range(3):
        create(emu, tutorial_body(display_name=f"{tag} list {n}", description="striped"))
    first = rest(emu, "GET", "v1beta/tunedModels", params={"pageSize": 2, "filter": tag}).json()
    assert len(first["tunedModels"]) == 2
    token = first["nextPageToken"]
    second = rest(
        emu, "GET", "v1beta/tunedModels", params={"pageSize": 2, "filter": tag, "pageToken": token}
    ).json()
    assert len(second["tunedModels"]) == 1
    assert "nextPageToken" not in second
    names = [m["displayName"] for m in first["tunedModels"] + second["tunedModels"]]
    assert names == [f"{tag} list {n}" for n in range(3)]
    both = rest(emu, "GET", "v1beta/tunedModels", params={"filter": f"{tag} striped owner:me"})
    assert len(both.json()["tunedModels"]) == 3
    public = rest(emu, "GET", "v1beta/tunedModels", params={"filter": "readers:everyone"})
    assert public.json() == {}
    everything = rest(emu, "GET", "v1beta/tunedModels").json()
    assert len(everything["tunedModels"]) <= 10  # default page size
    wrong = rest(emu, "GET", "v1beta/tunedModels", params={"pageToken": token})
    assert error_of(wrong)[0] == 400  # a token belongs to its query


def test_patch_update_mask_is_lenient_and_guards_immutable_fields(emu: EmulatorProcess) -> None:
    model = create(emu, tutorial_body())["metadata"]["tunedModel"]
    no_mask = rest(emu, "PATCH", f"v1beta/{model}", json={"description": "one"}).json()
    assert no_mask["description"] == "one"
    masked = rest(
        emu,
        "PATCH",
        f"v1beta/{model}",
        json={"displayName": "two", "description": "ignored"},
        params={"updateMask": "display_name"},
    ).json()
    assert (masked["displayName"], masked["description"]) == ("two", "one")
    immutable = rest(
        emu,
        "PATCH",
        f"v1beta/{model}",
        json={"baseModel": BASE},
        params={"updateMask": "baseModel"},
    )
    assert error_of(immutable)[0] == 400


def test_failure_generate_preconditions_and_operations_list(emu: EmulatorProcess) -> None:
    created = create(emu, tutorial_body(description="fails [emulator-fail]"))
    model = created["metadata"]["tunedModel"]
    early = rest(
        emu,
        "POST",
        f"v1beta/{model}:generateContent",
        json={"contents": [{"parts": [{"text": "1"}]}]},
    )
    assert error_of(early)[:2] == (400, "FAILED_PRECONDITION")
    done = wait_done(emu, created["name"], "v1beta")
    assert done["error"]["code"] == 13
    assert rest(emu, "GET", f"v1beta/{model}").json()["state"] == "FAILED"
    for version in ("v1", "v1beta"):
        listed = rest(emu, "GET", f"{version}/{model}/operations").json()
        assert [op["name"] for op in listed["operations"]] == [created["name"]]

    ok = create(emu, tutorial_body())
    wait_done(emu, ok["name"])
    target = ok["metadata"]["tunedModel"]
    instructed = rest(
        emu,
        "POST",
        f"v1beta/{target}:generateContent",
        json={
            "contents": [{"parts": [{"text": "1"}]}],
            "system_instruction": {"parts": [{"text": "be brief"}]},
        },
    )
    assert "Developer instruction is not enabled" in error_of(instructed)[2]
    tokens = rest(
        emu,
        "POST",
        f"v1beta/{target}:countTokens",
        json={"contents": [{"parts": [{"text": "12345678"}]}]},
    ).json()
    assert tokens["totalTokens"] >= 1
    sse = rest(
        emu,
        "POST",
        f"v1beta/{target}:streamGenerateContent",
        params={"alt": "sse"},
        json={"contents": [{"parts": [{"text": "seven"}]}]},
    )
    assert sse.headers["content-type"].startswith("text/event-stream")
    chunks = [json.loads(line[6:]) for line in sse.text.splitlines() if line.startswith("data: ")]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "eight"


def test_retired_mode_refuses_create_like_the_real_service(emu: EmulatorProcess) -> None:
    emu.configure(gemini_api_tuning_retired=True)
    try:
        response = rest(emu, "POST", "v1beta/tunedModels", json=tutorial_body())
    finally:
        emu.configure(gemini_api_tuning_retired=False)
    code, status, message = error_of(response)
    assert (code, status) == (404, "NOT_FOUND")
    assert message.startswith(f"{BASE} is not found for API version v1beta")
