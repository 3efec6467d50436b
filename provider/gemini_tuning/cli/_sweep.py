"""`gemini-tuning sweep`: find, and with ``--yes`` remove, what a run or a stack left behind.

A sweeper in the sense of Terraform providers' acceptance tests: after a failed or killed run,
the cloud still holds running jobs, endpoints, model versions and bucket objects that no state
file remembers. Selection (the given criteria are AND-ed; at least one is required):

- ``--run-id ID``: carries ``gemini-tuning-run: ID`` (the acceptance suite's definitions set it;
  the service copies a job's labels onto its tuned model and endpoint: TuningJob.labels "organize
  TuningJob and generated resources such as Model and Endpoint", google/cloud/aiplatform/v1/
  tuning_job.proto);
- ``--stack S``: carries the ``gemini-tuning-resource`` hash of one of S's resources (the names
  in its config's ``models`` and its state's TuningJobs);
- ``--older-than 2h``: created longer ago than that; alone, it selects only what carries a run id
  (disposable runs), never a stack's models.

Whatever the criteria, only what this tool created is touched: it must carry
``gemini-tuning-resource``. Filters are not trusted: everything is listed and every label is
checked here. With ``--yes``: active jobs are cancelled and waited for (cancellation is best
effort and a job may complete despite it, so models and endpoints are listed again after),
labelled endpoints undeployed and deleted, labelled model versions deleted (a version the
service refuses to delete is kept and reported with the gcloud command), and bucket objects
removed: the content-addressed datasets (``gemini-tuning/datasets/``) the selected jobs trained on
and no other job uses, the release records of the selected jobs (``gemini-tuning/releases/``)
and their artifacts folders (``gemini-tuning/artifacts/``); with ``--stack``, everything under
the stack's artifacts folder. Jobs themselves cannot be deleted (Vertex has no such
RPC): finished ones are counted, not removed. Idempotent: a second sweep finds nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gemini_tuning import backends
from gemini_tuning._claims import CLAIM_PREFIX
from gemini_tuning.backends import EndpointStatus, JobStatus, ModelStatus
from gemini_tuning.backends import _storage as storage
from gemini_tuning.backends._types import ACTIVE_STATES
from gemini_tuning.resources._lifecycle import RESOURCE_LABEL, owner_label
from gemini_tuning.specs import RUN_LABEL

NAMESPACE = "gemini-tuning"
DATASETS_PREFIX = "gemini-tuning/datasets/"
RELEASES_PREFIX = "gemini-tuning/releases/"
ARTIFACTS_PREFIX = "gemini-tuning/artifacts/"
DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SweepError(RuntimeError):
    """What the user must fix before the sweep can run; printed without a traceback."""


# -- selection (pure) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """Which resources a sweep selects; every given criterion must hold."""

    run_id: str | None = None
    owners: frozenset[str] = frozenset()  # gemini-tuning-resource values of the swept stack
    stack: str | None = None  # project/stack, with owners
    older_than: timedelta | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.run_id is None and self.stack is None and self.older_than is None:
            raise SweepError("name what to sweep: --run-id, --stack and/or --older-than")

    def selects(self, labels: Mapping[str, str], created: str | None) -> bool:
        if RESOURCE_LABEL not in labels:
            return False  # not created by gemini-tuning: never touched
        if self.run_id is not None and labels.get(RUN_LABEL) != self.run_id:
            return False
        if self.stack is not None and labels.get(RESOURCE_LABEL) not in self.owners:
            return False
        if self.older_than is not None:
            if self.run_id is None and self.stack is None and RUN_LABEL not in labels:
                return False  # --older-than alone: disposable runs only
            lived = age(created, self.now)
            return lived is not None and lived >= self.older_than
        return True

    def kept_because(self, model: ModelStatus) -> str | None:
        """Why a selected version stays: a stack sweep never deletes what another stack claims.
        A run sweep does (every stack of a disposable run is disposable too)."""
        if self.run_id is not None or self.stack is None:
            return None
        others = sorted(
            value
            for key, value in model.labels.items()
            if key.startswith(CLAIM_PREFIX) and not _same_stack(value, self.stack)
        )
        if others:
            who = ", ".join(others)
            return f"claimed by {who}; `gemini-tuning releases prune` removes it later"
        return None


def age(created: str | None, now: datetime) -> timedelta | None:
    if not created:
        return None
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    return now - (then if then.tzinfo else then.replace(tzinfo=UTC))


def parse_duration(text: str) -> timedelta:
    """``45s``, ``30m``, ``2h``, ``7d``."""
    found = DURATION.match(text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r}: a number and a unit (s, m, h, d), e.g. 2h")
    return timedelta(seconds=int(found.group(1)) * UNITS[found.group(2)])


def _same_stack(claim_value: str, stack: str) -> bool:
    """Claim values are readable stack names, lowercased, maybe organization-qualified."""
    readable = re.sub(r"[^a-z0-9_-]+", "-", stack.lower()).strip("-")
    return claim_value == readable or claim_value.endswith(f"-{readable}")


@dataclass
class Plan:
    cancel: list[JobStatus] = field(default_factory=list)
    cancelling: list[str] = field(default_factory=list)  # may still complete: waited for
    finished_jobs: int = 0  # selected jobs already ended: kept by the service, nothing to do
    endpoints: list[EndpointStatus] = field(default_factory=list)
    models: list[ModelStatus] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    @property
    def empty(self) -> bool:
        return not (self.cancel or self.cancelling or self.endpoints or self.models or self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cancel_jobs": [{"name": j.name, "state": j.state} for j in self.cancel],
            "cancelling_jobs": list(self.cancelling),
            "finished_jobs": self.finished_jobs,
            "endpoints": [e.name for e in self.endpoints],
            "models": [m.name for m in self.models],
            "objects": list(self.objects),
            "kept": [{"name": what, "why": why} for what, why in self.kept],
        }


def select(
    selector: Selector,
    jobs: Sequence[JobStatus],
    models: Sequence[ModelStatus],
    endpoints: Sequence[EndpointStatus],
) -> Plan:
    """The cloud resources (no bucket objects yet) the selector selects."""
    plan = Plan()
    for job in jobs:
        if selector.selects(job.labels, job.create_time):
            if job.state in ACTIVE_STATES - {"CANCELLING"}:
                plan.cancel.append(job)
            elif job.state == "CANCELLING":
                plan.cancelling.append(job.name)
            else:
                plan.finished_jobs += 1
    plan.endpoints = [e for e in endpoints if selector.selects(e.labels, e.create_time)]
    for model in models:
        if not selector.selects(model.labels, model.create_time):
            continue
        why = selector.kept_because(model)
        if why:
            plan.kept.append((model.name, why))
        else:
            plan.models.append(model)
    return plan


def dataset_objects(selected: Iterable[JobStatus], others: Iterable[JobStatus]) -> list[str]:
    """The content-addressed uploads the selected jobs trained on that no other job uses. A
    gs:// dataset the user named (outside ``gemini-tuning/datasets/``) is never touched."""

    def uploads(job: JobStatus) -> set[str]:
        found = set()
        for key in ("training_dataset", "validation_dataset"):
            uri = str(job.declared.get(key) or "")
            _, _, name = uri.removeprefix("gs://").partition("/")
            if uri.startswith("gs://") and name.startswith(DATASETS_PREFIX):
                found.add(uri)
        return found

    mine = set().union(*(uploads(job) for job in selected))
    theirs = set().union(*(uploads(job) for job in others))
    return sorted(mine - theirs)


