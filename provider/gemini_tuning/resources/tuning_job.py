"""TuningJob: one supervised tuning job and the tuned model it produces. Docs: tuning_job.md.

The provider is pickled *by reference* into state (this module must stay importable under this
name); it holds no attributes, so no client or credential can reach state.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any, Unpack

import pulumi
import pulumi.dynamic as dyn

from gemini_tuning import _claims as claims
from gemini_tuning import _timing as timing_log
from gemini_tuning import backends, catalog
from gemini_tuning._process import in_dynamic_provider_process
from gemini_tuning.backends._types import ACTIVE_STATES
from gemini_tuning.resources import _checkpoints, _deletion, _submit, _wait
from gemini_tuning.resources import _dataset_inputs as ds
from gemini_tuning.resources._declared import TuningJobArgs, TuningJobAttributes
from gemini_tuning.resources._lifecycle import (
    JOB_REPLACE_KEYS,
    JOB_UPDATE_KEYS,
    RESOURCE_LABEL,
    SPEC_LABEL,
    dataset_change_reason,
    identity_labels,
    plan_diff,
    pre_tuned_change_reason,
    spec_hash,
)
from gemini_tuning.resources._props import (
    declared_props,
    protected_if_prevented,
    with_secret_outputs,
)
from gemini_tuning.resources._unknowns import is_unknown, with_stand_ins
from gemini_tuning.resources._wait import say, wait_for_job
from gemini_tuning.specs import (
    RESERVED_LABEL_PREFIX,
    TUNING_JOB,
    SpecError,
    TuningJobSpec,
    parse,
)

if timing_log.enabled() and in_dynamic_provider_process():
    timing_log.mark("provider_process", at=timing_log.process_started())
    timing_log.mark("provider_imported")

# Declared once, in specs.TuningJobSpec and specs.TuningJobOutputs. Computed inputs: the stack,
# the datasets' fingerprints and ``cost_estimate`` (checked, so policy packs read it at preview).
COMPUTED_INPUTS = TUNING_JOB.computed_inputs
OUTPUTS = TUNING_JOB.provider_outputs
INPUT_KEYS = TUNING_JOB.input_keys
# The service's error text can quote the user's data (a bad example, a path): encrypted in state.
SECRET_OUTPUTS = TUNING_JOB.secret_outputs


class TuningJobProvider(dyn.ResourceProvider):
    serialize_as_secret_always = False  # holds nothing; a unit test asserts vars(self) == {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        backends.configure(req.config.get)

    # -- preview -----------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        timing_log.mark("check", resource=news.get("resource_name"))
        result = self._check(news)
        continuous = news.get("pre_tuned_model")
        if continuous and not result.failures and _starts_a_job(_olds, result.inputs):
            missing = _missing_pre_tuned_model(news)
            if missing is not None:
                result = dyn.CheckResult(result.inputs, [missing])
        if not _olds and not result.failures:  # a new resource: its create submits a job
            _announce_start(news)
        timing_log.mark("check_done", resource=news.get("resource_name"))
        return result

    def _check(self, news: dict[str, Any]) -> dyn.CheckResult:
        raw = {k: v for k, v in news.items() if k in TuningJobSpec.model_fields}
        try:
            spec = parse(TuningJobSpec, with_stand_ins(raw, _STAND_INS))
        except SpecError as err:
            return dyn.CheckResult(news, [dyn.CheckFailure(p, r) for p, r in err.failures])
        location_failure = _location_failure(spec)
        if location_failure is not None:
            return dyn.CheckResult(news, [location_failure])
        computed, failures, training_stats = _check_datasets(spec, raw)
        if not failures:
            estimate = _estimate(spec, training_stats)
            if estimate is not None:
                computed["cost_estimate"] = cost_estimate_input(estimate, spec.epoch_count)
            _announce(spec, computed, estimate)
        return dyn.CheckResult({**news, **computed}, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        reasons = {
            f"{role}_dataset_fingerprint": dataset_change_reason(role, olds, news)
            for role in ("training", "validation")
        }
        reasons["pre_tuned_model"] = pre_tuned_change_reason(olds, news)
        plan = plan_diff(
            TuningJobSpec,
            olds,
            news,
            replace_keys=JOB_REPLACE_KEYS,
            update_keys=JOB_UPDATE_KEYS,
            extra_reasons=reasons,
        )
        replaces = list(plan.replaces)
        messages = [_with_checkpoint_note(m, olds) for m in plan.describe()]
        if olds.get("tuned_model_missing"):
            replaces.append("tuned_model")
            messages.append(
                f"replace: tuned model {olds.get('tuned_model')} was deleted outside Pulumi"
            )
        resource = str(news.get("resource_name"))
        for message in messages:
            say(resource, message)
        if replaces:
            why = [m.removeprefix("replace: ") for m in messages if m.startswith("replace: ")]
            _deletion.refuse_replace(resource, olds, news, why, _what_it_made(_id, olds))
            _announce_start(news)
        return dyn.DiffResult(
            changes=bool(plan.changed or replaces), replaces=replaces, delete_before_replace=False
        )

    # -- apply -------------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        timing_log.mark("create", resource=props.get("resource_name"))
        result = self._create(props)
        timing_log.mark("create_done", resource=props.get("resource_name"))
        return result

    def _create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = parse(TuningJobSpec, _spec_inputs(props))
        backend = backends.backend_for(spec.backend)
        labels = {**spec.labels, **identity_labels(props["stack"], spec.resource_name, props)}
        wanted = {RESOURCE_LABEL: labels[RESOURCE_LABEL], SPEC_LABEL: labels[SPEC_LABEL]}
        timing = _timing(spec)
        timing_log.mark("clients", resource=spec.resource_name)
        existing = _submit.existing_jobs(backend, wanted)
        status = _reusable_job(backend, existing, spec.resource_name)
        timing_log.mark("listed", resource=spec.resource_name)
        uris = _dataset_uris(spec, props)
        with _submit.project_slot(
            backends.settings(),
            _max_concurrent_jobs(),
            resource=spec.resource_name,
            timing=timing,
            needed=status is None or status.active,
        ):
            if status is None:
                timing_log.mark("upload", resource=spec.resource_name)
                uris = _upload_datasets(spec, props)
                timing_log.mark("upload_done", resource=spec.resource_name)
                request = _job_request(spec, labels, uris)
                status = _submit.submit_once(
                    backend, request, wanted, existing, resource=spec.resource_name, timing=timing
                )
                timing_log.mark("submitted", resource=spec.resource_name)
            if spec.wait:
                seconds, limit = _wait.wait_limit(spec.timeout_minutes)
                status = wait_for_job(
                    backend,
                    status.name,
                    resource=spec.resource_name,
                    timeout_seconds=seconds,
                    poll_seconds=spec.poll_interval_seconds,
                    limit=limit,
                    create_time=status.create_time,
                )
        _check_end(status, wanted, spec.resource_name, backend)
        if status.loss_note:
            say(spec.resource_name, status.loss_note)
        token = _stamp_owner(backend, spec, status)
        status, chosen = _default_checkpoint(
            backend, spec.checkpoint, status, spec.resource_name, str(props["stack"])
        )
        outs = {**_outputs(props, status, uris), "owner_token": token}
        return dyn.CreateResult(status.name, {**outs, **_checkpoint_outputs(status, chosen)})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        backend = backends.backend_for(str(props.get("backend") or "vertex"))
        try:
            status = backend.get_job(id_)
        except backends.NotFoundError:
            return dyn.ReadResult("", {})
        missing = False
        default_id = None
        if status.succeeded and status.tuned_model:
            try:
                default_id = backend.get_model(status.tuned_model).default_checkpoint_id
            except backends.NotFoundError:
                missing = True
                say(str(props.get("resource_name")), f"tuned model {status.tuned_model} is gone")
        _say_endpoint_drift(props, status)
        if _importing(props):
            props = _imported_inputs(props, status)
            uris = _dataset_uris(parse(TuningJobSpec, _spec_inputs(props)), props)
        else:
            uris = {k: props.get(k) for k in ("training_dataset_uri", "validation_dataset_uri")}
        outs = {
            **_outputs(props, status, uris),
            "tuned_model_missing": missing,
            "owner_token": props.get("owner_token"),
        }
        if "default_checkpoint_id" in props:  # state from before checkpoints: left as it was
            outs.update(_read_checkpoint_outputs(status, default_id))
        return dyn.ReadResult(id_, outs, {k: props[k] for k in INPUT_KEYS if k in props})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        plan = plan_diff(
            TuningJobSpec, olds, news, replace_keys=JOB_REPLACE_KEYS, update_keys=JOB_UPDATE_KEYS
        )
        model = olds.get("tuned_model")
        outs = {k: v for k, v in olds.items() if k != "__provider"}
        outs.update({k: news.get(k) for k in INPUT_KEYS})
        if model and "checkpoint" in plan.updates:
            outs.update(_change_checkpoint(_id, news))
        if model and {"description", "labels"} & set(plan.updates):
            backend = backends.backend_for(str(news.get("backend") or "vertex"))
            backend.update_model(model, display_name=None, description=news.get("description"))
            if "labels" in plan.updates:
                old_user, new_user = olds.get("labels") or {}, news.get("labels") or {}
                backend.update_labels(
                    backend.version_name(model),
                    lambda labels: {
                        **{k: v for k, v in labels.items() if k not in old_user},
                        **new_user,
                    },
                )
            changed = [k for k in plan.updates if k in ("description", "labels")]
            say(str(news["resource_name"]), f"updated {', '.join(changed)} of {model}")
        return dyn.UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Cancel an active job (and wait for it to settle), then retire its model (see
        _retire_model), or, for a job with no model, remove the endpoints it deployed its
        checkpoints to. A delete the service refuses does not fail: the line says so."""
        resource = str(props.get("resource_name"))
        _deletion.refuse_delete(resource, props, _what_it_made(id_, props))
        if _deletion.policy_of(props) == "abandon":
            say(resource, _abandoned(id_, props))
            return
        backend = backends.backend_for(str(props.get("backend") or "vertex"))
        try:
            status = backend.get_job(id_)
        except backends.NotFoundError:
            status = None
        if status is not None and status.active:
            try:
                backend.cancel_job(id_)
                say(resource, f"cancelled running tuning job {id_}")
            except backends.NotFoundError:
                pass
            status = _settled(backend, id_, status)
        model = props.get("tuned_model") or (status.tuned_model if status else None)
        lines = _retire_model(backend, str(model), props) if model else []
        if status is not None and (not model or _gone(backend, str(model))):
            # No model (cancelled, failed), or none any more (deleted now or out of band):
            # whatever the job deployed is nobody else's.
            lines += backend.delete_job_endpoints(id_)
        for step in lines:
            say(resource, step)


