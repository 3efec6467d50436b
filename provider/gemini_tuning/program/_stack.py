"""The stack's config and model definitions as the program reads them: names, files, settings,
deletion policy. Errors are StackConfigError: one clean line at preview, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi

from gemini_tuning._artifacts import project_root

if TYPE_CHECKING:
    from gemini_tuning.definitions import ModelDefinition


NAMESPACE = "gemini-tuning"


class StackConfigError(pulumi.RunError):
    """The stack config or a definition is wrong: a clean one-line error, no traceback."""


def program_settings() -> Any:
    """The backends' settings in the program process (the stack config, then the environment)."""
    from gemini_tuning import backends

    config = pulumi.Config(NAMESPACE)
    backends.configure(
        lambda key: None if key.endswith(":geminiApiKey") else config.get(key.split(":", 1)[1])
    )
    return backends.settings()


def selection(selected: Any) -> dict[str, int | None]:
    if isinstance(selected, list):
        return {str(name): None for name in selected}
    if isinstance(selected, dict):
        wanted: dict[str, int | None] = {}
        for name, version in selected.items():
            try:
                wanted[str(name)] = None if version in (None, "") else int(version)
            except (TypeError, ValueError):
                raise StackConfigError(
                    f"{NAMESPACE}:models: the version of {name} must be a number, got {version!r}"
                ) from None
        return wanted
    raise StackConfigError(
        f"{NAMESPACE}:models must be a list of definition names or a map of name -> version"
    )


def deletion_policy(
    config: pulumi.Config, name: str, definition: ModelDefinition, root: Path
) -> dict[str, Any]:
    """The inputs ``deletion_policy`` and ``deletion_policy_source`` of a model's TuningJob and
    TunedModel (see _deletion.choose: the definition, else the stack config, else delete)."""
    from gemini_tuning.resources import _deletion

    line = definition.line_of("deletion_policy")
    configured = config.get("deletionPolicy")
    try:
        return _deletion.choose(
            definition.deletion_policy,
            relative(definition_file(config, name), root) + (f":{line}" if line else ""),
            configured,
            config_source(root) if configured is not None else "",
        )
    except ValueError as err:
        raise StackConfigError(f"{NAMESPACE}:deletionPolicy: {err}") from None


def config_source(root: Path) -> str:
    """Where this stack's ``deletionPolicy`` is set: ``stacks/Pulumi.prod.yaml:14`` when the
    stack's config file holds the key (it may come from elsewhere: the environment, ESC)."""
    import yaml

    key = f"{NAMESPACE}:deletionPolicy"
    try:
        project = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
        folder = root / str(project.get("stackConfigDir") or ".")
        path = folder / f"Pulumi.{pulumi.get_stack()}.yaml"
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, yaml.YAMLError, AttributeError):
        return f"stack config {key}"
    for number, text in enumerate(lines, start=1):
        if text.strip().startswith(f"{key}:"):
            return f"{relative(path, root)}:{number}"
    return f"stack config {key}"


def models_dir(config: pulumi.Config) -> Path:
    configured = config.get("modelsDir")
    return Path(configured) if configured else project_root() / "stacks" / "models"


def definition_file(config: pulumi.Config, name: str) -> Path:
    return models_dir(config) / f"{name}.yaml"


def load_stack_definitions(config: pulumi.Config, names: list[str]) -> dict[str, ModelDefinition]:
    from gemini_tuning.definitions import DefinitionError, load_definitions

    folder = models_dir(config)
    try:
        return load_definitions(folder, names, location=stack_location(config))
    except DefinitionError as err:
        if err.problems and all(field == "models" for _line, field, _ in err.problems):
            # A name in the stack's list with no file: the typo is in the stack's config file.
            where = f"Pulumi.{pulumi.get_stack()}.yaml: {NAMESPACE}:models"
            shown = relative(folder, project_root())  # as the user knows it: stacks/models
            reasons = "; ".join(m.replace(str(folder), shown) for _l, _f, m in err.problems)
            raise StackConfigError(f"{where}: {reasons}") from None
        raise StackConfigError(f"invalid model definitions:\n{err}") from None


def stack_location(config: pulumi.Config) -> str:
    """Where this stack's jobs run (gemini-tuning:location, then the environment), read without
    resolving the rest of the settings (no endpoint or credential is needed to check it)."""
    from gemini_tuning.backends._settings import configured_location

    return configured_location(config.get)


def relative(path: str | Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def release_store_of(config: pulumi.Config) -> str | None:
    """Where this tuning stack's release records live; None without a bucket."""
    from gemini_tuning import _releases

    bucket = config.get("releaseBucket") or config.get("datasetBucket")
    if not bucket:
        return None
    return _releases.store_uri(bucket, pulumi.get_project(), pulumi.get_stack())


def version_aliases(name: str, definition: ModelDefinition, aliases: list[str]) -> list[str]:
    from gemini_tuning._continuation import aliases_for

    origin = definition.continue_from
    return aliases_for(name, origin.model if origin is not None else None, aliases)
