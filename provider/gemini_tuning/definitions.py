"""Model definitions: one YAML file per model, validated by pydantic, with a generated JSON Schema.

A definition is what a team keeps in git (``stacks/models/<name>.yaml``)::

    # yaml-language-server: $schema=../schema/model-definition.schema.json
    version: 3
    base_model: gemini-2.5-flash
    datasets: {training: ../data/qa-train.jsonl, validation: ../data/qa-validation.jsonl}
    hyperparameters: {epoch_count: 3, adapter_size: 4}
    labels: {team: search}
    evaluation:
      dataset: ../data/squad-qa-eval.jsonl
      gate: {exact_match: 0.6, token_f1: 0.7}

Dataset paths are relative to the definition file. Errors name the file, the line and the field
(``stacks/models/qa.yaml:7: hyperparameters.epoch_count: ...``). ``python -m
gemini_tuning.definitions`` rewrites the committed schema; a unit test fails when it is stale.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from gemini_tuning import catalog

# The gate is a resource input too (Evaluation's `gate`), so its model lives in specs, beside
# the other inputs; a definition's `evaluation.gate` is the same model.
from gemini_tuning.specs import CheckpointChoice, Gate, _check_labels

SCHEMA_FILE = "model-definition.schema.json"
SCHEMA_ID = "https://gemini-tuning.local/schema/" + SCHEMA_FILE
NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")

_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Datasets(BaseModel):
    """Tuning data. Local JSONL/CSV paths (relative to the definition file) or gs:// URIs."""

    model_config = _STRICT

    training: str = Field(description="Training examples (Gemini `contents` JSONL for Vertex)")
    validation: str | None = Field(None, description="Validation examples (Vertex only)")


class Hyperparameters(BaseModel):
    """Left unset, the service chooses (Vertex auto-adjusts epochs to the dataset size)."""

    model_config = _STRICT

    epoch_count: Annotated[int, Field(ge=1, le=catalog.MAX_EPOCHS)] | None = None
    learning_rate_multiplier: (
        Annotated[float, Field(gt=0, le=catalog.MAX_LEARNING_RATE_MULTIPLIER)] | None
    ) = None
    adapter_size: Literal[1, 2, 4, 8, 16, 32] | None = None
    batch_size: Annotated[int, Field(ge=1, le=1024)] | None = Field(
        None, description="Gemini API backend only"
    )
    learning_rate: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="Gemini API backend only"
    )


class EvaluationDefinition(BaseModel):
    """A held-out set run against the tuned model (and the base model, as the baseline)."""

    model_config = _STRICT

    dataset: str = Field(description="Held-out examples (same formats as training data)")
    gate: Gate = Field(default_factory=Gate)
    max_examples: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        None, description="Evaluate at most this many examples (the first ones)"
    )
    baseline: bool = Field(True, description="Also score the base model, for comparison")
    concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        8, description="generateContent calls in flight at once"
    )
    retries: Annotated[int, Field(ge=0, le=10)] = Field(
        3, description="Extra attempts per example after a failed call"
    )
    system_instruction: str | None = None


class ContinueFrom(BaseModel):
    """Continuous tuning: start from a released version of a model this stack tunes (this
    one or another), by its definition name and version. The release record names the tuned
    model version (``projects/P/locations/L/models/M@N``) the job sends as ``preTunedModel``;
    the result lands as the next version of that model (Google's continuous tuning)."""

    model_config = _STRICT

    model: str = Field(description="The definition name of the released model")
    version: Annotated[int, Field(ge=1)] = Field(description="Its released definition version")

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"{value!r} is not a definition name")
        return value