# One instance per process; pickled by reference into each resource's state.
_PROVIDER = TuningJobProvider()


class TuningJob(TuningJobAttributes, dyn.Resource, module="vertex", name="TuningJob"):
    """A supervised tuning job: created and waited for, replaced when what it tunes changes."""

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[TuningJobArgs],
    ) -> None:
        props = declared_props("TuningJob", resource_name, args, TUNING_JOB)
        props["stack"] = f"{pulumi.get_project()}/{pulumi.get_stack()}"
        opts = protected_if_prevented(opts, args.get("deletion_policy"))
        super().__init__(_PROVIDER, resource_name, props, with_secret_outputs(opts, SECRET_OUTPUTS))


# -- helpers -------------------------------------------------------------------------------


def _importing(props: dict[str, Any]) -> bool:
    """A read with no recorded inputs: `pulumi import` (the plugin supplies only the name and
    the stack, from the URN)."""
    return "training_dataset" not in props


def _imported_inputs(props: dict[str, Any], status: backends.JobStatus) -> dict[str, Any]:
    """The inputs a program declaring this existing job would have, rebuilt from what it was
    submitted with (``status.declared``), its user labels (not this tool's identity labels) and
    the fingerprints ``check`` computes, so that the program then previews with no changes.
    The owner token stays unset: an unstamped version may be deleted by its TuningJob, as one
    this resource created; a version another TuningJob stamped is never taken over."""
    labels = {k: v for k, v in status.labels.items() if not k.startswith(RESERVED_LABEL_PREFIX)}
    inputs: dict[str, Any] = {
        "resource_name": props["resource_name"],
        "stack": props["stack"],
        "backend": str(props.get("backend") or "vertex"),
        **status.declared,
        "labels": labels,
    }
    spec = parse(TuningJobSpec, _spec_inputs(inputs))
    computed, failures, _stats = _check_datasets(spec, _spec_inputs(inputs))
    if failures:
        reasons = "; ".join(f"{f.property}: {f.reason}" for f in failures)
        raise RuntimeError(f"cannot import tuning job {status.name}: {reasons}")
    return {**inputs, **computed, "owner_token": None}