def release_objects(
    records: Iterable[tuple[str, Mapping[str, Any]]],
    jobs: set[str],
    models: set[str],
    bucket: str,
    *,
    kept: Set[str] = frozenset(),
) -> list[str]:
    """Release records of the selected jobs/models, and each one's artifacts folder (a prefix,
    ending in '/'); never the record of a version that is kept (it stays addressable)."""
    found = []
    for uri, record in records:
        if record.get("tuned_model") in kept:
            continue
        if record.get("job") in jobs or record.get("tuned_model") in models:
            found.append(uri)
            stack, model = str(record.get("tuning_stack") or ""), str(record.get("model") or "")
            if stack.count("/") == 1 and model:
                found.append(f"gs://{bucket}/{ARTIFACTS_PREFIX}{stack}/{model}/")
    return found


# -- the cloud ---------------------------------------------------------------------------------


class Sweeper:
    """Lists, and removes, what a selector selects (all Google I/O through backends)."""

    def __init__(
        self,
        settings: backends.Settings,
        selector: Selector,
        *,
        bucket: str | None,
        stack_prefixes: Sequence[str] = (),
    ) -> None:
        from gemini_tuning.backends.vertex import VertexBackend

        self.settings = settings
        self.selector = selector
        self.vertex = VertexBackend(settings)
        self.bucket = bucket
        self.stack_prefixes = stack_prefixes  # e.g. gemini-tuning/artifacts/<project>/<stack>/

    def plan(self) -> Plan:
        jobs = self.vertex.list_all_jobs()
        plan = select(
            self.selector,
            jobs,
            self.vertex.list_all_model_versions(),
            self.vertex.list_endpoints(),
        )
        chosen = [j for j in jobs if self.selector.selects(j.labels, j.create_time)]
        chosen_names = {j.name for j in chosen}
        others = [j for j in jobs if j.name not in chosen_names]
        wanted = dataset_objects(chosen, others)
        if self.bucket:
            records = self._records()
            names = {m.name for m in plan.models}
            kept = {what for what, _ in plan.kept}
            wanted += release_objects(records, chosen_names, names, self.bucket, kept=kept)
            wanted += [f"gs://{self.bucket}/{prefix}" for prefix in self.stack_prefixes]
        plan.objects = self._existing(sorted(set(wanted)))
        return plan

    def apply(self, wait_seconds: float, on_step: Callable[[str], None]) -> tuple[Plan, bool]:
        """Cancel, wait, then remove what the fresh listing selects. Returns the final plan
        (what was removed, what was kept) and whether everything selected went."""
        first = self.plan()
        refused = self._cancel(first.cancel, on_step)
        self._wait_for([j.name for j in first.cancel] + first.cancelling, wait_seconds, on_step)
        plan = self.plan()  # a job may have completed despite the cancel: list again
        plan.cancel = first.cancel
        plan.kept = [*refused, *plan.kept]
        failed = self._remove(plan, on_step)
        plan.kept += failed
        return plan, not (refused or failed)

    def _cancel(
        self, jobs: Sequence[JobStatus], on_step: Callable[[str], None]
    ) -> list[tuple[str, str]]:
        refused = []
        for job in jobs:
            try:
                self.vertex.cancel_job(job.name)
                on_step(f"cancelled job {job.name} (was {job.state})")
            except backends.NotFoundError:
                continue
            except backends.BackendError as err:
                if self._still_active(job.name):
                    refused.append((job.name, f"cancel refused: {err}"))
                else:  # it ended between the listing and the cancel: its model is listed next
                    on_step(f"job {job.name} had already ended")
        return refused

    def _remove(self, plan: Plan, on_step: Callable[[str], None]) -> list[tuple[str, str]]:
        """Endpoints, then model versions, then objects; a refused delete is kept, with the
        gcloud command that removes it by hand."""
        failed = []
        for endpoint in plan.endpoints:
            try:
                for step in self.vertex.delete_endpoint(endpoint.name):
                    on_step(step)
            except backends.BackendError as err:
                failed.append((endpoint.name, _refused(err, self._gcloud_endpoint(endpoint))))
        for model in plan.models:
            try:
                for step in self.vertex.delete_version(model.name, None):
                    on_step(step)
            except backends.BackendError as err:
                failed.append((model.name, _refused(err, self._gcloud_model(model))))
        for uri in plan.objects:
            for step in self._delete_objects(uri):
                on_step(step)
        return failed

    def _still_active(self, name: str) -> bool:
        try:
            return self.vertex.get_job(name).active
        except backends.NotFoundError:
            return False

    def _wait_for(
        self, names: Sequence[str], seconds: float, on_step: Callable[[str], None]
    ) -> None:
        # Cancellation is asynchronous and best effort: "Clients can use GetTuningJob ... to
        # check whether the cancellation succeeded or whether the job completed despite
        # cancellation" (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/
        # projects.locations.tuningJobs/cancel).
        deadline = time.monotonic() + seconds
        waiting = list(names)
        while waiting:
            still = []
            for name in waiting:
                try:
                    status = self.vertex.get_job(name)
                except backends.NotFoundError:
                    continue
                if status.active:
                    still.append(name)
                else:
                    on_step(f"job {name} ended {status.state}")
            waiting = still
            if waiting and time.monotonic() > deadline:
                on_step(f"still cancelling after {seconds:g} s: {', '.join(waiting)}; sweep again")
                return
            if waiting:
                time.sleep(2.0)

    # `gcloud ai models delete-version 123@1234 --project=example --region=us-central1`
    # (https://cloud.google.com/sdk/gcloud/reference/ai/models/delete-version).
    def _gcloud_model(self, model: ModelStatus) -> str:
        model_id = model.name.rsplit("/models/", 1)[-1]
        where = f"--region={self.settings.location} --project={self.settings.project}"
        return f"gcloud ai models delete-version {model_id} {where}"

    def _gcloud_endpoint(self, endpoint: EndpointStatus) -> str:
        endpoint_id = endpoint.name.rsplit("/", 1)[-1]
        where = f"--region={self.settings.location} --project={self.settings.project}"
        return f"gcloud ai endpoints delete {endpoint_id} {where}"

    # -- bucket objects --------------------------------------------------------------------

    def _storage(self) -> Any:
        return storage.storage_client(self.settings)

    def _records(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.bucket is not None
        found = []
        objects = storage.read_objects(self._storage(), self.bucket, RELEASES_PREFIX, ".json")
        for uri, data in objects:
            try:
                record = json.loads(data)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append((uri, record))
        return found

    def _existing(self, uris: Sequence[str]) -> list[str]:
        """The objects (and folders, ending in '/', with something under them) that exist."""
        client = self._storage()
        found = []
        for uri in uris:
            bucket, _, name = uri.removeprefix("gs://").partition("/")
            if storage.exists(client, bucket, name):
                found.append(uri)
        return found

    def _delete_objects(self, uri: str) -> list[str]:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        deleted = storage.delete_objects(self._storage(), bucket, name)
        return [f"deleted gs://{bucket}/{done}" for done in deleted]


def _refused(err: Exception, command: str) -> str:
    return f"the service refused the delete ({err}); kept. Delete it by hand: {command}"


# -- the command -------------------------------------------------------------------------------

HELP = """\
List (a dry run unless --yes) and remove what a disposable run or a stack left in the cloud:
running tuning jobs are cancelled, endpoints undeployed and deleted, model versions deleted (a
version the service refuses to delete is kept and reported with the gcloud command to run),
and the bucket objects gemini-tuning wrote for them (uploaded datasets no other job uses,
release records, artifacts). Only resources carrying gemini-tuning's own labels are touched;
every label is checked here (filters are not trusted). Tuning jobs themselves cannot be
deleted (Vertex has no such RPC): finished ones are counted only. Idempotent.

Selection (criteria are AND-ed): --run-id ID (label gemini-tuning-run: ID, which a definition's
labels may set), --stack S (the stack's resources, by their gemini-tuning-resource label; a
version another stack claims is kept), --older-than 2h (alone: only what carries a run id).
"""


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "sweep",
        help="list/remove what a run or a stack left behind (dry run unless --yes)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run-id", help="what carries the label gemini-tuning-run: RUN_ID")
    parser.add_argument("--stack", help="what the stack's resources created (e.g. dev)")
    parser.add_argument(
        "--older-than", type=parse_duration, help="created longer ago than this (45s, 30m, 2h, 7d)"
    )
    parser.add_argument("--yes", action="store_true", help="remove (default: a dry run)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--cwd", default=".", help="the Pulumi project directory (with --stack)")
    parser.add_argument("--project", help="Google Cloud project (default: stack config, env)")
    parser.add_argument("--location", help="Vertex AI location (default: stack config, env)")
    parser.add_argument(
        "--bucket", help="the dataset bucket (default: gemini-tuning:datasetBucket, env)"
    )
    parser.add_argument(
        "--wait-minutes",
        type=float,
        default=10.0,
        help="how long to wait for cancelled jobs to end (default 10)",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    if not (args.run_id or args.stack or args.older_than):
        print("error: name what to sweep: --run-id, --stack and/or --older-than", file=sys.stderr)
        return 2
    done: list[str] = []
    try:
        sweeper = build(args)
        if args.yes:
            plan, clean = sweeper.apply(args.wait_minutes * 60, done.append)
        else:
            plan, clean = sweeper.plan(), True
    except (SweepError, backends.SettingsError, backends.BackendError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**plan.to_dict(), "applied": args.yes, "done": done}, indent=2))
    else:
        print(describe(plan, applied=args.yes, done=done))
    return 0 if clean else 1


