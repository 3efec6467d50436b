"""One declaration per resource (gemini_tuning.specs): what derives from it, and that the names
the engine stores did not change when they moved there."""

from __future__ import annotations

import json
import typing

import pytest
from pulumi import _types as sdk_types

from gemini_tuning.plugin import schema, sdk
from gemini_tuning.plugin._names import to_wire
from gemini_tuning.resources import (
    _declared,
    _derive,
    _lifecycle,
    evaluation,
    release,
    tuned_model,
    tuning_job,
)
from gemini_tuning.resources._props import declared_props
from gemini_tuning.specs import DECLARED, TUNING_JOB, Declared, computed, output

# The property names as each resource listed them by hand before they were declared once: the
# state's shape. A change here is a change of every stack's state.
JOB_COMPUTED = (
    "stack",
    "training_dataset_fingerprint",
    "training_dataset_examples",
    "validation_dataset_fingerprint",
    "validation_dataset_examples",
    "cost_estimate",
)
JOB_OUTPUTS = (
    "job_name",
    "job_state",
    "tuned_model",
    "tuned_model_endpoint",
    "tuned_model_version",
    "tuned_model_missing",
    "effective_epoch_count",
    "epochs_completed",
    "loss_per_epoch",
    "validation_loss_per_epoch",
    "data_stats",
    "create_time",
    "start_time",
    "end_time",
    "error",
    "training_dataset_uri",
    "validation_dataset_uri",
    "spec_hash",
    "owner_token",
    "default_checkpoint_id",  # issue 25: checkpoint choice
    "default_checkpoint_epoch",
    "checkpoints",
)


def test_the_derived_files_are_current() -> None:
    stale = _derive.stale()
    assert stale == [], f"stale: run {_derive.COMMAND}"


def test_the_names_the_engine_stores_are_the_ones_listed_by_hand_before() -> None:
    assert tuning_job.COMPUTED_INPUTS == JOB_COMPUTED
    assert tuning_job.OUTPUTS == JOB_OUTPUTS
    assert tuning_job.SECRET_OUTPUTS == ("error",)
    assert tuned_model.OUTPUTS == ("model_name", "version_id", "current_aliases", "endpoints")
    assert set(tuned_model.INPUT_KEYS) == {
        *tuned_model.TunedModelSpec.model_fields,
        "stack",
        "promotion",
    }
    assert evaluation.COMPUTED_INPUTS == ("eval_dataset_fingerprint", "eval_dataset_examples")
    assert evaluation.OUTPUTS == (
        "metrics",
        "baseline",
        "gate_passed",
        "gate_misses",
        "samples",
        "evaluated_at",
    )
    assert evaluation.SECRET_OUTPUTS == ("samples",)
    assert release.INPUT_KEYS == ("store", "record")
    assert set(release.STATE_INPUTS) == {"store", "record", "resource_name"}
    assert release.OUTPUTS == ("record_uri", "record_digest")


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_args_and_attributes_are_the_declarations_fields(name: str) -> None:
    declared = DECLARED[name]
    args = getattr(_declared, f"{name}Args")
    attributes = getattr(_declared, f"{name}Attributes")
    assert tuple(args.__annotations__) == declared.arguments
    assert tuple(attributes.__annotations__) == declared.added


@pytest.mark.parametrize("name", ["TuningJob", "TunedModel", "Evaluation"])
def test_both_faces_type_their_keyword_arguments_with_the_declared_args(name: str) -> None:
    """The dynamic resource and the plugin SDK's class take ``**args: Unpack[<Name>Args]``, so a
    type checker refuses an undeclared or mistyped argument on either face."""
    dynamic = {"TuningJob": tuning_job, "TunedModel": tuned_model, "Evaluation": evaluation}
    expected = typing.Unpack[getattr(_declared, f"{name}Args")]
    faces = [getattr(sdk, name), getattr(dynamic[name], name)]
    for face in faces:
        hints = typing.get_type_hints(face.__init__)
        assert hints["args"] == expected, face