def _starts_a_job(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """A new resource, or a change the diff will call a replace (a new job): the checked
    inputs (fingerprints included) against the old ones, by the diff's own rules."""
    if not olds:
        return True
    plan = plan_diff(
        TuningJobSpec, olds, news, replace_keys=JOB_REPLACE_KEYS, update_keys=JOB_UPDATE_KEYS
    )
    return bool(plan.replaces)


def _missing_pre_tuned_model(news: dict[str, Any]) -> dyn.CheckFailure | None:
    """A continuous job needs its pre-tuned model version to exist ("You must provide a model
    resource name", https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/
    gemini-use-continuous-tuning): checked at preview, only when a job would be submitted, so a
    job already tuned from a version deleted since is left alone."""
    name = news.get("pre_tuned_model")
    if not name or is_unknown(name) or (news.get("backend") or "vertex") != "vertex":
        return None
    try:
        backends.backend_for("vertex").get_model(str(name))
    except backends.NotFoundError:
        return dyn.CheckFailure(
            "pre_tuned_model",
            f"{name} does not exist (deleted or pruned since it was released): continuous "
            "tuning starts from an existing model version; continue another released version",
        )
    except (backends.BackendError, backends.SettingsError):
        return None  # settings or access: create reports it with what to do
    return None


def _location_failure(spec: TuningJobSpec) -> dyn.CheckFailure | None:
    """A base model Google does not tune in the stack's location fails here, at preview,
    before anything is uploaded or paid for (catalog.tuning_location_error cites the pages)."""
    model = spec.catalog_model
    if model is None or spec.backend != "vertex":
        return None  # a pre-tuned model tunes where it lives (the emulator checks the names)
    try:
        location = backends.settings().location
    except backends.SettingsError:
        return None  # create reports the settings error with what to do
    reason = catalog.tuning_location_error(model, location)
    return dyn.CheckFailure("base_model", reason) if reason else None


def _datasets_of(spec: TuningJobSpec) -> list[tuple[ds.Role, str | None]]:
    return [("training", spec.training_dataset), ("validation", spec.validation_dataset)]


_STAND_INS = {
    "pre_tuned_model": "projects/p/locations/l/models/unknown",
    "training_dataset": "gs://unknown/unknown.jsonl",
    # Present, though not known yet: ``checkpoint: best`` needs one to be declared.
    "validation_dataset": "gs://unknown/unknown.jsonl",
}


def _spec_inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k in TuningJobSpec.model_fields}


