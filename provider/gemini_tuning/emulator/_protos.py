"""Request and response bodies through the real message types, as Google's front end treats them.

Every request body is parsed with protobuf ``json_format`` into the API's own message
(``aiplatform_v1``/``v1beta1`` for Vertex, ``generativelanguage_v1beta`` for the Gemini API),
without ignoring unknown fields; every response is written back through the same message. So
field case (camel or snake), enum names or numbers, int64 strings and unknown fields behave as
they do at Google by construction, and the emulator cannot answer a field the API does not have.

A field the message does not have is 400 INVALID_ARGUMENT with Google's text and details, e.g.
for ``POST .../tuningJobs`` (HTTP body = the request's ``tuning_job`` field)::

    Invalid JSON payload received. Unknown name "foo" at 'tuning_job.supervised_tuning_spec':
    Cannot find field.

with ``details: [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations":
[{"field": "tuning_job.supervised_tuning_spec", "description": <the same text>}]}]``; at the top
of a ``body: "*"`` request there is no ``at '...'`` and no ``field``. Paths use proto field names,
``[i]`` for list items and ``[i].value`` for map entries. [D: Google's answers quoted in public
issues, e.g. google-gemini/gemini-cli#13972 ("Unknown name \\"id\\" at
'contents[7].parts[0].function_response': Cannot find field."), decolua/9router#1876 (top level,
no path)]. Two members of one oneof are "Invalid value at '<path>' (oneof), oneof field '<oneof>'
is already set. Cannot set '<key>'" [D: the same words in protobuf's ProtoStreamObjectWriter
tests and in Vertex answers quoted in public code]. Other malformed values (a string for an
int64, an unknown enum name) are 400 with "Invalid JSON payload received." and protobuf's own
description [I: Google words these "Invalid value at '<path>' (TYPE_INT64), ..."].

Importing the generated packages takes several seconds, so the descriptors the emulator needs
are kept as one serialized FileDescriptorSet per installed package version under
``~/.cache/gemini-tuning/`` (written on first use) and loaded into a private pool.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from gemini_tuning.emulator._errors import ApiError
from gemini_tuning.emulator._routes import gemini_api_routes, vertex_routes

VERTEX = {"v1": "google.cloud.aiplatform.v1", "v1beta1": "google.cloud.aiplatform.v1beta1"}
GEMINI = "google.ai.generativelanguage.v1beta"
# Types reached only through an Any (operation metadata and responses).
_ANY_TYPES = (
    "DeleteOperationMetadata",
    "UndeployModelOperationMetadata",
    "UndeployModelResponse",
    "RebaseTunedModelOperationMetadata",
    "TuningJob",
)
_GEMINI_ANY = ("CreateTunedModelMetadata", "TunedModel")
_WELL_KNOWN_JSON = frozenset(
    {
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Any",
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        *(
            f"google.protobuf.{w}Value"
            for w in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String")
        ),
        "google.protobuf.BytesValue",
    }
)
_DISTRIBUTIONS = ("google-cloud-aiplatform", "google-ai-generativelanguage", "protobuf")


def package_for(service: str, version: str) -> str:
    """The proto package of a route: Vertex by API version (the LRO poller's /ui/ is v1)."""
    if service == "gemini_api":
        return GEMINI
    return VERTEX.get(version, VERTEX["v1"])


def full_name(package: str, message: str) -> str:
    return message if message.startswith("google.") else f"{package}.{message}"


# -- requests ----------------------------------------------------------------------------------


def parse_request(body: dict[str, Any], message: str, field: str) -> dict[str, Any]:
    """``body`` checked against ``message`` (the HTTP body maps onto request field ``field``;
    "" for ``body: "*"``), in canonical JSON: camelCase, enum names, defaults left out."""
    registry = protos()
    violations = list(_violations(body, registry.descriptor(message), field))
    if violations:
        raise _invalid(violations)
    from google.protobuf import json_format

    try:
        parsed = json_format.ParseDict(body, registry.new(message), descriptor_pool=registry.pool)
    except json_format.ParseError as err:
        raise ApiError("INVALID_ARGUMENT", f"Invalid JSON payload received. {err}") from err
    return dict(json_format.MessageToDict(parsed, descriptor_pool=registry.pool))


def _violations(value: Any, descriptor: Any, path: str) -> Iterable[tuple[str, str]]:
    """(path, description) of every key that names no field and every second member of a
    oneof, however deep (maps and lists too), worded as Google's front end words them."""
    if descriptor.full_name in _WELL_KNOWN_JSON or not isinstance(value, dict):
        return
    oneofs: dict[str, str] = {}
    for key, item in value.items():
        field = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
        if field is None:
            where = f" at '{path}'" if path else ""
            yield (
                path,
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
            )
            continue
        group = field.containing_oneof
        if group is not None and item is not None:
            if group.name in oneofs:
                yield (
                    path,
                    (
                        f"Invalid value at '{path}' (oneof), oneof field '{group.name}' is already "
                        f"set. Cannot set '{key}'"
                    ),
                )
            oneofs[group.name] = key
        if field.message_type is not None:
            yield from _in_field(item, field, _join(path, field.name))


def _in_field(item: Any, field: Any, path: str) -> Iterable[tuple[str, str]]:
    entry = field.message_type
    if entry.GetOptions().map_entry:
        value_type = entry.fields_by_name["value"].message_type
        if value_type is not None and isinstance(item, dict):
            for n, sub in enumerate(item.values()):
                yield from _violations(sub, value_type, f"{path}[{n}].value")
    elif field.label == field.LABEL_REPEATED:
        for n, sub in enumerate(item if isinstance(item, list) else []):
            yield from _violations(sub, entry, f"{path}[{n}]")
    else:
        yield from _violations(item, entry, path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _invalid(violations: list[tuple[str, str]]) -> ApiError:
    described = [
        {"field": path, "description": text} if path else {"description": text}
        for path, text in violations
    ]
    error = ApiError("INVALID_ARGUMENT", "\n".join(text for _, text in violations))
    error.details = [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": described}
    ]
    return error


# -- responses ---------------------------------------------------------------------------------


def render(result: Any, message: str, *, int_enums: bool) -> Any:
    """The handler's answer as ``message`` writes it (a ValueError names an invented field)."""
    from google.protobuf import json_format

    registry = protos()
    try:
        parsed = json_format.ParseDict(result, registry.new(message), descriptor_pool=registry.pool)
    except json_format.ParseError as err:
        raise ValueError(f"the emulator's {message} answer is not a {message}: {err}") from err
    return json_format.MessageToDict(
        parsed, use_integers_for_enums=int_enums, descriptor_pool=registry.pool
    )


# -- the descriptors ---------------------------------------------------------------------------


class Protos:
    """A private descriptor pool holding every message the emulator parses or writes."""

    def __init__(self, serialized_set: bytes) -> None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        files = descriptor_pb2.FileDescriptorSet.FromString(serialized_set)
        self.pool = descriptor_pool.DescriptorPool()
        for proto in files.file:  # dependencies first (see _file_set)
            self.pool.Add(proto)
        self._factory = message_factory

    def descriptor(self, name: str) -> Any:
        return self.pool.FindMessageTypeByName(name)

    def new(self, name: str) -> Any:
        return self._factory.GetMessageClass(self.descriptor(name))()


_lock = threading.Lock()


@functools.cache
def protos() -> Protos:
    """The emulator's descriptors: from the cache file, or built (and cached) on first use."""
    with _lock:
        path = cache_path()
        try:
            return Protos(path.read_bytes())
        except (OSError, ValueError, TypeError):
            pass
        data = _file_set()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return Protos(data)


def cache_path() -> Path:
    """Keyed by the installed versions and the messages the routes name."""
    versions = "-".join(metadata.version(d) for d in _DISTRIBUTIONS)
    names = ",".join([*_route_messages(), *_gemini_messages(), *_ANY_TYPES, *_GEMINI_ANY])
    tag = hashlib.sha256(f"{versions}|{names}".encode()).hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "gemini-tuning" / f"emulator-protos-{tag}.binpb"


def _file_set() -> bytes:
    """Every file (and its dependencies, in order) defining a message the emulator uses."""
    from google.ai import generativelanguage_v1beta as glm
    from google.cloud import aiplatform_v1, aiplatform_v1beta1
    from google.longrunning import operations_pb2
    from google.protobuf import descriptor_pb2, empty_pb2
    from google.rpc import error_details_pb2

    roots = [operations_pb2.Operation.DESCRIPTOR, empty_pb2.Empty.DESCRIPTOR]
    roots.append(error_details_pb2.BadRequest.DESCRIPTOR)
    for module in (aiplatform_v1, aiplatform_v1beta1):
        for name in (*_route_messages(), *_ANY_TYPES):
            if hasattr(module, name):
                roots.append(getattr(module, name).pb().DESCRIPTOR)
    for name in (*_gemini_messages(), *_GEMINI_ANY):
        roots.append(getattr(glm, name).pb().DESCRIPTOR)
    ordered: list[Any] = []
    seen: set[str] = set()

    def visit(file: Any) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    for root in roots:
        visit(root.file)
    out = descriptor_pb2.FileDescriptorSet()
    for file in ordered:
        file.CopyToProto(out.file.add())
    return bytes(out.SerializeToString())


def _route_messages() -> list[str]:
    return _names(vertex_routes())


def _gemini_messages() -> list[str]:
    return _names(gemini_api_routes())


def _names(routes: Iterable[Any]) -> list[str]:
    names = set()
    for route in routes:
        for message in (route.body[0] if route.body else None, route.reply):
            if message and not message.startswith("google."):
                names.add(message)
    return sorted(names)