class ModelDefinition(BaseModel):
    """One model, versioned in git. Bump ``version`` with every change you mean to ship."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        title="gemini-tuning model definition",
        json_schema_extra={"$id": SCHEMA_ID},
    )

    name: str | None = Field(
        None, description="Defaults to the file name without .yaml; must match it when set"
    )
    version: Annotated[int, Field(ge=1)] = Field(
        description="The definition's version: stack outputs, labels and promotion use it"
    )
    description: str | None = None
    backend: catalog.Backend = "vertex"
    base_model: str = Field(
        description="A tunable base model of the backend (gemini_tuning.catalog)",
        examples=catalog.supported_ids("vertex"),
    )
    continue_from: ContinueFrom | None = Field(
        None,
        description="Continuous tuning: tune on top of a released version of a model this "
        "stack tunes, e.g. {model: squad-qa, version: 1} (Vertex; base_model must be that "
        "version's base model). The result is the next version of the same Vertex model",
    )
    datasets: Datasets
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    labels: dict[str, str] = Field(default_factory=dict)
    tuned_model_display_name: str | None = None
    export_last_checkpoint_only: bool = Field(
        False,
        description=(
            "Vertex: keep only the last checkpoint. Otherwise the job also deploys intermediate "
            "checkpoints (about one per epoch, at most about 10), each to its own endpoint; "
            "destroy removes them all"
        ),
    )
    checkpoint: CheckpointChoice | None = Field(
        None,
        description=(
            "Vertex: the checkpoint the tuned model serves (its default checkpoint, which the "
            "evaluation scores): best (lowest validation loss; needs datasets.validation), last "
            "(the final one; the default) or an epoch number (1..hyperparameters.epoch_count). "
            "Changing it updates the tuned model in place; it never starts another tuning job"
        ),
    )
    evaluation: EvaluationDefinition | None = None
    deletion_policy: Literal["delete", "abandon", "prevent"] | None = Field(
        None,
        description="What a destroy or replace does to this model's tuned versions, in every "
        "stack that carries it: delete (a version no other stack serves), abandon (leave model "
        "and endpoint, drop them from the state) or prevent (refuse the destroy or replace at "
        "preview). Unset: the stack config gemini-tuning:deletionPolicy, else delete",
    )

    _labels = field_validator("labels")(_check_labels)
    # 'hyperparameters.epoch_count' -> its line in the file (set by load_definition).
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not NAME.match(value):
            raise ValueError(
                f"name {value!r}: 2-40 lowercase letters, digits and '-', starting with a letter"
            )
        return value

    @model_validator(mode="after")
    def _base_model_exists(self) -> ModelDefinition:
        try:
            catalog.lookup(self.base_model, self.backend, allow_retired=self.backend != "vertex")
        except catalog.UnknownBaseModelError as err:
            raise ValueError(f"[base_model] {err}") from err
        return self

    @property
    def model_name(self) -> str:
        assert self.name is not None  # set by load_definition
        return self.name

    def line_of(self, field: str) -> int | None:
        """The 1-based line of ``field`` (dotted) in the file it was loaded from, if known."""
        return self._lines.get(field)


class DefinitionError(ValueError):
    """A definition file is invalid; ``problems`` holds (line or None, field, message)."""

    def __init__(self, path: Path, problems: list[tuple[int | None, str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(
            "\n".join(
                f"{path}{f':{line}' if line else ''}: {field}: {message}"
                for line, field, message in problems
            )
        )


class ManyDefinitionsError(DefinitionError):
    """Several definition files are invalid: each one's problems, file by file."""

    def __init__(self, errors: list[DefinitionError]) -> None:
        self.errors = errors
        ValueError.__init__(self, "\n".join(str(e) for e in errors))
        self.path = errors[0].path
        self.problems = [p for e in errors for p in e.problems]


def load_definition(
    path: str | Path, *, check_files: bool = True, location: str | None = None
) -> ModelDefinition:
    """Parse and validate one YAML definition; dataset paths come back relative to the cwd.
    With ``location`` (the stack's), a base model Google does not tune there is a problem at
    the ``base_model`` line (catalog.tuning_location_error)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DefinitionError(path, [(None, "file", str(err))]) from err
    try:
        raw, root = _parse(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DefinitionError(path, [(line, "yaml", str(err).splitlines()[0])]) from err
    if not isinstance(raw, dict):
        raise DefinitionError(path, [(1, "file", "a definition is a YAML mapping")])
    duplicates = _duplicate_keys(root)
    if duplicates:
        raise DefinitionError(path, duplicates)
    lines = _key_lines(root)
    raw.setdefault("name", path.stem)
    try:
        definition = ModelDefinition.model_validate(raw)
    except ValidationError as err:
        raise DefinitionError(path, [_problem(e, lines) for e in err.errors()]) from None
    problems = _tuning_rules(definition, lines) + _continuation_rules(definition, lines)
    if location is not None:
        problems += _location_rules(definition, location, lines)
    if definition.name != path.stem:
        problems.append(
            (lines.get("name"), "name", f"{definition.name!r} must match the file name")
        )
    resolved = _resolve_paths(definition, path.parent)
    if check_files:
        for (field, written), (_, where) in zip(
            _dataset_fields(definition), _dataset_fields(resolved), strict=True
        ):
            if not where.startswith("gs://") and not Path(where).is_file():
                looked = (path.parent / written).resolve()
                message = f"file not found: {written} (relative to this file: {looked})"
                problems.append((lines.get(field), field, message))
    if problems:
        raise DefinitionError(path, problems)
    resolved._lines = lines
    return resolved


def load_definitions(
    directory: str | Path, names: list[str] | None = None, *, location: str | None = None
) -> dict[str, ModelDefinition]:
    """The definitions in ``directory`` (all, or those named), by name; every error at once.
    ``location``: the stack's, checked against where each base model tunes."""
    directory = Path(directory)
    files = {p.stem: p for p in sorted(directory.glob("*.yaml"))}
    wanted = names if names is not None else list(files)
    missing = [n for n in wanted if n not in files]
    if missing:
        raise DefinitionError(
            directory, [(None, "models", _no_file(n, directory, files)) for n in missing]
        )
    definitions: dict[str, ModelDefinition] = {}
    errors: list[DefinitionError] = []
    for name in wanted:
        try:
            definitions[name] = load_definition(files[name], location=location)
        except DefinitionError as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ManyDefinitionsError(errors)
    return definitions