def _check_datasets(
    spec: TuningJobSpec, raw: dict[str, Any]
) -> tuple[dict[str, Any], list[dyn.CheckFailure], Any]:
    """Computed fingerprint inputs, failures per dataset property, and the training stats."""
    computed: dict[str, Any] = {}
    failures: list[dyn.CheckFailure] = []
    training_stats = None
    model = spec.catalog_model
    for role, location in _datasets_of(spec):
        prop = f"{role}_dataset"
        if location is None or is_unknown(raw.get(prop)):
            continue
        result = _check_one_dataset(
            location, role, model, computed.get("training_dataset_examples")
        )
        if isinstance(result, str):
            failures.append(dyn.CheckFailure(prop, result))
            continue
        if result.errors:
            failures.append(dyn.CheckFailure(prop, "\n".join(result.errors)))
        for warning in result.warnings:
            say(spec.resource_name, f"warning: {warning}")
        computed[f"{prop}_fingerprint"] = result.fingerprint
        computed[f"{prop}_examples"] = result.examples
        if role == "training":
            training_stats = result.stats
    return computed, failures, training_stats


def _check_one_dataset(
    location: str, role: ds.Role, model: catalog.BaseModel | None, training_examples: int | None
) -> ds.DatasetCheck | str:
    if ds.is_gcs(location):
        try:
            return ds.check_gcs(location, backends.settings())
        except backends.SettingsError as err:
            return str(err)
    path = Path(location)
    shown = ds.as_the_user_sees_it(location)
    if not path.is_file():
        return f"{shown}: file not found (looked in {path.resolve()})"
    if model is None:  # continuous tuning: the pre-tuned model's base is not known before apply
        model = catalog.lookup("gemini-2.5-flash")
    found = ds.check_local(location, model, role, training_examples)
    if shown == location:
        return found
    # The checks name the file as the program opened it (relative to the program's directory,
    # stacks/ here); the user knows it from the project's root.
    return dataclasses.replace(
        found,
        errors=[_renamed(e, location, shown) for e in found.errors],
        warnings=[_renamed(w, location, shown) for w in found.warnings],
    )


def _renamed(message: str, location: str, shown: str) -> str:
    return shown + message[len(location) :] if message.startswith(location) else message


def _estimate(spec: TuningJobSpec, stats: Any) -> Any:
    """The training-token and cost estimate (per epoch when the service chooses the epochs)."""
    model = spec.catalog_model
    if stats is None or model is None:
        return None
    from gemini_tuning.datasets import estimate_cost

    return estimate_cost(stats, model, _billed_epochs(spec) or 1)


def _billed_epochs(spec: TuningJobSpec) -> int | None:
    return spec.epoch_count or (
        catalog.GEMINI_API_DEFAULT_EPOCHS if spec.backend == "gemini-api" else None
    )


