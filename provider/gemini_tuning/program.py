"""Model definitions + this stack's config -> resources. `stacks/__main__.py` calls ``run()``.

Two kinds of environment, chosen by the stack config (namespace ``gemini-tuning``):

*Tuning* (dev): ``models`` lists the definitions it carries (``[squad-qa, ...]``, or a map
``{squad-qa: 3}`` that pins the version the file must have). Each model becomes a TuningJob, a
TunedModel (owned; aliases = ``aliases``, default the stack name) and an Evaluation.

A tuning stack with a bucket also writes a durable release record per version (a Release; see
``_releases``) and exports where they live (``environment.release_store``).

*Promoting* (staging, prod): ``promoteFrom`` names the stack whose outputs it takes models from
(``organization/gemini-tuning/dev`` with a local backend) and ``models`` maps each model to the
version to promote (``{squad-qa: 3}``). Each becomes a TunedModel(adopted=True) that adds this
environment's aliases and claim to the *same* model version. No tuning job. The version comes
from the release record, so it may be one the source no longer carries (the tuning stack retains
a version another stack claims); its recorded evaluation must meet the gate of the definition in
this checkout, or preview fails and says by how much. Rolling back is changing the version here.

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
    release_store = _release_store(config) if not promote_from else None
    source = _source(promote_from) if promote_from else None
    outputs: dict[str, Any] = {}
    for name, definition in definitions.items():
        if promote_from:
            version = wanted[name]
            if version is None:
                raise StackConfigError(
                    f"{NAMESPACE}:models must map {name} to the version to promote from "
                    f"{promote_from}, e.g. {{{name}: {definition.version}}}"
                )
            policy = _deletion_policy(config, name, definition, root)
            outputs[name] = _promote(
                name, version, definition, promote_from, aliases, policy=policy
            )
        else:
            pinned = wanted[name]
            if pinned is not None and pinned != definition.version:
                raise StackConfigError(
                    f"stack {stack} pins {name} to version {pinned}, but "
                    f"{_definition_file(config, name)} is version {definition.version}"
                )
            outputs[name] = _tune(
                name,
                definition,
                config,
                policy=_deletion_policy(config, name, definition, root),
                aliases=aliases,
                artifacts_root=artifacts_root,
                root=root,
                release_store=release_store,
            )
    pulumi.export("models", outputs)
    pulumi.export(
        "environment",
        {
            "stack": stack,
            "role": "promotion" if promote_from else "tuning",
            "promote_from": promote_from,
            "aliases": aliases,
            # A promoting stack passes its source's store on: prod reads staging's releases.
            "release_store": source.get_output("environment").apply(
                lambda env: (env or {}).get("release_store")
            )
            if source is not None
            else release_store,
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
        version_aliases=_aliases(name, definition, aliases),
        labels=labels,
        **policy,
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
        "definition_hash": _releases.definition_hash(_definition_file(config, name).read_bytes()),
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
        where = _relative(_definition_file(config, name), root) + (f":{line}" if line else "")
        return StackConfigError(f"invalid model definitions:\n{where}: {field}: {message}")

    if store is None:
        raise fail(
            "continue_from",
            "continuous tuning starts from a released version, and this stack keeps no release "
            "records: set gemini-tuning:datasetBucket (or releaseBucket)",
        )
    try:
        settings = _settings()
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


def _aliases(name: str, definition: ModelDefinition, aliases: list[str]) -> list[str]:
    from gemini_tuning._continuation import aliases_for

    origin = definition.continue_from
    return aliases_for(name, origin.model if origin is not None else None, aliases)


def _release_store(config: pulumi.Config) -> str | None:
    """Where this tuning stack's release records live; None without a bucket."""
    from gemini_tuning import _releases

    bucket = config.get("releaseBucket") or config.get("datasetBucket")
    if not bucket:
        return None
    return _releases.store_uri(bucket, pulumi.get_project(), pulumi.get_stack())


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
    """Write the loss curve and the evaluation summary once the values are known (`up` only),
    locally and, with a bucket, to ``gs://<bucket>/gemini-tuning/artifacts/<project>/<stack>/
    <model>/``; the output is the map of their paths (relative to the project root) and gs://
    links. It is never a secret, although it is computed from the (secret) samples: it holds
    paths only, and a secret here would make the whole ``models`` output secret."""
    from gemini_tuning import _artifacts as files

    stack = pulumi.get_stack()
    paths = files.artifact_paths(artifacts_root, stack, name)
    links = {
        "folder": _relative(paths["folder"], root),
        "loss_curve": _relative(paths["loss_curve"], root),
    }
    if evaluation is not None:
        links["evaluation"] = _relative(paths["evaluation"], root)
    bucket = config.get("artifactsBucket") or config.get("datasetBucket")
    gs_folder = files.bucket_folder(bucket, pulumi.get_project(), stack, name) if bucket else None
    if gs_folder is not None:
        links["bucket_folder"] = gs_folder
        links["loss_curve_uri"] = f"{gs_folder}/{files.LOSS_CURVE}"
        if evaluation is not None:
            links["evaluation_uri"] = f"{gs_folder}/{files.SUMMARY_MD}"
    if pulumi.runtime.is_dry_run():
        return links
    watched: dict[str, Any] = {
        "losses": job.loss_per_epoch,
        "validation_losses": job.validation_loss_per_epoch,
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
        title = f"{name} v{definition.version} ({stack}) - loss"
        curve = files.write_loss_curve(
            paths["loss_curve"],
            values.get("losses") or [],
            title,
            validation=values.get("validation_losses") or [],
        )
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
        written = {**links, "loss_curve": _relative(str(curve), root)}  # the note if no curve
        if gs_folder is not None:
            written["loss_curve_uri"] = f"{gs_folder}/{curve.name}"
            try:
                files.upload_folder(_settings(), paths["folder"], gs_folder)
            except Exception as err:  # noqa: BLE001 - the model is tuned; say what failed
                pulumi.log.warn(
                    f"{name}: could not write the artifacts to {gs_folder} ({err}); they are in "
                    f"{links['folder']} only. The deployer needs storage.objects.create and "
                    "storage.objects.delete on that bucket"
                )
                for key in ("bucket_folder", "loss_curve_uri", "evaluation_uri"):
                    written.pop(key, None)
        return written

    # Paths only (the samples went into the files): not a secret, so `pulumi stack output
    # --json` and a promoting stack's StackReference read `models` as plain values.
    return pulumi.Output.unsecret(pulumi.Output.all(**watched).apply(write))


# -- promotion -------------------------------------------------------------------------------


def _promote(
    name: str,
    version: int,
    definition: ModelDefinition,
    source_name: str,
    aliases: list[str],
    *,
    policy: dict[str, Any],
) -> dict[str, Any]:
    from gemini_tuning.resources.tuned_model import TunedModel

    stack = pulumi.get_stack()
    source = _source(source_name)
    gate = definition.evaluation.gate if definition.evaluation is not None else None
    eval_fingerprint = _eval_fingerprint(definition)

    def pick(outputs: list[Any]) -> dict[str, Any]:
        models, environment = outputs
        chosen = check_promotion(
            models, environment, name, version, source=source_name, stack=stack, gate=gate
        )
        recorded = chosen.get("eval_dataset_fingerprint")
        if recorded and eval_fingerprint and recorded != eval_fingerprint:
            pulumi.log.warn(
                f"{name} v{version}: its recorded evaluation ran on another evaluation set "
                f"({recorded[:19]}.. vs {eval_fingerprint[:19]}.. in this checkout): the gate "
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
        version_aliases=_aliases(name, definition, aliases),
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


_REFERENCES: dict[str, pulumi.StackReference] = {}


def _source(name: str) -> pulumi.StackReference:
    if name not in _REFERENCES:
        _REFERENCES[name] = pulumi.StackReference(f"promote-from-{name.replace('/', '-')}", name)
    return _REFERENCES[name]


def _eval_fingerprint(definition: ModelDefinition) -> str | None:
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
        settings = _settings()
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
            return _lookup_model(settings, model)
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


def _settings() -> Any:
    """The backends' settings in the program process (the stack config, then the environment)."""
    from gemini_tuning import backends

    config = pulumi.Config(NAMESPACE)
    backends.configure(
        lambda key: None if key.endswith(":geminiApiKey") else config.get(key.split(":", 1)[1])
    )
    return backends.settings()


def _lookup_model(settings: Any, model: str) -> Any:
    from gemini_tuning import backends
    from gemini_tuning.backends.vertex import VertexBackend

    try:
        return VertexBackend(settings).get_model(model)
    except backends.NotFoundError:
        return None


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


def _deletion_policy(
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
            _relative(_definition_file(config, name), root) + (f":{line}" if line else ""),
            configured,
            _config_source(root) if configured is not None else "",
        )
    except ValueError as err:
        raise StackConfigError(f"{NAMESPACE}:deletionPolicy: {err}") from None


def _config_source(root: Path) -> str:
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
            return f"{_relative(path, root)}:{number}"
    return f"stack config {key}"


def _models_dir(config: pulumi.Config) -> Path:
    configured = config.get("modelsDir")
    return Path(configured) if configured else project_root() / "stacks" / "models"


def _definition_file(config: pulumi.Config, name: str) -> Path:
    return _models_dir(config) / f"{name}.yaml"


def _definitions(config: pulumi.Config, names: list[str]) -> dict[str, ModelDefinition]:
    from gemini_tuning.definitions import DefinitionError, load_definitions

    folder = _models_dir(config)
    try:
        return load_definitions(folder, names, location=_stack_location(config))
    except DefinitionError as err:
        if err.problems and all(field == "models" for _line, field, _ in err.problems):
            # A name in the stack's list with no file: the typo is in the stack's config file.
            where = f"Pulumi.{pulumi.get_stack()}.yaml: {NAMESPACE}:models"
            shown = _relative(folder, project_root())  # as the user knows it: stacks/models
            reasons = "; ".join(m.replace(str(folder), shown) for _l, _f, m in err.problems)
            raise StackConfigError(f"{where}: {reasons}") from None
        raise StackConfigError(f"invalid model definitions:\n{err}") from None


def _stack_location(config: pulumi.Config) -> str:
    """Where this stack's jobs run (gemini-tuning:location, then the environment), read without
    resolving the rest of the settings (no endpoint or credential is needed to check it)."""
    from gemini_tuning.backends._settings import configured_location

    return configured_location(config.get)


def _relative(path: str | Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