def build(args: argparse.Namespace) -> Sweeper:
    config: dict[str, Any] = {}
    owners: frozenset[str] = frozenset()
    qualified = None
    prefixes: list[str] = []
    if args.stack:
        cwd = Path(args.cwd)
        config = _stack_config(args.stack, cwd)
        project = _project_name(cwd)
        short = args.stack.rsplit("/", 1)[-1]
        qualified = f"{project}/{short}"
        names = _names(config) | _state_job_names(args.stack, cwd)
        owners = frozenset(owner_label(qualified, name) for name in names)
        # Its artifacts (copies of what its outputs said); its release records go one by one,
        # with their jobs: the record of a version another stack still claims stays.
        prefixes = [f"{ARTIFACTS_PREFIX}{qualified}/"]
    overrides = {"project": args.project, "location": args.location}
    merged = {**config, **{f"{NAMESPACE}:{k}": v for k, v in overrides.items() if v}}
    settings = backends.resolve(merged)
    selector = Selector(
        run_id=args.run_id, owners=owners, stack=qualified, older_than=args.older_than
    )
    bucket = args.bucket or settings.dataset_bucket
    return Sweeper(settings, selector, bucket=bucket, stack_prefixes=prefixes)


def _stack_config(stack: str, cwd: Path) -> dict[str, Any]:
    found = _pulumi_json(["config", "--json", "--stack", stack], cwd)
    return {k: v.get("value") for k, v in found.items() if not v.get("secret")}