def cost_estimate_input(estimate: Any, epoch_count: int | None) -> dict[str, Any]:
    """The ``cost_estimate`` input: small, plain, not a secret. ``usd`` is unrounded (the
    printed estimate rounds to cents); ``epochs_chosen_by_service`` marks a per-epoch figure."""
    usd = None
    if estimate.usd_per_million_tokens is not None:
        usd = round(estimate.training_tokens * estimate.usd_per_million_tokens / 1_000_000, 6)
    return {
        "base_model": estimate.model,
        "dataset_tokens": estimate.dataset_tokens,
        "epochs": estimate.epochs,
        "epochs_chosen_by_service": epoch_count is None and estimate.epochs == 1,
        "training_tokens": estimate.training_tokens,
        "usd_per_million_tokens": estimate.usd_per_million_tokens,
        "usd": usd,
        "prices_as_of": estimate.prices_as_of,
    }


def _announce(spec: TuningJobSpec, computed: dict[str, Any], estimate: Any) -> None:
    """What preview should tell a reviewer: the data, what tuning it costs, backend caveats."""
    if spec.backend == "gemini-api" and not backends.settings().gemini_api_local:
        say(
            spec.resource_name,
            "note: Google has offered no tunable base model in the Gemini API since May 2025; "
            "Vertex AI (backend: vertex) is the supported path. The service will refuse this job "
            "unless that has changed.",
        )
    examples = computed.get("training_dataset_examples")
    if examples is None:
        return
    fingerprint = str(computed["training_dataset_fingerprint"])[:19]
    say(spec.resource_name, f"training data: {examples} examples ({fingerprint}..)")
    if estimate is None:
        return
    if _billed_epochs(spec) is None:
        say(
            spec.resource_name,
            f"estimate per epoch (epoch count chosen by the service): {estimate.describe()}",
        )
    else:
        say(spec.resource_name, f"estimate: {estimate.describe()}")


def _dataset_uris(spec: TuningJobSpec, props: dict[str, Any]) -> dict[str, str | None]:
    bucket = spec.dataset_bucket or backends.settings().dataset_bucket
    uris: dict[str, str | None] = {}
    for role, location in _datasets_of(spec):
        fingerprint = props.get(f"{role}_dataset_fingerprint")
        uris[f"{role}_dataset_uri"] = (
            None
            if location is None or spec.backend == "gemini-api"
            else ds.upload_uri(location, str(fingerprint), bucket, spec.dataset_prefix)
        )
    return uris


def _upload_datasets(spec: TuningJobSpec, props: dict[str, Any]) -> dict[str, str | None]:
    uris = _dataset_uris(spec, props)
    bucket = spec.dataset_bucket or backends.settings().dataset_bucket
    for role, location in _datasets_of(spec):
        if location and not ds.is_gcs(location) and spec.backend == "vertex" and bucket:
            uris[f"{role}_dataset_uri"] = ds.upload(
                location,
                bucket,
                spec.dataset_prefix,
                backends.settings(),
                expected=props.get(f"{role}_dataset_fingerprint"),
            )
            say(spec.resource_name, f"{role} data at {uris[f'{role}_dataset_uri']}")
    return uris


def _check_end(
    status: backends.JobStatus,
    wanted: dict[str, str],
    resource: str,
    backend: backends.TuningBackend,
) -> None:
    """A job that ended badly fails the create with its own error (and is never followed by
    another submission in this `up`); a partial success with a model is a success, said.

    A job that ended badly may have deployed intermediate checkpoints to endpoints first (they
    are deployed "sequentially as tuning progresses"), and a failed create leaves no resource
    in the state to delete them later: they are removed here, before the create fails."""
    if status.ended_badly:
        _submit.note_ended_badly(wanted, status)
        _remove_what_it_deployed(backend, status, resource)
        missing = " and no tuned model" if status.partial else ""
        raise RuntimeError(
            f"tuning job {status.name} ended {status.state}{missing}: "
            f"{status.error or 'the service gave no message'}. Nothing else was submitted; fix "
            "the cause and run `pulumi up` again (it submits a new job)"
        )
    if status.partial:
        say(
            resource,
            f"warning: tuning job {status.name} ended PARTIALLY_SUCCEEDED (the service: some "
            f"results may be missing due to errors): {status.error or 'no message'}; its "
            f"tuned model {status.tuned_model} is used",
        )


def _remove_what_it_deployed(
    backend: backends.TuningBackend, status: backends.JobStatus, resource: str
) -> None:
    try:
        steps = backend.delete_job_endpoints(status.name)
    except backends.BackendError as err:
        say(
            resource,
            f"warning: the endpoints of tuning job {status.name} could not be removed ({err}); "
            "`gemini-tuning sweep --stack STACK` finds and removes them",
        )
        return
    for step in steps:
        say(resource, step)


