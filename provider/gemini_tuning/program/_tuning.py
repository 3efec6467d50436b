"""A tuning stack's graph: per model a TuningJob, a TunedModel it owns, an Evaluation, the run's
artifacts and, with a bucket, a Release (the durable record a promoting stack reads)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi

if TYPE_CHECKING:
    from gemini_tuning.definitions import ModelDefinition

from gemini_tuning.program._stack import (
    StackConfigError,
    definition_file,
    program_settings,
    relative,
    version_aliases,
)


def declare_probes(names: list[str]) -> None:
    """``gemini-tuning:probes: [a, b]``: Probe resources only, no API call (an engine smoke
    check used by setup checks and the foundation tests)."""
    from gemini_tuning.resources.probe import Probe

    for name in names:
        probe = Probe(name, value=f"{pulumi.get_stack()}:{name}")
        pulumi.export(name, {"echo": probe.echo, "digest": probe.digest})


def tune(
    name: str,
    definition: ModelDefinition,
    config: pulumi.Config,
    *,
    policy: dict[str, Any],
    aliases: list[str],
    artifacts_root: Path,
    root: Path,
    release_store: str | None,
) -> dict[str, Any]:
    from gemini_tuning.resources.evaluation import Evaluation
    from gemini_tuning.resources.tuned_model import TunedModel
    from gemini_tuning.resources.tuning_job import TuningJob

    hyper = definition.hyperparameters.model_dump(exclude_none=True)
    labels = {**definition.labels, "model-version": str(definition.version)}
    # Continuous tuning sends the released version it continues and no base model (the two
    # are one TuningJob oneof, see _continuation).
    pre_tuned = _continued_model(name, definition, config, root, release_store)
    source: dict[str, Any] = {"base_model": definition.base_model}
    if pre_tuned:  # the base model still prices the job and its rules apply (never sent)
        source = {"pre_tuned_model": pre_tuned, "pre_tuned_base_model": definition.base_model}
    job_inputs: dict[str, Any] = {
        "backend": definition.backend,
        **source,
        "training_dataset": definition.datasets.training,
        "labels": labels,
        **policy,
        **hyper,
    }
    optional = {
        "validation_dataset": definition.datasets.validation,
        "tuned_model_display_name": definition.tuned_model_display_name,
        "description": definition.description,
        "poll_interval_seconds": config.get_float("pollIntervalSeconds"),
        "timeout_minutes": config.get_float("timeoutMinutes"),
        # Only when set: an input that appears (even False) would change existing jobs' inputs.
        "export_last_checkpoint_only": definition.export_last_checkpoint_only or None,
        # Only when declared, like the one above: absent means last, the service's default.
        "checkpoint": definition.checkpoint,
    }
    job_inputs.update({k: v for k, v in optional.items() if v is not None})
    job = TuningJob(name, **job_inputs)
    model = TunedModel(
        f"{name}-model",
        backend=definition.backend,
        model=job.tuned_model,
        endpoint=job.tuned_model_endpoint,
        version_aliases=version_aliases(name, definition, aliases),
        labels=labels,
        **policy,
    )
    entry: dict[str, Any] = {
        "definition": relative(definition_file(config, name), root),
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
        "validation_loss_per_epoch": job.validation_loss_per_epoch,
    }
    if pre_tuned:
        entry["continued_from"] = _continued_from(definition, pre_tuned)
    if definition.checkpoint is not None:
        # Only when declared: state from before checkpoints has no such outputs, and preview
        # would show them as unknown (a change that is not there).
        entry["checkpoint"] = {
            "declared": definition.checkpoint,
            "id": job.default_checkpoint_id,
            "epoch": job.default_checkpoint_epoch,
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
        if definition.checkpoint is not None and definition.backend == "vertex":
            # The evaluation scores the default checkpoint (what the endpoint serves): a new
            # one re-runs it, and its diff names it.
            eval_inputs["checkpoint_id"] = job.default_checkpoint_id
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
        name,
        definition,
        config,
        job=job,
        evaluation=evaluation,
        artifacts_root=artifacts_root,
        root=root,
    )
    if release_store is not None:
        release = _release(
            name,
            definition,
            config,
            job=job,
            evaluation=evaluation,
            store=release_store,
            continued_from=entry.get("continued_from"),
        )
        entry["release"] = release.record_uri
    return entry


def _release(
    name: str,
    definition: ModelDefinition,
    config: pulumi.Config,
    *,
    job: Any,
    evaluation: Any,
    store: str,
    continued_from: dict[str, Any] | None = None,
) -> Any:
    """The durable record of this version (see _releases): what a promoting stack reads."""
    from gemini_tuning import _releases
    from gemini_tuning.resources.release import Release

    evaluated: dict[str, Any] = {}
    continued = {"continued_from": continued_from} if continued_from else {}
    if evaluation is not None and definition.evaluation is not None:
        evaluated = {
            "metrics": evaluation.metrics,
            "baseline": evaluation.baseline,
            "dataset_fingerprint": evaluation.eval_dataset_fingerprint,
            "evaluated_at": evaluation.evaluated_at,
            "gate": definition.evaluation.gate.as_dict(),
        }
    record = {
        "schema": _releases.SCHEMA,
        "model": name,
        "version": definition.version,
        "tuning_stack": f"{pulumi.get_project()}/{pulumi.get_stack()}",
        "backend": definition.backend,
        "base_model": definition.base_model,
        "hyperparameters": definition.hyperparameters.model_dump(exclude_none=True),
        "job": job.job_name,
        "tuned_model": job.tuned_model,
        "datasets": {"training": job.training_dataset_fingerprint},
        "definition_hash": _releases.definition_hash(definition_file(config, name).read_bytes()),
        "evaluation": evaluated,
        **continued,
    }
    # Only outputs that exist: at preview the engine reports an output absent from the state
    # as unknown, and an unknown in the record would show a change that is not there.
    if definition.backend == "vertex":
        record["endpoint"] = job.tuned_model_endpoint
    if definition.datasets.validation:
        record["datasets"]["validation"] = job.validation_dataset_fingerprint
    # Where the job's loss stopped improving (gemini_tuning._advice), as structured fields; None
    # (absent from the record) when the curve improved to its last epoch.
    declared = definition.hyperparameters.epoch_count
    record["advice"] = pulumi.Output.all(job.validation_loss_per_epoch, job.loss_per_epoch).apply(
        lambda curves: _advice_fields(curves[0], curves[1], declared)
    )
    return Release(f"{name}-release", store=store, record=record)


def _advice_fields(validation: Any, training: Any, declared: int | None) -> dict[str, Any] | None:
    from gemini_tuning._advice import advise

    found = advise(validation, training, declared)
    return found.as_dict() if found is not None else None


def _continued_model(
    name: str,
    definition: ModelDefinition,
    config: pulumi.Config,
    root: Path,
    store: str | None,
) -> str | None:
    """The tuned model version a ``continue_from`` definition starts from, read from this
    stack's release record of it (through backends/_storage); a StackConfigError naming the
    file, line and field when there is none to continue. None without ``continue_from``."""
    from gemini_tuning import _continuation, _releases, backends

    origin = definition.continue_from
    if origin is None:
        return None

    def fail(field: str, message: str) -> StackConfigError:
        line = definition.line_of(field) or definition.line_of("continue_from")
        where = relative(definition_file(config, name), root) + (f":{line}" if line else "")
        return StackConfigError(f"invalid model definitions:\n{where}: {field}: {message}")

    if store is None:
        raise fail(
            "continue_from",
            "continuous tuning starts from a released version, and this stack keeps no release "
            "records: set gemini-tuning:datasetBucket (or releaseBucket)",
        )
    try:
        settings = program_settings()
        return _continuation.resolve(
            _continuation.Origin(
                model=origin.model,
                version=origin.version,
                base_model=definition.base_model,
                adapter_size=definition.hyperparameters.adapter_size,
                location=settings.location,
            ),
            store,
            read_record=lambda uri: _releases.read_record(settings, uri),
            released=lambda prefix: _released_versions(settings, prefix),
            own=(name, definition.version),
        )
    except _continuation.ContinuationError as err:
        raise fail(err.field, str(err)) from None
    except (backends.BackendError, backends.SettingsError) as err:
        raise fail(
            "continue_from",
            f"cannot read the release record of {origin.model} v{origin.version} in {store} "
            f"({err}); the deployer needs storage.objects.get on that bucket",
        ) from None


def _released_versions(settings: Any, prefix: str) -> list[int]:
    from gemini_tuning import _releases

    found = _releases.list_records(settings, prefix)
    return sorted(int(r["version"]) for _uri, r in found if str(r.get("version", "")).isdigit())


def _continued_from(definition: ModelDefinition, tuned: Any) -> dict[str, Any]:
    origin = definition.continue_from
    assert origin is not None
    return {"model": origin.model, "version": origin.version, "tuned_model": tuned}


def _artifacts(
    name: str,
    definition: ModelDefinition,
    config: pulumi.Config,
    *,
    job: Any,
    evaluation: Any,
    artifacts_root: Path,
    root: Path,
) -> Any:
    """The loss curve and the evaluation summary, as a RunArtifacts resource (the engine writes
    them at `up` and deletes them at destroy; resources/run_artifacts.md); the output is the map
    of their paths (relative to the project root) and gs:// links."""
    from gemini_tuning import _artifacts as files
    from gemini_tuning.resources.run_artifacts import RunArtifacts

    stack = pulumi.get_stack()
    folder = relative(files.artifact_paths(artifacts_root, stack, name)["folder"], root)
    bucket = config.get("artifactsBucket") or config.get("datasetBucket")
    inputs: dict[str, Any] = {
        "model": name,
        "version": definition.version,
        "stack": stack,
        "folder": folder,
        "tuned_model": job.tuned_model,
        "loss_per_epoch": job.loss_per_epoch,
        "validation_loss_per_epoch": job.validation_loss_per_epoch,
    }
    if bucket:
        inputs["bucket_folder"] = files.bucket_folder(bucket, pulumi.get_project(), stack, name)
    if definition.backend == "vertex":
        inputs["endpoint"] = job.tuned_model_endpoint
    if evaluation is not None and definition.evaluation is not None:
        inputs["evaluation"] = {
            "metrics": evaluation.metrics,
            "baseline": evaluation.baseline,
            "gate_misses": evaluation.gate_misses,
            "samples": evaluation.samples,
            "evaluated_at": evaluation.evaluated_at,
            "base_model": definition.base_model,
            "eval_dataset": definition.evaluation.dataset,
            "gate": definition.evaluation.gate.as_dict(),
        }
    artifacts = RunArtifacts(f"{name}-artifacts", **inputs)
    # Paths only (the samples went into the files): not a secret, so `pulumi stack output
    # --json` and a promoting stack's StackReference read `models` as plain values.
    return pulumi.Output.unsecret(artifacts.links)