def _project_name(cwd: Path) -> str:
    import yaml

    path = cwd / "Pulumi.yaml"
    if not path.is_file():
        raise SweepError(f"no Pulumi.yaml in {cwd}: run from the project directory or set --cwd")
    return str((yaml.safe_load(path.read_text()) or {}).get("name"))


def _names(config: Mapping[str, Any]) -> set[str]:
    value = config.get(f"{NAMESPACE}:models")
    try:
        found = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return set()
    return {str(name) for name in found} if isinstance(found, list | dict) else set()


def _state_job_names(stack: str, cwd: Path) -> set[str]:
    try:
        exported = _pulumi_json(["stack", "export", "--stack", stack], cwd)
    except SweepError:
        return set()
    resources = (exported.get("deployment") or {}).get("resources") or []
    return {
        str(r.get("urn", "")).rsplit("::", 1)[-1]
        for r in resources
        if str(r.get("type", "")).endswith("TuningJob")
    }


def _pulumi_json(args: Sequence[str], cwd: Path) -> dict[str, Any]:
    import subprocess

    done = subprocess.run(
        ["pulumi", *args, "--non-interactive"], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SweepError(f"`pulumi {' '.join(args)}` failed: {done.stderr.strip()}")
    found: dict[str, Any] = json.loads(done.stdout or "{}")
    return found


def describe(plan: Plan, *, applied: bool, done: Sequence[str]) -> str:
    if applied:
        lines = [*done]
    else:
        lines = [f"would cancel job {j.name} ({j.state})" for j in plan.cancel]
        lines += [f"job {name} is cancelling: waited for with --yes" for name in plan.cancelling]
        lines += [f"would delete endpoint {e.name}" for e in plan.endpoints]
        lines += [f"would delete model version {m.name}" for m in plan.models]
        lines += [f"would delete {uri}" for uri in plan.objects]
    lines += [f"kept {what}: {why}" for what, why in plan.kept]
    if plan.finished_jobs:
        lines.append(
            f"{plan.finished_jobs} finished job(s) carry the labels; jobs cannot be deleted "
            "(nothing to do)"
        )
    if not applied and not plan.empty:
        lines.append("dry run: nothing was changed; run again with --yes to remove these")
    if not applied and plan.empty:
        lines.insert(0, "nothing to sweep")
    return "\n".join(lines) or "nothing to sweep"