def _say_endpoint_drift(props: dict[str, Any], status: backends.JobStatus) -> None:
    """Refresh reads the tuned model's endpoint again (``tunedModel.endpoint``, the default
    checkpoint's): a changed one is drift in an output, reported here; it never replaces the
    job (outputs take no part in the diff)."""
    before = props.get("tuned_model_endpoint")
    if before and status.endpoint and status.endpoint != before:
        say(
            str(props.get("resource_name")),
            f"the tuned model's endpoint changed outside Pulumi: {before} -> {status.endpoint} "
            "(the default checkpoint was changed?); the output follows it, nothing is replaced",
        )


def _reusable_job(
    backend: backends.TuningBackend, existing: _submit.Existing, resource: str
) -> backends.JobStatus | None:
    """A job this resource already submitted with the same spec, still useful: adopt it."""
    job = _submit.reusable(backend, existing)
    if job is not None:
        say(resource, f"adopting tuning job {job.name} ({job.state}) instead of submitting another")
    return job


def _stamp_owner(
    backend: backends.TuningBackend, spec: TuningJobSpec, status: backends.JobStatus
) -> str | None:
    """Mark the tuned model version as this resource's (see _claims): a token in the labels
    and in the outputs. A resource that adopted the job re-stamps it, so the one it replaced
    no longer owns the model."""
    if spec.backend != "vertex" or not status.succeeded or not status.tuned_model:
        return None
    token = uuid.uuid4().hex[:20]
    version = backend.version_name(status.tuned_model)  # models/X@N, as the service names it
    backend.update_labels(version, lambda labels: {**labels, claims.OWNER_LABEL: token})
    return token


def _default_checkpoint(
    backend: backends.TuningBackend,
    choice: str | int,
    status: backends.JobStatus,
    resource: str,
    stack: str,
) -> tuple[backends.JobStatus, _checkpoints.Chosen | None]:
    """Make the checkpoint ``choice`` names the tuned model's default (UpdateModel, only when
    it is not already: ``last`` is the service's own default), and the job as read after it:
    "The tuned model endpoint represents the endpoint of the default checkpoint" (tuning
    checkpoints page), so ``tunedModel.endpoint`` follows the change. A choice the job cannot
    meet fails with what it has; the job itself stays (the next `up` adopts it).

    The default checkpoint belongs to the version, so every stack that serves the version
    serves it: while another stack claims the version, a change is refused (it would change
    what staging or prod serves without a promotion)."""
    if not status.succeeded or not status.tuned_model:
        if choice != "last":  # wait: false, and the job has not finished
            say(resource, f"checkpoint: {choice} applies once job {status.name} has succeeded")
        return status, None
    try:
        chosen = _checkpoints.choose(choice, status.checkpoints, status.validation_loss_per_epoch)
    except _checkpoints.CheckpointChoiceError as err:
        note = f" ({status.loss_note})" if status.loss_note else ""
        raise RuntimeError(
            f"{err}{note}. Tuning job {status.name} and its model {status.tuned_model} are "
            "kept; nothing was changed"
        ) from err
    if chosen is None:  # no checkpoints listed, and ``last``: the service's default stands
        return status, None
    version = backend.version_name(status.tuned_model)
    model = backend.get_model(version)
    current = model.default_checkpoint_id
    if current == chosen.checkpoint.checkpoint_id:
        return status, chosen
    others = claims.other_stacks(model.labels, except_stack=stack)
    if others:
        raise RuntimeError(
            f"checkpoint: {choice} would make checkpoint {chosen.checkpoint.checkpoint_id} the "
            f"default of {version} (now {current or 'the service default'}), and "
            f"{', '.join(others)} serve{'s' if len(others) == 1 else ''} that version: they "
            "would serve another checkpoint without a promotion. Nothing was changed: put "
            "checkpoint back, or stop serving this version there first (promote another), "
            "then run pulumi up again"
        )
    backend.set_default_checkpoint(version, chosen.checkpoint.checkpoint_id)
    say(
        resource,
        f"default checkpoint of {version}: {current or 'the service default'} -> "
        f"{chosen.checkpoint.checkpoint_id} ({chosen.reason})",
    )
    return backend.get_job(status.name), chosen


def _with_checkpoint_note(message: str, olds: dict[str, Any]) -> str:
    """What a ``checkpoint`` change does, said at preview: the same job, its model's default."""
    if not message.startswith("update: checkpoint changed"):
        return message
    model = olds.get("tuned_model") or "the tuned model"
    return f"{message}: the default checkpoint of {model} moves; no new tuning job"


