"""The Pulumi package schema of the plugin, generated from the pydantic specs: pure, no I/O.

Inputs come from each spec's fields (type, description, default and limits from pydantic's JSON
Schema), outputs from the dynamic Resource's ``Output[...]`` annotations. Secret outputs and
``replaceOnChanges`` come from the same tuples the resources use. Property names are camelCase
(``baseModel``), as Pulumi programs in every language write them; see _values.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Mapping
from typing import Any

from gemini_tuning.plugin._kinds import PACKAGE, VERSION, Kind
from gemini_tuning.plugin._names import to_wire

# Stack config keys (namespace gemini-tuning) the provider reads; see backends/_settings.py.
CONFIG: dict[str, tuple[str, str]] = {
    "project": ("string", "Google Cloud project (none: the local emulator)"),
    "location": ("string", "Vertex AI location (default us-central1)"),
    "apiEndpoint": ("string", "Vertex endpoint; `emulator` reads the running local emulator's"),
    "storageEndpoint": ("string", "Cloud Storage endpoint (the GCS emulator)"),
    "datasetBucket": ("string", "Bucket local datasets are uploaded to"),
    "geminiApiKey": ("string", "Gemini API key (backend gemini-api)"),
    "geminiApiEndpoint": ("string", "Gemini API endpoint"),
    "requestTimeoutSeconds": ("number", "Each attempt of each API call (default 60)"),
    "operationTimeoutSeconds": ("number", "Waiting for a long-running operation (default 600)"),
    "maxConcurrentJobs": ("integer", "Tuning jobs run at once per project (all its locations)"),
}
SECRET_CONFIG = frozenset({"geminiApiKey"})
_COMPUTED_DOCS = {
    "resource_name": "The resource's Pulumi name (from its URN): part of the job's identity.",
    "stack": "project/stack that declared the resource (from its URN).",
    "training_dataset_fingerprint": "sha256 of the training data's content (computed by check).",
    "training_dataset_examples": "Examples in the training data (computed by check).",
    "validation_dataset_fingerprint": "sha256 of the validation data's content.",
    "validation_dataset_examples": "Examples in the validation data.",
    "eval_dataset_fingerprint": "sha256 of the evaluation set's content.",
    "eval_dataset_examples": "Examples in the evaluation set.",
    "cost_estimate": (
        "The job's estimated cost before it runs (computed by check): billable tokens, epochs,"
        " the price per million tokens and usd; read by the policy pack (policies/)."
    ),
    "promotion": (
        "On a model adopted from another stack: the release it promotes (from, version) and"
        " the evaluation gate it carries; read by the policy pack (policies/)."
    ),
}
_OUTPUT_DOCS = {
    "job_name": "The tuning job's resource name (projects/P/locations/L/tuningJobs/J).",
    "job_state": "The job's state as the service reports it (SUCCEEDED, RUNNING, ...).",
    "tuned_model": "The tuned model version the job produced (models/M@version).",
    "tuned_model_endpoint": "The endpoint the tuned model is deployed to.",
    "tuned_model_version": "The version id of the tuned model.",
    "tuned_model_missing": "True when a refresh found the tuned model deleted outside Pulumi.",
    "effective_epoch_count": "Epochs the service ran (after its defaults).",
    "epochs_completed": "Epochs completed so far.",
    "loss_per_epoch": "Training loss per epoch, from the job's published metrics.",
    "validation_loss_per_epoch": "Validation loss per epoch (with a validation dataset).",
    "data_stats": "The service's statistics of the training data (examples, tokens, steps).",
    "create_time": "When the job was created (UTC, RFC 3339).",
    "start_time": "When the job started running.",
    "end_time": "When the job ended.",
    "error": "The service's error message for a failed job (secret: it may quote user data).",
    "training_dataset_uri": "Where the training data was uploaded (gs://).",
    "validation_dataset_uri": "Where the validation data was uploaded (gs://).",
    "spec_hash": "Hash of what the job tunes: part of its identity labels.",
    "owner_token": "This resource's ownership mark on the tuned model version (see _claims).",
    "default_checkpoint_id": "The tuned model's default checkpoint: the one its endpoint serves.",
    "default_checkpoint_epoch": "The epoch of the default checkpoint.",
    "checkpoints": "Every checkpoint of the job: id, epoch, step and validation loss.",
    "model_name": "The model version this resource serves (models/M@version).",
    "version_id": "Its version id.",
    "current_aliases": "Every alias the version carries now (this stack's and others').",
    "endpoints": "Endpoints the version is deployed to.",
    "metrics": "Exact match, token F1, examples and errors of the tuned model.",
    "baseline": "The same metrics for the baseline (base) model.",
    "gate_passed": "True when the metrics meet the gate.",
    "gate_misses": "Each gate metric that fell short, and by how much.",
    "samples": "A few answers that did not match (secret: they hold user data).",
    "evaluated_at": "When the evaluation ran (UTC, ISO 8601).",
}
_COMPUTED_TYPES = {"examples": {"type": "integer"}}


def package_schema(kinds: Mapping[str, Kind]) -> dict[str, Any]:
    return {
        "name": PACKAGE,
        "version": VERSION,
        "displayName": "Gemini tuning",
        "description": "Gemini supervised fine-tuning (Vertex AI, Gemini API, local emulator).",
        "config": {"variables": _config()},
        "provider": {"inputProperties": _config(), "properties": {}},
        "resources": {token: resource_schema(kind) for token, kind in kinds.items()},
        "language": {"python": {"respectSchemaVersion": True}},
    }


def schema_json(kinds: Mapping[str, Kind]) -> str:
    return json.dumps(package_schema(kinds), indent=2, sort_keys=True)


def resource_schema(kind: Kind) -> dict[str, Any]:
    fields = kind.spec.model_json_schema()
    declared = fields.get("properties", {})
    required = set(fields.get("required", [])) - {"resource_name"}
    inputs = {to_wire(n): _input(n, declared[n], kind) for n in kind.inputs}
    hints = output_hints(kind.resource)
    outputs = {to_wire(n): _output(n, kind, declared, hints) for n in kind.state}
    return {
        "description": kind.description,
        "inputProperties": inputs,
        "requiredInputs": sorted(to_wire(n) for n in required),
        "properties": outputs,
        "required": sorted(to_wire(n) for n in (*required, "resource_name")),
    }


def _config() -> dict[str, Any]:
    return {
        key: {
            "type": kind,
            "description": doc,
            **({"secret": True} if key in SECRET_CONFIG else {}),
        }
        for key, (kind, doc) in CONFIG.items()
    }


def _input(name: str, field: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    prop = {**json_type(field), "description": describe(field)}
    if (
        "default" in field
        and field["default"] is not None
        and not isinstance(field["default"], dict | list)
    ):
        prop["default"] = field["default"]
    if name in kind.replace_on_changes:
        prop["replaceOnChanges"] = True
    return prop


def _output(
    name: str, kind: Kind, declared: Mapping[str, Any], hints: Mapping[str, Any]
) -> dict[str, Any]:
    if name in declared:
        prop = {**json_type(declared[name]), "description": describe(declared[name])}
    elif name in hints:
        prop = {**python_type(hints[name]), "description": _output_doc(name)}
    else:
        suffix = name.rsplit("_", 1)[-1]
        prop = {**_COMPUTED_TYPES.get(suffix, {"type": "string"}), "description": _output_doc(name)}
    if name in kind.secret_outputs:
        prop["secret"] = True
    return prop


def _output_doc(name: str) -> str:
    return _OUTPUT_DOCS.get(name) or _COMPUTED_DOCS.get(
        name, name.replace("_", " ").capitalize() + " (output)."
    )


def json_type(field: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic JSON Schema property as a Pulumi schema type (``T | None`` is just T)."""
    branches = [b for b in field.get("anyOf", [field]) if b.get("type") != "null"]
    if len({b.get("type") for b in branches}) > 1:  # e.g. checkpoint: best, last or an epoch
        return {"$ref": "pulumi.json#/Any"}
    branch: Mapping[str, Any] = branches[0] if branches else {"type": "string"}
    kind = branch.get("type", "string")
    if kind == "array":
        return {"type": "array", "items": json_type(branch.get("items", {}))}
    if kind == "object":
        extra = branch.get("additionalProperties")
        values = json_type(extra) if isinstance(extra, dict) else {"$ref": "pulumi.json#/Any"}
        return {"type": "object", "additionalProperties": values}
    if kind in ("string", "integer", "number", "boolean"):
        return {"type": kind}
    return {"$ref": "pulumi.json#/Any"}


