"""The provider plugin's pure parts: the package schema and the property translation."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime.rpc import UNKNOWN

# Through the plugin package, which makes pulumi.provider loadable beside the Google clients.
from gemini_tuning.plugin import schema
from gemini_tuning.plugin._kinds import kinds
from gemini_tuning.plugin._values import PropertyValue, from_wire, props_in, props_out, to_wire
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
        "description": TuningJobSpec.model_fields["labels"].description,
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


# What the plugin's main() (through apply_process_patches("plugin")) and tests/conftest.py run.
SHARE = "from gemini_tuning._process import share_one_status_proto; share_one_status_proto()"


@pytest.mark.parametrize(
    "imports",
    [
        f"{SHARE}; import pulumi.provider.experimental.server; "
        "from google.cloud import aiplatform_v1",
        f"import pulumi.provider; {SHARE}; from google.api_core import exceptions",
        f"from google.api_core import exceptions; {SHARE}; import pulumi.provider",
    ],
)
def test_the_sdk_provider_server_loads_beside_the_google_clients_in_any_order(
    imports: str,
) -> None:
    """Without one shared google.rpc.Status, the plugin's first Vertex call failed with
    "duplicate symbol 'google.rpc.Status'" (seen through the engine), and so did a test run
    that loads both. The plugin's main() shares it before it imports the SDK's server; a test
    run does in tests/conftest.py."""
    import subprocess
    import sys

    check = "; import google.rpc.status_pb2 as s; print(s.Status(code=3).code)"
    done = subprocess.run(
        [sys.executable, "-c", imports + check], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-600:]
    assert done.stdout.strip() == "3"


def test_without_the_shim_the_two_status_protos_collide() -> None:
    import subprocess
    import sys

    bare = "from google.api_core import exceptions; import pulumi.provider"
    failed = subprocess.run(
        [sys.executable, "-c", bare], capture_output=True, text=True, check=False
    )
    assert "duplicate symbol 'google.rpc.Status'" in failed.stderr


def test_the_plugin_runs_as_many_calls_at_once_as_the_engine_sends() -> None:
    """Twenty creates that each wait for the other nineteen: they finish only if the plugin
    runs them all at once (the dynamic-provider server would run 4 and deadlock)."""
    import asyncio
    import dataclasses
    import threading

    import pulumi.dynamic as dyn
    from pulumi.provider.experimental import provider as api

    from gemini_tuning.plugin._provider import GeminiTuningProvider

    together = threading.Barrier(20, timeout=20)

    class Waiting:
        def create(self, props: dict) -> dyn.CreateResult:
            together.wait()
            return dyn.CreateResult(props["resource_name"], {"job_name": props["resource_name"]})

    plugin = GeminiTuningProvider()
    plugin._kinds[JOB] = dataclasses.replace(plugin._kinds[JOB], controller=Waiting())

    async def create_all() -> list[api.CreateResponse]:
        urns = [f"urn:pulumi:it::p::{JOB}::job-{i}" for i in range(20)]
        requests = [
            api.CreateRequest(u, {"resourceName": PropertyValue(u.rsplit("::", 1)[-1])}, 0, False)
            for u in urns
        ]
        return await asyncio.gather(*(plugin.create(r) for r in requests))

    responses = asyncio.run(create_all())
    assert sorted(r.resource_id for r in responses) == sorted(f"job-{i}" for i in range(20))
    assert responses[0].properties["jobName"].value == responses[0].resource_id


def test_import_rebuilds_a_jobs_inputs_from_what_it_was_submitted_with() -> None:
    from gemini_tuning.backends.vertex import _declared

    raw = {
        "baseModel": "gemini-2.5-flash",
        "tunedModelDisplayName": "by-hand",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://b/train.jsonl",
            "hyperParameters": {
                "epochCount": "2",
                "learningRateMultiplier": 1.0,
                "adapterSize": "ADAPTER_SIZE_FOUR",
            },
        },
        "labels": {"team": "search"},
    }
    assert _declared(raw) == {
        "base_model": "gemini-2.5-flash",
        "training_dataset": "gs://b/train.jsonl",
        "epoch_count": 2,
        "learning_rate_multiplier": 1.0,
        "adapter_size": 4,
        "tuned_model_display_name": "by-hand",
    }


def test_import_of_a_model_keeps_user_labels_and_aliases_only() -> None:
    from gemini_tuning import _claims as claims
    from gemini_tuning.backends import ModelStatus
    from gemini_tuning.resources.tuned_model import _imported_inputs

    status = ModelStatus(
        name="projects/p/locations/l/models/m@1",
        display_name="by-hand",
        labels={
            "team": "search",
            "tune-type": "sft",
            "google-vertex-llm-tuning-job-id": "1",
            **claims.claim_labels("p/staging"),
            claims.OWNER_LABEL: "token",
        },
        version_aliases=("default", "prod"),
        endpoints=("projects/p/locations/l/endpoints/e",),
    )
    inputs = _imported_inputs({"resource_name": "m", "stack": "p/dev"}, status)
    assert inputs == {
        "resource_name": "m",
        "stack": "p/dev",
        "backend": "vertex",
        "model": "projects/p/locations/l/models/m@1",
        "endpoint": "projects/p/locations/l/endpoints/e",
        "display_name": "by-hand",
        "labels": {"team": "search"},
        "version_aliases": ["prod"],
    }


def test_every_output_has_a_description_of_its_own(package: dict) -> None:
    for token, resource in package["resources"].items():
        for name, prop in resource["properties"].items():
            assert not prop["description"].endswith("(output)."), f"{token}.{name}"