def _change_checkpoint(job: str, news: dict[str, Any]) -> dict[str, Any]:
    """``checkpoint`` changed: the default checkpoint moves on the same tuned model version (no
    new tuning job); the outputs that follow it."""
    backend = backends.backend_for(str(news.get("backend") or "vertex"))
    status = backend.get_job(job)
    choice = news.get("checkpoint", "last")
    status, chosen = _default_checkpoint(
        backend, choice, status, str(news["resource_name"]), str(news.get("stack"))
    )
    return {"tuned_model_endpoint": status.endpoint, **_checkpoint_outputs(status, chosen)}


def _checkpoint_outputs(
    status: backends.JobStatus, chosen: _checkpoints.Chosen | None
) -> dict[str, Any]:
    losses = status.validation_loss_per_epoch
    listed = [
        {
            "checkpoint_id": c.checkpoint_id,
            "epoch": c.epoch,
            "step": c.step,
            "validation_loss": float(losses[c.epoch - 1]) if 0 < c.epoch <= len(losses) else None,
        }
        for c in status.checkpoints
    ]
    return {
        "default_checkpoint_id": chosen.checkpoint.checkpoint_id if chosen else None,
        "default_checkpoint_epoch": chosen.checkpoint.epoch if chosen else None,
        "checkpoints": listed,
    }


def _read_checkpoint_outputs(status: backends.JobStatus, default_id: str | None) -> dict[str, Any]:
    """What refresh reads: the default checkpoint as the model says it now (changed outside
    Pulumi, it shows here and in ``tuned_model_endpoint``)."""
    found = next((c for c in status.checkpoints if c.checkpoint_id == default_id), None)
    chosen = _checkpoints.Chosen(found, None, "read") if found else None
    outs = _checkpoint_outputs(status, chosen)
    outs["default_checkpoint_id"] = default_id
    return outs


def _what_it_made(job: str, props: dict[str, Any]) -> str:
    """What deleting this resource would delete, for a refusal: its model, else its job."""
    model = props.get("tuned_model")
    return f"tuned model {model} and its endpoint" if model else f"tuning job {job}"


def _abandoned(job: str, props: dict[str, Any]) -> str:
    """The one line ``deletion_policy: abandon`` prints on delete: what stays in the service
    and how to find it again or remove it. Reads the recorded outputs only (no API call)."""
    declared = props.get("deletion_policy")
    kept = [f"tuning job {job}" + _still_active(props)]
    if props.get("tuned_model"):
        kept.insert(0, f"tuned model {props['tuned_model']}")
    if props.get("tuned_model_endpoint"):
        kept.insert(1, f"endpoint {props['tuned_model_endpoint']}")
    if props.get("backend") == "gemini-api":
        later = "delete it by that name when nobody needs it"
    else:
        later = (
            "`gemini-tuning releases list` shows the version, `gemini-tuning releases prune` "
            "deletes it once no stack claims it"
        )
    listed = ", ".join(kept[:-1]) + " and " + kept[-1] if len(kept) > 1 else kept[0]
    return (
        f"abandoned by deletion_policy: {declared}{_deletion.where(props)}: left {listed} in "
        f"the service; only this stack's state forgets them. `pulumi up` with the same "
        f"declaration adopts them again; {later}"
    )


def _still_active(props: dict[str, Any]) -> str:
    state = props.get("job_state")
    return f" ({state} when last read, not cancelled)" if state in ACTIVE_STATES else ""


def _gone(backend: backends.TuningBackend, model: str) -> bool:
    try:
        backend.get_model(model)
    except backends.NotFoundError:
        return True
    return False


def _settled(
    backend: backends.TuningBackend, name: str, status: backends.JobStatus
) -> backends.JobStatus:
    """The job once the cancel took effect (or it ended otherwise): its checkpoints' endpoints
    are all there by then. A cancel is asynchronous (CANCELLING first); past
    ``operationTimeoutSeconds`` the delete fails, so the resource stays in the state and the
    next destroy finishes the clean-up."""
    limit = backends.settings().operation_timeout_seconds
    started = _wait.clock()
    interval = 0.5
    while status.active:
        if _wait.clock() - started > limit:
            raise RuntimeError(
                f"tuning job {name} is still {status.state} {limit:g} s after it was cancelled; "
                "the endpoints of its checkpoints may still appear, so it stays in the state: "
                "run `pulumi destroy` again once it is CANCELLED (or raise "
                "gemini-tuning:operationTimeoutSeconds)"
            )
        _wait.sleep(interval)
        interval = min(interval * 1.5, 10.0)
        try:
            status = backend.get_job(name)
        except backends.NotFoundError:
            return status
    return status