def _no_file(name: str, directory: Path, files: Mapping[str, Path]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(files), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"found: {', '.join(sorted(files)) or 'none'}"
    return f"no definition {name}.yaml in {directory} ({hint})"


def schema() -> dict[str, Any]:
    """The JSON Schema of a definition file (what editors use to complete and check them)."""
    generated = ModelDefinition.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **generated}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


# -- helpers ---------------------------------------------------------------------------------


def _dataset_fields(definition: ModelDefinition) -> list[tuple[str, str]]:
    fields = [("datasets.training", definition.datasets.training)]
    if definition.datasets.validation:
        fields.append(("datasets.validation", definition.datasets.validation))
    if definition.evaluation is not None:
        fields.append(("evaluation.dataset", definition.evaluation.dataset))
    return fields


def _relative(location: str, base: Path) -> str:
    """A path relative to the definition file, re-expressed relative to the cwd (the program
    and provider run in the project's program directory); gs:// URIs are left alone."""
    if location.startswith("gs://"):
        return location
    import os

    full = (base / location).resolve()
    try:
        return os.path.relpath(full)
    except ValueError:  # another drive (Windows)
        return str(full)


def _resolve_paths(definition: ModelDefinition, base: Path) -> ModelDefinition:
    datasets = definition.datasets.model_copy(
        update={
            "training": _relative(definition.datasets.training, base),
            "validation": _relative(definition.datasets.validation, base)
            if definition.datasets.validation
            else None,
        }
    )
    update: dict[str, Any] = {"datasets": datasets}
    if definition.evaluation is not None:
        update["evaluation"] = definition.evaluation.model_copy(
            update={"dataset": _relative(definition.evaluation.dataset, base)}
        )
    return definition.model_copy(update=update)


_FIELD_PREFIX = re.compile(r"^\[(\w+)\] ")


def _problem(error: Any, lines: dict[str, int]) -> tuple[int | None, str, str]:
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    tagged = _FIELD_PREFIX.match(message)
    if tagged:
        location, message = tagged.group(1), message[tagged.end() :]
    if error["type"] == "extra_forbidden":
        message = _unknown_field(tuple(error["loc"]))
    if error["type"] == "missing":
        message = "required field is missing"
    return _line_of(location, lines), location or "definition", message


def _unknown_field(loc: tuple[Any, ...]) -> str:
    """'unknown field; did you mean epoch_count?' when a known field of the same level is close."""
    import difflib

    known = _fields_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
    if close:
        return f"unknown field; did you mean {close[0]}?"
    if known:
        return f"unknown field (this level takes: {', '.join(known)})"
    return "unknown field (see the schema for the fields a definition takes)"


def _fields_at(path: tuple[Any, ...]) -> list[str]:
    """The field names of the definition model found at ``path`` (nested models only)."""
    model: Any = ModelDefinition
    for part in path:
        info = getattr(model, "model_fields", {}).get(str(part))
        if info is None:
            return []
        model = next(
            (t for t in (info.annotation, *get_args(info.annotation)) if _is_model(t)),
            None,
        )
    return sorted(getattr(model, "model_fields", {}))


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _line_of(location: str, lines: dict[str, int]) -> int | None:
    parts = location.split(".")
    while parts:
        line = lines.get(".".join(parts))
        if line is not None:
            return line
        parts.pop()
    return None


# A TuningJob property -> the definition field it comes from (the program maps them so).
_JOB_FIELDS = {
    "base_model": "base_model",
    "backend": "backend",
    "validation_dataset": "datasets.validation",
    "tuned_model_display_name": "tuned_model_display_name",
    "labels": "labels",
    "checkpoint": "checkpoint",
    "export_last_checkpoint_only": "export_last_checkpoint_only",
    **{name: f"hyperparameters.{name}" for name in Hyperparameters.model_fields},
}


