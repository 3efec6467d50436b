"""The provider plugin's pure parts: the package schema and the property translation."""

from __future__ import annotations

import json

import pytest
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime.rpc import UNKNOWN

from gemini_tuning.plugin import schema
from gemini_tuning.plugin._kinds import kinds
from gemini_tuning.plugin._values import from_wire, props_in, props_out, to_wire
from gemini_tuning.resources import evaluation, tuned_model, tuning_job
from gemini_tuning.specs import TuningJobSpec

JOB = "gemini-tuning:index:TuningJob"


@pytest.fixture(scope="module")
def package() -> dict:
    return json.loads(schema())


def test_schema_has_every_spec_input_with_its_type_and_description(package: dict) -> None:
    job = package["resources"][JOB]
    inputs = job["inputProperties"]
    expected = {to_wire(f) for f in TuningJobSpec.model_fields} - {"resourceName"}
    assert set(inputs) == expected
    assert inputs["epochCount"]["type"] == "integer"
    assert "<= 100" in inputs["epochCount"]["description"]
    assert inputs["labels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Labels",
    }
    assert inputs["backend"]["description"].endswith("(one of vertex, gemini-api)")
    assert inputs["trainingDataset"]["description"] == "Local JSONL/CSV path or gs:// URI"
    assert job["requiredInputs"] == ["trainingDataset"]


def test_schema_marks_what_replaces_a_job_and_what_is_secret(package: dict) -> None:
    job = package["resources"][JOB]
    replaces = {k for k, v in job["inputProperties"].items() if v.get("replaceOnChanges")}
    assert {"baseModel", "epochCount", "trainingDataset", "adapterSize"} <= replaces
    assert "labels" not in replaces
    assert "description" not in replaces
    assert job["properties"]["error"]["secret"] is True
    samples = package["resources"]["gemini-tuning:index:Evaluation"]["properties"]["samples"]
    assert samples["secret"] is True
    assert samples["items"] == {"type": "object", "additionalProperties": {"type": "string"}}


def test_schema_outputs_are_every_output_of_the_dynamic_resources(package: dict) -> None:
    for token, module in (
        (JOB, tuning_job),
        ("gemini-tuning:index:TunedModel", tuned_model),
        ("gemini-tuning:index:Evaluation", evaluation),
    ):
        props = package["resources"][token]["properties"]
        assert {to_wire(o) for o in module.OUTPUTS} <= set(props), token
    assert package["resources"][JOB]["properties"]["lossPerEpoch"]["items"] == {"type": "number"}
    assert package["config"]["variables"]["geminiApiKey"]["secret"] is True


def test_names_round_trip_and_map_keys_are_left_alone() -> None:
    for name in (*tuning_job.INPUT_KEYS, *tuning_job.OUTPUTS, *evaluation.INPUT_KEYS):
        assert from_wire(to_wire(name)) == name
    wire = {
        "labels": PropertyValue({"model_version": PropertyValue("1")}),
        "epochCount": PropertyValue(3.0),
        "trainingDataset": PropertyValue.computed(),
        "geminiApiKey": PropertyValue("k", is_secret=True),
    }
    plain = props_in(wire)
    assert plain == {
        "labels": {"model_version": "1"},
        "epoch_count": 3.0,
        "training_dataset": UNKNOWN,
        "gemini_api_key": "k",
    }
    back = props_out({**plain, "__provider": "x", "error": "bad"}, secret=["error"])
    assert back["labels"].value["model_version"] == PropertyValue("1")
    assert back["error"].is_secret
    assert not back["epochCount"].is_secret
    # Sent as the wire's unknown marker: the SDK (3.259) cannot marshal its Computed value.
    assert back["trainingDataset"].marshal().string_value == UNKNOWN
    assert "__provider" not in back


def test_every_kind_calls_the_dynamic_resources_own_controller() -> None:
    found = kinds()
    assert found[JOB].controller is tuning_job._PROVIDER
    assert found["gemini-tuning:index:TunedModel"].controller is tuned_model._PROVIDER
    assert found["gemini-tuning:index:Evaluation"].controller is evaluation._PROVIDER


def test_the_plugin_process_loads_the_sdk_server_beside_the_google_clients() -> None:
    """Without the shared google.rpc.Status, the first Vertex call in the plugin fails with
    "duplicate symbol 'google.rpc.Status'" (seen through the engine)."""
    import subprocess
    import sys

    shim = "from gemini_tuning.plugin import _one_status_proto; _one_status_proto()\n"
    imports = (
        "import pulumi.provider.experimental.server\n"
        "from google.cloud import aiplatform_v1\n"
        "import google.rpc.status_pb2 as s\n"
        "print(s.Status(code=3).code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", shim + imports], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-600:]
    assert done.stdout.strip() == "3"
    # The same imports without the shim fail: the reason for it.
    failed = subprocess.run(
        [sys.executable, "-c", imports], capture_output=True, text=True, check=False
    )
    assert "duplicate symbol 'google.rpc.Status'" in failed.stderr
