"""A promoting stack's decisions: which released version each model serves, read from the source
stack's outputs and the release record, held to the gate of the definition in this checkout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

if TYPE_CHECKING:
    from gemini_tuning.definitions import ModelDefinition

from gemini_tuning.program._stack import (
    StackConfigError,
    program_settings,
    version_aliases,
)


def promote(
    name: str,
    version: int,
    definition: ModelDefinition,
    *,
    source_name: str,
    source: pulumi.StackReference,
    aliases: list[str],
    policy: dict[str, Any],
) -> dict[str, Any]:
    """A TunedModel that adopts the released version of ``name`` the source stack tuned; no job."""
    from gemini_tuning.resources.tuned_model import TunedModel

    stack = pulumi.get_stack()
    gate = definition.evaluation.gate if definition.evaluation is not None else None
    eval_sha = eval_fingerprint(definition)

    def pick(outputs: list[Any]) -> dict[str, Any]:
        models, environment = outputs
        chosen = check_promotion(
            models, environment, name, version, source=source_name, stack=stack, gate=gate
        )
        recorded = chosen.get("eval_dataset_fingerprint")
        if recorded and eval_sha and recorded != eval_sha:
            pulumi.log.warn(
                f"{name} v{version}: its recorded evaluation ran on another evaluation set "
                f"({recorded[:19]}.. vs {eval_sha[:19]}.. in this checkout): the gate "
                "is checked against the recorded metrics"
            )
        return chosen

    chosen = pulumi.Output.all(source.get_output("models"), source.get_output("environment")).apply(
        pick
    )
    model = TunedModel(
        f"{name}-model",
        backend=definition.backend,
        model=chosen["model"],
        endpoint=chosen["endpoint"],
        adopted=True,
        version_aliases=version_aliases(name, definition, aliases),
        promotion={
            "from": source_name,
            "version": version,
            "gate": gate.as_dict() if gate is not None else {},
        },
        **policy,
    )
    return {
        "version": version,
        "promoted_from": source_name,
        "backend": definition.backend,
        "base_model": definition.base_model,
        "state": chosen["state"],
        "job": chosen["job"],
        "model": model.model_name,
        "endpoint": chosen["endpoint"],
        "aliases": model.current_aliases,
        "metrics": chosen["metrics"],
        "baseline": chosen["baseline"],
        "gate": gate.as_dict() if gate is not None else {},
        "gate_passed": True,
        "evaluated_at": chosen["evaluated_at"],
        "release": chosen["release"],
        "artifacts": chosen["artifacts"],
    }


def source_of(name: str) -> pulumi.StackReference:
    """The stack a promoting stack takes its models from (one per run: ``run`` makes it)."""
    return pulumi.StackReference(f"promote-from-{name.replace('/', '-')}", name)


def eval_fingerprint(definition: ModelDefinition) -> str | None:
    if definition.evaluation is None or definition.evaluation.dataset.startswith("gs://"):
        return None
    from gemini_tuning.datasets import fingerprint_file

    return f"sha256:{fingerprint_file(definition.evaluation.dataset).sha256}"


def check_promotion(
    models: Any,
    environment: Any,
    name: str,
    version: int,
    *,
    source: str,
    stack: str,
    gate: Any,
) -> dict[str, Any]:
    """The release of ``name`` v``version`` this stack may serve; else StackConfigError that
    says why (no such release, model gone, never served by a promoting source, gate missed)."""
    from gemini_tuning import _releases, backends

    prefix = f"cannot promote {name} v{version} from {source} to {stack}"
    try:
        settings = program_settings()
    except backends.SettingsError as err:
        raise StackConfigError(f"{prefix}: {err}") from None

    def read(uri: str) -> Any:
        try:
            return _releases.read_record(settings, uri)
        except backends.BackendError as err:  # backends/_storage.read_object: "403 ..."
            raise _releases.PromotionError(
                f"{prefix}: cannot read the release record {uri} ({err}); "
                "this stack's deployer needs read access to that bucket (storage.objects.get)"
            ) from None

    def lookup(model: str) -> Any:
        try:
            return lookup_model(settings, model)
        except backends.BackendError as err:
            raise _releases.PromotionError(
                f"{prefix}: cannot read {model} in the Model Registry ({err}); this stack's "
                "deployer needs aiplatform.models.get there"
            ) from None

    origin = _releases.Source(source, models or {}, environment or {})
    try:
        return _releases.choose_release(
            origin, name, version, stack=stack, gate=gate, read_record=read, lookup_model=lookup
        )
    except _releases.PromotionError as err:
        raise StackConfigError(str(err)) from None


def lookup_model(settings: Any, model: str) -> Any:
    from gemini_tuning import backends
    from gemini_tuning.backends.vertex import VertexBackend

    try:
        return VertexBackend(settings).get_model(model)
    except backends.NotFoundError:
        return None