def _tuning_rules(
    definition: ModelDefinition, lines: dict[str, int]
) -> list[tuple[int | None, str, str]]:
    """The TuningJob's own rules (the catalog's adapter sizes, backend-only settings, display
    name limits), reported at the definition's line instead of from the resource at preview."""
    from gemini_tuning.specs import SpecError, TuningJobSpec, parse

    raw: dict[str, Any] = {
        "resource_name": definition.model_name,
        "backend": definition.backend,
        "base_model": definition.base_model,
        "training_dataset": definition.datasets.training,
        "validation_dataset": definition.datasets.validation,
        "tuned_model_display_name": definition.tuned_model_display_name,
        "labels": definition.labels,
        "checkpoint": definition.checkpoint,
        "export_last_checkpoint_only": definition.export_last_checkpoint_only,
        **definition.hyperparameters.model_dump(exclude_none=True),
    }
    try:
        parse(TuningJobSpec, {k: v for k, v in raw.items() if v is not None})
    except SpecError as err:
        found = []
        for prop, reason in err.failures:
            field = _JOB_FIELDS.get(prop, prop)
            found.append((_line_of(field, lines), field, reason))
        return found
    return []


def _continuation_rules(
    definition: ModelDefinition, lines: dict[str, int]
) -> list[tuple[int | None, str, str]]:
    """What continuous tuning asks of a definition, before any release is read: the Vertex
    backend, a base model Google continues (catalog.continuous_tuning_error), and an earlier
    version when the definition continues itself."""
    origin = definition.continue_from
    if origin is None:
        return []
    field = "continue_from"
    if definition.backend != "vertex":
        why = "continuous tuning is a Vertex feature (backend: vertex)"
        return [(lines.get(field), field, why)]
    model = catalog.lookup(definition.base_model, "vertex", allow_retired=True)
    reason = catalog.continuous_tuning_error(model)
    if reason:
        return [(lines.get(field), field, reason)]
    if origin.model == definition.name and origin.version >= definition.version:
        return [
            (
                _line_of(f"{field}.version", lines),
                f"{field}.version",
                f"{definition.name} v{definition.version} can only continue an earlier version "
                f"of itself, not v{origin.version}",
            )
        ]
    return []


def _location_rules(
    definition: ModelDefinition, location: str, lines: dict[str, int]
) -> list[tuple[int | None, str, str]]:
    """The stack's location against the locations where the base model tunes."""
    model = catalog.lookup(definition.base_model, definition.backend, allow_retired=True)
    reason = catalog.tuning_location_error(model, location)
    return [(lines.get("base_model"), "base_model", reason)] if reason else []


def _parse(text: str) -> tuple[Any, Any]:
    """The document (as ``yaml.safe_load`` gives it) and its node tree (with line marks),
    from one parse with libyaml when PyYAML has it. A file that does not parse is parsed again
    by the pure-Python parser, so its error is worded as it always was."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        raw = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError:
        yaml.safe_load(text)  # raises the pure-Python parser's error
        raise
    finally:
        loader.dispose()
    return raw, root


def _duplicate_keys(root: Any) -> list[tuple[int | None, str, str]]:
    """Keys written twice in one mapping: YAML keeps the last silently, a reviewer reads the
    first. Each one at the line of its repetition."""
    import yaml

    found: list[tuple[int | None, str, str]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                path = f"{prefix}{key.value}"
                line = key.start_mark.line + 1
                if key.value in first:
                    found.append(
                        (
                            line,
                            path,
                            f"written twice in one mapping (first at line {first[key.value]}); "
                            "YAML would keep only this one: remove one of them",
                        )
                    )
                first.setdefault(key.value, line)
                walk(value, f"{path}.")
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{prefix}{index}.")

    walk(root, "")
    return found


def _key_lines(root: Any) -> dict[str, int]:
    """'hyperparameters.epoch_count' -> its 1-based line, for every mapping key in the file."""
    import yaml

    found: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = f"{prefix}{key.value}"
                found[path] = key.start_mark.line + 1
                walk(value, f"{path}.")
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                found[f"{prefix}{index}"] = item.start_mark.line + 1
                walk(item, f"{prefix}{index}.")

    walk(root, "")
    return found


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the committed JSON Schema."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m gemini_tuning.definitions",
        description=f"Write the model-definition JSON Schema to DIR/{SCHEMA_FILE}.",
    )
    parser.add_argument("directory", nargs="?", default="stacks/schema", metavar="DIR")
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    target = Path(args.directory) / SCHEMA_FILE
    text = schema_text()
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            print(f"{target} is stale: run python -m gemini_tuning.definitions", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