def _retire_model(backend: backends.TuningBackend, model: str, props: dict[str, Any]) -> list[str]:
    """Delete the version this resource owns, unless a newer resource owns it or another stack
    serves it. What was done, or kept and why, one line each. A version the service refuses to
    delete leaves the state all the same: everything serving it is gone, and this stack's claim
    is taken off it."""
    try:
        current = backend.get_model(model)
    except backends.NotFoundError:
        return [f"tuned model {model} is already gone"]
    prune_hint = "`gemini-tuning releases prune` deletes it once no stack claims it"
    if not claims.may_delete(current.labels, props.get("owner_token")):
        return [f"kept tuned model {model}: a newer TuningJob adopted its job and owns it now"]
    stack = str(props.get("stack"))
    holders = claims.claimants(current.labels, current.version_aliases, except_stack=stack)
    if holders:
        return [
            f"kept tuned model {model} and its endpoint: still served by {', '.join(holders)}. "
            f"It leaves this stack's state; {prune_hint}"
        ]
    try:
        return backend.delete_version(model, props.get("tuned_model_endpoint"))
    except backends.DeleteRefusedError as refused:
        return [*refused.done, *_unclaim(backend, model, stack), str(refused)]


def _unclaim(backend: backends.TuningBackend, model: str, stack: str) -> list[str]:
    """This stack's claim off a version the service keeps (its aliases went with its
    TunedModel; another alias would have kept the version above)."""
    try:
        current = backend.get_model(model)
    except backends.NotFoundError:
        return []
    if claims.without_claim(current.labels, stack) == dict(current.labels):
        return []
    backend.update_labels(model, lambda labels: claims.without_claim(labels, stack))
    return [f"removed this stack's claim from {model}"]


def _timing(spec: TuningJobSpec) -> _submit.Timing:
    return _submit.Timing(
        deadline_seconds=_wait.wait_limit(spec.timeout_minutes)[0],
        poll_seconds=spec.poll_interval_seconds,
        clock=_wait.clock,
        sleep=_wait.sleep,
    )


def _max_concurrent_jobs() -> int | None:
    """Stack config ``gemini-tuning:maxConcurrentJobs`` (per project, all its locations; unset:
    no bound in the provider, the service's quota answers decide)."""
    return backends.settings().max_concurrent_jobs


def _announce_start(news: dict[str, Any]) -> None:
    """Preview's count of the jobs this update starts (_submit.announce_start); a job on the
    Gemini API is not a Vertex tuning job and is not counted."""
    if news.get("backend", "vertex") != "vertex":
        return
    try:
        settings = backends.settings()
    except backends.SettingsError:
        return
    resource = str(news.get("resource_name"))
    _submit.announce_start(settings, settings.max_concurrent_jobs, resource=resource)


def _job_request(
    spec: TuningJobSpec, labels: dict[str, str], uris: dict[str, str | None]
) -> backends.JobRequest:
    inline = ds.text_pairs(spec.training_dataset) if spec.backend == "gemini-api" else ()
    return backends.JobRequest(
        display_name=spec.tuned_model_display_name,
        base_model=spec.base_model,
        pre_tuned_model=spec.pre_tuned_model,
        training_uri=uris.get("training_dataset_uri") or spec.training_dataset,
        validation_uri=uris.get("validation_dataset_uri"),
        labels=labels,
        description=spec.description,
        epoch_count=spec.epoch_count,
        learning_rate_multiplier=spec.learning_rate_multiplier,
        adapter_size=spec.adapter_size,
        batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        encryption_key=spec.encryption_key,
        service_account=spec.service_account,
        export_last_checkpoint_only=spec.export_last_checkpoint_only,
        inline_examples=inline,
    )


def _outputs(
    props: dict[str, Any], status: backends.JobStatus, uris: dict[str, str | None]
) -> dict[str, Any]:
    outs = {k: props.get(k) for k in INPUT_KEYS}
    version = (
        status.tuned_model.rsplit("@", 1)[1]
        if status.tuned_model and "@" in status.tuned_model
        else None
    )
    outs.update(
        job_name=status.name,
        job_state=status.state,
        tuned_model=status.tuned_model,
        tuned_model_endpoint=status.endpoint,
        tuned_model_version=version,
        tuned_model_missing=False,
        effective_epoch_count=status.epoch_count,
        epochs_completed=status.epochs_done,
        loss_per_epoch=list(status.loss_per_epoch),
        validation_loss_per_epoch=list(status.validation_loss_per_epoch),
        data_stats=dict(status.data_stats),
        create_time=status.create_time,
        start_time=status.start_time,
        end_time=status.end_time,
        error=status.error,
        spec_hash=spec_hash(props),
        **uris,
    )
    return outs
