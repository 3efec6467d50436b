"""The Pulumi package schema of the plugin, generated from the declarations: pure, no I/O.

Every property comes from the resource's two models in gemini_tuning.specs (type, description,
default and limits from pydantic's JSON Schema): inputs from its spec, computed inputs and
outputs (and which are secret) from its outputs model. ``replaceOnChanges`` comes from the keys
the resources' diff uses. Property names are camelCase (``baseModel``), as Pulumi programs in
every language write them; see _values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gemini_tuning.plugin._kinds import PACKAGE, VERSION, Kind
from gemini_tuning.plugin._names import to_wire
from gemini_tuning.specs import describe, field_schemas, schema_branches

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
    declared = field_schemas(kind.declared.inputs)
    required = set(kind.declared.inputs.model_json_schema().get("required", [])) - {"resource_name"}
    inputs = {to_wire(n): _input(n, declared[n], kind) for n in kind.inputs}
    fields = {**declared, **field_schemas(kind.declared.outputs)}
    outputs = {to_wire(n): _output(n, fields[n], kind) for n in kind.state}
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
        "$ref" not in prop  # an Any (checkpoint: a word or an epoch) may not have a default
        and "default" in field
        and field["default"] is not None
        and not isinstance(field["default"], dict | list)
    ):
        prop["default"] = field["default"]
    if name in kind.replace_on_changes:
        prop["replaceOnChanges"] = True
    return prop


def _output(name: str, field: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    prop = {**json_type(field), "description": describe(field)}
    if name in kind.secret_outputs:
        prop["secret"] = True
    return prop


def json_type(field: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic JSON Schema property as a Pulumi schema type (``T | None`` is just T)."""
    branches = schema_branches(field)
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
