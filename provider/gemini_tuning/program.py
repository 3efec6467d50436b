"""Model definitions + this stack's config -> resources. `stacks/__main__.py` calls ``run()``.

Two kinds of environment, chosen by the stack config (namespace ``gemini-tuning``):

*Tuning* (dev): ``models`` lists the definitions it carries (``[squad-qa, ...]``, or a map
``{squad-qa: 3}`` that pins the version the file must have). Each model becomes a TuningJob, a
TunedModel (owned; aliases = ``aliases``, default the stack name) and an Evaluation.

*Promoting* (staging, prod): ``promoteFrom`` names the stack whose outputs it takes models from
(``organization/gemini-tuning/dev`` with a local backend) and ``models`` maps each model to the
version to promote (``{squad-qa: 3}``). Each becomes a TunedModel(adopted=True) that adds this
environment's aliases to the *same* model. No tuning job. The source's recorded evaluation must
meet the gate of the definition in this checkout, or preview fails and says by how much.
Rolling back is changing the version here to one the source stack carries.

(``probes: [a, b]`` instead declares Probe resources only: an engine smoke check.)

Every environment exports ``models``: ``{name: {version, state, job, model, endpoint, aliases,
metrics, baseline, gate, gate_passed, artifacts, ...}}`` (see README, "Stack outputs"), and
``environment``: ``{stack, role, promote_from}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi

if TYPE_CHECKING:
    from gemini_tuning.definitions import ModelDefinition

NAMESPACE = "gemini-tuning"


class StackConfigError(pulumi.RunError):
    """The stack config or a definition is wrong: a clean one-line error, no traceback."""


def project_root() -> Path:
    """The directory holding Pulumi.yaml (the program runs in its ``main`` directory)."""
    here = Path.cwd()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return here


def run() -> None:
    config = pulumi.Config(NAMESPACE)
    stack = pulumi.get_stack()
    probes = config.get_object("probes")
    if probes is not None:
        _probes([str(name) for name in probes])
        return
    selected = config.get_object("models")
    if selected is None:
        raise StackConfigError(
            f"stack {stack} selects no models: set {NAMESPACE}:models in Pulumi.{stack}.yaml "
            "(a list of definition names, or a map of name -> version)"
        )
    wanted = _selection(selected)
    definitions = _definitions(config, list(wanted))
    aliases = [str(a) for a in (config.get_object("aliases") or [stack])]
    root = project_root()
    artifacts_root = (root / (config.get("artifactsDir") or "artifacts")).resolve()
    promote_from = config.get("promoteFrom")
    outputs: dict[str, Any] = {}
    for name, definition in definitions.items():
        if promote_from:
            version = wanted[name]
            if version is None:
                raise StackConfigError(
                    f"{NAMESPACE}:models must map {name} to the version to promote from "
                    f"{promote_from}, e.g. {{{name}: {definition.version}}}"
                )
            outputs[name] = _promote(name, version, definition, promote_from, aliases)
        else:
            pinned = wanted[name]
            if pinned is not None and pinned != definition.version:
                raise StackConfigError(
                    f"stack {stack} pins {name} to version {pinned}, but "
                    f"{_definition_file(config, name)} is version {definition.version}"
                )
            outputs[name] = _tune(
                name, definition, config, aliases=aliases, artifacts_root=artifacts_root, root=root
            )
    pulumi.export("models", outputs)
    pulumi.export(
        "environment",
        {
            "stack": stack,
            "role": "promotion" if promote_from else "tuning",
            "promote_from": promote_from,
            "aliases": aliases,
        },
    )


def _probes(names: list[str]) -> None:
    """``gemini-tuning:probes: [a, b]``: Probe resources only, no API call (an engine smoke
    check used by setup checks and the foundation tests)."""
    from gemini_tuning.resources.probe import Probe

    for name in names:
        probe = Probe(name, value=f"{pulumi.get_stack()}:{name}")
        pulumi.export(name, {"echo": probe.echo, "digest": probe.digest})


# -- tuning ----------------------------------------------------------------------------------


def _tune(
    name: str,
    definition: ModelDefinition,
    config: pulumi.Config,
    *,
    aliases: list[str],
    artifacts_root: Path,
    root: Path,
) -> dict[str, Any]:
    from gemini_tuning.resources.evaluation import Evaluation
    from gemini_tuning.resources.tuned_model import TunedModel
    from gemini_tuning.resources.tuning_job import TuningJob

    deletion_policy = config.get("deletionPolicy") or "delete"
    hyper = definition.hyperparameters.model_dump(exclude_none=True)
    labels = {**definition.labels, "model-version": str(definition.version)}
    job_inputs: dict[str, Any] = {
        "backend": definition.backend,
        "base_model": definition.base_model,
        "training_dataset": definition.datasets.training,
        "labels": labels,
        "deletion_policy": deletion_policy,
        **hyper,
    }
    optional = {
        "validation_dataset": definition.datasets.validation,
        "tuned_model_display_name": definition.tuned_model_display_name,
        "description": definition.description,
        "poll_interval_seconds": config.get_float("pollIntervalSeconds"),
        "timeout_minutes": config.get_float("timeoutMinutes"),
    }
    job_inputs.update({k: v for k, v in optional.items() if v is not None})
    job = TuningJob(name, **job_inputs)
    model = TunedModel(
        f"{name}-model",
        backend=definition.backend,
        model=job.tuned_model,
        endpoint=job.tuned_model_endpoint,
        version_aliases=aliases,
        labels=labels,
        deletion_policy=deletion_policy,
    )
    entry: dict[str, Any] = {
        "definition": _relative(_definition_file(config, name), root),
        "version": definition.version,
        "backend": definition.backend,
        "base_model": definition.base_model,
        "hyperparameters": hyper,
        "state": job.job_state,
        "job": job.job_name,
        "model": job.tuned_model,
        "endpoint": job.tuned_model_endpoint,
        "aliases": model.current_aliases,
        "loss_per_epoch": job.loss_per_epoch,
    }
    evaluation = None
    if definition.evaluation is not None:
        ev = definition.evaluation
        eval_inputs: dict[str, Any] = {
            "backend": definition.backend,
            "target": job.tuned_model_endpoint
            if definition.backend == "vertex"
            else job.tuned_model,
            "eval_dataset": ev.dataset,
            "gate": ev.gate.as_dict(),
            "concurrency": ev.concurrency,
            "retries": ev.retries,
        }
        if ev.baseline:
            eval_inputs["baseline_model"] = definition.base_model
        if ev.max_examples is not None:
            eval_inputs["max_examples"] = ev.max_examples
        if ev.system_instruction:
            eval_inputs["system_instruction"] = ev.system_instruction
        evaluation = Evaluation(f"{name}-eval", **eval_inputs)
        entry.update(
            metrics=evaluation.metrics,
            baseline=evaluation.baseline,
            gate=ev.gate.as_dict(),
            gate_passed=evaluation.gate_passed,
            gate_misses=evaluation.gate_misses,
            evaluated_at=evaluation.evaluated_at,
        )
    entry["artifacts"] = _artifacts(
        name, definition, job=job, evaluation=evaluation, artifacts_root=artifacts_root, root=root
    )
    return entry


def _artifacts(
    name: str,
    definition: ModelDefinition,
    *,
    job: Any,
    evaluation: Any,
    artifacts_root: Path,
    root: Path,
) -> Any:
    """Write the loss curve and the evaluation summary once the values are known (`up` only);
    the output is the map of their paths (relative to the project root)."""
    from gemini_tuning import _artifacts as files

    stack = pulumi.get_stack()
    paths = files.artifact_paths(artifacts_root, stack, name)
    links = {
        "folder": _relative(paths["folder"], root),
        "loss_curve": _relative(paths["loss_curve"], root),
    }
    if evaluation is not None:
        links["evaluation"] = _relative(paths["evaluation"], root)
    if pulumi.runtime.is_dry_run():
        return links
    watched: dict[str, Any] = {
        "losses": job.loss_per_epoch,
        "model": job.tuned_model,
        "endpoint": job.tuned_model_endpoint,
    }
    if evaluation is not None:
        watched.update(
            metrics=evaluation.metrics,
            baseline=evaluation.baseline,
            gate_misses=evaluation.gate_misses,
            samples=evaluation.samples,
            evaluated_at=evaluation.evaluated_at,
        )

    def write(values: dict[str, Any]) -> dict[str, str]:
        title = f"{name} v{definition.version} ({stack}) - training loss"
        curve = files.write_loss_curve(paths["loss_curve"], values.get("losses") or [], title)
        if evaluation is not None and definition.evaluation is not None:
            summary = {
                **values,
                "base_model": definition.base_model,
                "eval_dataset": definition.evaluation.dataset,
                "gate": definition.evaluation.gate.as_dict(),
            }
            files.write_evaluation_summary(
                paths["folder"],
                model=name,
                version=definition.version,
                stack=stack,
                summary=summary,
            )
        return {**links, "loss_curve": _relative(str(curve), root)}  # the note if no curve

    return pulumi.Output.all(**watched).apply(write)


# -- promotion -------------------------------------------------------------------------------


def _promote(
    name: str,
    version: int,
    definition: ModelDefinition,
    promote_from: str,
    aliases: list[str],
) -> dict[str, Any]:
    from gemini_tuning.resources.tuned_model import TunedModel

    stack = pulumi.get_stack()
    source = _stack_reference(promote_from).get_output("models")
    gate = definition.evaluation.gate if definition.evaluation is not None else None

    def pick(models: Any) -> dict[str, Any]:
        return check_promotion(models, name, version, source=promote_from, stack=stack, gate=gate)

    chosen = source.apply(pick)
    model = TunedModel(
        f"{name}-model",
        backend=definition.backend,
        model=chosen["model"],
        endpoint=chosen["endpoint"],
        adopted=True,
        version_aliases=aliases,
    )
    return {
        "version": version,
        "promoted_from": promote_from,
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
        "artifacts": chosen["artifacts"],
    }


_REFERENCES: dict[str, pulumi.StackReference] = {}


def _stack_reference(name: str) -> pulumi.StackReference:
    if name not in _REFERENCES:
        _REFERENCES[name] = pulumi.StackReference(f"promote-from-{name.replace('/', '-')}", name)
    return _REFERENCES[name]


def check_promotion(
    models: Any,
    name: str,
    version: int,
    *,
    source: str,
    stack: str,
    gate: Any,
) -> dict[str, Any]:
    """The source stack's entry for ``name`` if it may be promoted; else StackConfigError that
    says why (wrong version, not tuned, gate missed by how much)."""
    entry = (models or {}).get(name) if isinstance(models, dict) else None
    prefix = f"cannot promote {name} v{version} from {source} to {stack}"
    if entry is None:
        carried = ", ".join(sorted(models or {})) or "nothing"
        raise StackConfigError(f"{prefix}: {source} carries no model {name} (it carries {carried})")
    carried_version = entry.get("version")
    if carried_version is None or int(carried_version) != int(version):
        raise StackConfigError(
            f"{prefix}: {source} carries {name} v{carried_version}. Promote that version, or "
            f"bring v{version} back to {source} first (git revert of the definition)"
        )
    if entry.get("state") != "SUCCEEDED" or not entry.get("model"):
        raise StackConfigError(
            f"{prefix}: its tuning job is {entry.get('state')} (no tuned model yet)"
        )
    misses = gate.misses(entry.get("metrics")) if gate is not None else []
    if misses:
        raise StackConfigError(f"{prefix}: evaluation gate not met: " + "; ".join(misses))
    return {
        key: entry.get(key)
        for key in (
            "model",
            "endpoint",
            "state",
            "job",
            "metrics",
            "baseline",
            "evaluated_at",
            "artifacts",
        )
    }


# -- config ----------------------------------------------------------------------------------


def _selection(selected: Any) -> dict[str, int | None]:
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


def _models_dir(config: pulumi.Config) -> Path:
    configured = config.get("modelsDir")
    return Path(configured) if configured else project_root() / "stacks" / "models"


def _definition_file(config: pulumi.Config, name: str) -> Path:
    return _models_dir(config) / f"{name}.yaml"


def _definitions(config: pulumi.Config, names: list[str]) -> dict[str, ModelDefinition]:
    from gemini_tuning.definitions import DefinitionError, load_definitions

    try:
        return load_definitions(_models_dir(config), names)
    except DefinitionError as err:
        raise StackConfigError(f"invalid model definitions:\n{err}") from None


def _relative(path: str | Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