def test_resource_classes_give_the_sdk_their_output_types_as_their_own() -> None:
    """The SDK converts what the engine returns by the class's *own* annotations (a number comes
    back a float; Output[int] makes it an int again): inherited ones would not count."""
    for resource in (tuning_job.TuningJob, evaluation.Evaluation, tuned_model.TunedModel):
        assert "__annotations__" in vars(resource)
    types = sdk_types.resource_types(tuning_job.TuningJob)
    assert types["epochs_completed"] is int
    assert types["validation_dataset_examples"] is int
    assert types["loss_per_epoch"] == list[float]
    assert sdk_types.resource_types(evaluation.Evaluation)["gate_passed"] is bool
    assert sdk_types.resource_types(release.Release)["record_uri"] is str


def test_a_program_passes_only_declared_arguments_and_gets_every_added_property() -> None:
    props = declared_props("TuningJob", "qa", {"training_dataset": "d.jsonl"}, TUNING_JOB)
    assert props["resource_name"] == "qa"
    assert set(props) == {"resource_name", "training_dataset", *JOB_COMPUTED, *JOB_OUTPUTS}
    with pytest.raises(TypeError, match=r"unknown inputs \['epochs'\]"):
        declared_props("TuningJob", "qa", {"epochs": 3}, TUNING_JOB)


def test_the_plugin_schema_takes_types_descriptions_and_secrets_from_the_outputs_model() -> None:
    package = json.loads(schema())
    props = package["resources"]["gemini-tuning:index:TuningJob"]["properties"]
    fields = TUNING_JOB.outputs.model_fields
    for name in (*JOB_COMPUTED, *JOB_OUTPUTS):
        assert props[to_wire(name)]["description"] == fields[name].description, name
    assert props["epochsCompleted"]["type"] == "integer"
    assert props["stack"]["type"] == "string"
    assert props["costEstimate"]["type"] == "object"
    assert [n for n, p in props.items() if p.get("secret")] == ["error"]


def test_an_added_property_says_who_sets_it() -> None:
    from pydantic import BaseModel, Field

    from gemini_tuning.specs import TuningJobSpec

    class Outputs(BaseModel):
        fingerprint: str | None = computed("by check")
        note: str | None = output("by create", secret=True)
        forgotten: str | None = Field(None, description="neither")

    declared = Declared(TuningJobSpec, Outputs)
    with pytest.raises(TypeError, match="computed"):
        _ = declared.provider_outputs


def test_the_docs_tables_name_every_property_and_what_a_change_does() -> None:
    table = _derive.inputs_table("TuningJob")
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines()[2:]}
    assert set(rows) == set(TUNING_JOB.arguments)
    assert "| replace when the content changes |" in rows["training_dataset"]
    assert "| update in place |" in rows["labels"]
    assert "| stored only |" in rows["wait"]
    assert "| never a change" in rows["deletion_policy_source"]
    assert "(**secret**)" in _derive.outputs_table("Evaluation").split("`samples`")[1]


def test_what_a_change_does_is_what_the_lifecycle_listed_by_hand_before() -> None:
    """The diff's keys now come from the fields' REPLACES/UPDATES; the same keys, in the same
    order (the diff's lines follow it), so the spec hash of every existing job is unchanged. A
    field added to the replace keys enters every job's spec hash (its identity label): extend
    this list on purpose."""
    assert _lifecycle.JOB_REPLACE_KEYS == (
        "backend",
        "base_model",
        "pre_tuned_model",
        "training_dataset_fingerprint",
        "validation_dataset_fingerprint",
        "epoch_count",
        "learning_rate_multiplier",
        "adapter_size",
        "batch_size",
        "learning_rate",
        "tuned_model_display_name",
        "encryption_key",
        "service_account",
        "export_last_checkpoint_only",
    )
    assert _lifecycle.JOB_UPDATE_KEYS == ("description", "labels", "checkpoint")
    assert _lifecycle.MODEL_REPLACE_KEYS == ("backend",)
    assert _lifecycle.MODEL_UPDATE_KEYS == (
        "model",
        "adopted",
        "display_name",
        "description",
        "labels",
        "version_aliases",
    )
    assert evaluation.RERUN_KEYS == (
        "backend",
        "target",
        "checkpoint_id",
        "baseline_model",
        "eval_dataset_fingerprint",
        "max_examples",
        "system_instruction",
    )
    replaced = {k for k in _lifecycle.JOB_REPLACE_KEYS if not k.endswith("_fingerprint")}
    assert set(TUNING_JOB.replacing_inputs) == {*replaced, "training_dataset", "validation_dataset"}