def output_hints(resource: type) -> dict[str, Any]:
    """The class's own ``name: pulumi.Output[T]`` annotations, resolved in its module (not the
    SDK base classes', whose forward references do not resolve outside the SDK, as
    ``typing.get_type_hints`` would try)."""
    return inspect.get_annotations(resource, eval_str=True)


def python_type(hint: Any) -> dict[str, Any]:
    """An ``Output[T]`` annotation (or T) as a Pulumi schema type."""
    import pulumi

    inner = typing.get_args(hint)[0] if typing.get_origin(hint) is pulumi.Output else hint
    origin, params = typing.get_origin(inner), typing.get_args(inner)
    scalars = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if inner in scalars:
        return {"type": scalars[inner]}
    if origin is list:
        return {"type": "array", "items": python_type(params[0]) if params else {"type": "string"}}
    if origin is dict and params and params[1] in scalars:
        return {"type": "object", "additionalProperties": {"type": scalars[params[1]]}}
    return {"$ref": "pulumi.json#/Any"}


def describe(field: Mapping[str, Any]) -> str:
    """The field's description (its title when it has none) with its limits and allowed values."""
    text = str(field.get("description") or field.get("title") or "")
    branches = [b for b in field.get("anyOf", [field]) if b.get("type") != "null"]
    if len({b.get("type") for b in branches}) > 1:
        return text  # a union of kinds: its description says what each one means
    branch = branches[0] if branches else field
    limits = []
    if "enum" in branch:
        limits.append("one of " + ", ".join(map(str, branch["enum"])))
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<=")):
        if key in branch:
            limits.append(f"{word} {branch[key]}")
    return f"{text} ({'; '.join(limits)})" if limits else text
