"""`gemini-tuning preflight --stack S`: what would make the first `up` fail, known before paying.

With the stack's config (``pulumi config --json``) and Application Default Credentials (the
emulator: anonymous), it reads, and never writes:

- ``project``: the credentials work and name a project (Resource Manager ``projects.get``).
- ``vertex-api``: aiplatform.googleapis.com is enabled (Service Usage ``services.get``).
- ``permissions``: the caller holds what the update will use (``projects.testIamPermissions``,
  then the bucket's ``testIamPermissions``; the permissions per method are on each method's
  REST reference page, e.g. projects.locations.tuningJobs/create: "aiplatform.tuningJobs.create").
- ``service-agent-bucket``: the Vertex AI service agents may read the dataset bucket (the
  bucket's IAM policy grants them a role with ``storage.objects.get``: README "Cloud set-up:
  IAM"). Only unconditional bindings on the bucket count; a grant through the project's policy
  is not seen, and then the fix is a harmless extra binding.
- ``base-model:<model>``: each base model is offered for tuning in the stack's location
  (``catalog.tunable_in``).
- ``bucket-location``: the bucket is in the job's region, or in a multi/dual region holding it.
  The docs do not require it [I]; the tuning job's data stays in its region ("User data ... is
  stored in the tuning job region", supervised-tuning region settings), and a bucket elsewhere
  means reading the data across regions.
- ``tuning-quota``: the concurrent tuning-job quota (Cloud Quotas ``quotaInfos.list``, the
  QuotaInfo of aiplatform.googleapis.com that is concurrent and about tuning) against the jobs
  this update would start at once. Google documents no quota ID for it ("Quota is enforced on
  the number of concurrent tuning jobs. Every project comes with a default quota to run at least
  one tuning job": translation-supervised-tuning page), so it is found by those two traits; when
  none is listed or it cannot be read, the check is skipped and says so.

Each check: name, ok / fail / skipped, what, why, and the exact command that fixes it. Exit 1
while any check fails, 0 otherwise; 2 when the stack's config cannot be read.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from gemini_tuning import catalog
from gemini_tuning.backends._project import (
    CredentialsMissingError,
    ProjectReader,
    ProjectReadError,
    QuotaFacts,
    missing_clients,
)
from gemini_tuning.backends._settings import NAMESPACE, Settings, SettingsError, resolve
from gemini_tuning.cli._pulumi import pulumi_json

Status = Literal["ok", "fail", "skipped"]
VERTEX_API = "aiplatform.googleapis.com"
# The agents that read a tuning job's data (README "Cloud set-up: IAM"): the Vertex AI Service
# Agent and the Vertex AI Secure Fine Tuning Service Agent, named from the project number
# (https://cloud.google.com/vertex-ai/docs/general/access-control#service-agents).
SERVICE_AGENTS = ("gcp-sa-aiplatform", "gcp-sa-vertex-tune")
# Predefined roles that hold storage.objects.get (Cloud Storage IAM roles page).
OBJECT_READ_ROLES = frozenset(
    {
        "roles/storage.objectViewer",
        "roles/storage.objectUser",
        "roles/storage.objectAdmin",
        "roles/storage.admin",
        "roles/storage.legacyObjectReader",
        "roles/storage.legacyObjectOwner",
    }
)
# What an update calls, by the permission each method's REST reference names.
TUNING_PERMISSIONS = (
    "aiplatform.tuningJobs.create",
    "aiplatform.tuningJobs.get",
    "aiplatform.tuningJobs.list",
    "aiplatform.tuningJobs.cancel",
    "aiplatform.models.get",
    "aiplatform.models.list",
    "aiplatform.models.update",
    "aiplatform.endpoints.get",
)
EVALUATION_PERMISSIONS = ("aiplatform.endpoints.predict",)  # generateContent
PROMOTION_PERMISSIONS = ("aiplatform.models.get", "aiplatform.models.update")
# The tuning stack uploads datasets and writes releases and artifacts to its bucket.
BUCKET_WRITE_PERMISSIONS = (
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.delete",
)
BUCKET_READ_PERMISSIONS = ("storage.objects.get", "storage.objects.list")
# A multi-region holds the regions of its continent (Cloud Storage bucket locations page).
MULTI_REGIONS = {"US": ("us-",), "EU": ("europe-",), "ASIA": ("asia-",)}


@dataclass(frozen=True)
class Check:
    """One finding: ok, fail (with why and the command that fixes it) or skipped (why)."""

    name: str
    status: Status
    what: str
    why: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Plan:
    """What the stack's next update would do, as far as preflight needs it."""

    stack: str
    role: Literal["tuning", "promotion"]
    base_models: dict[str, str] = field(default_factory=dict)  # model name -> Vertex base model
    evaluates: bool = False
    jobs: int = 0  # tuning jobs the update would start (at most)


# -- pure logic ------------------------------------------------------------------------------


def required_permissions(plan: Plan) -> list[str]:
    """The project permissions the caller needs for ``plan``'s update."""
    if plan.role == "promotion":
        return list(PROMOTION_PERMISSIONS)
    wanted = list(TUNING_PERMISSIONS)
    if plan.evaluates:
        wanted += EVALUATION_PERMISSIONS
    return wanted


def jobs_to_start(plan_models: Mapping[str, int], outputs: Mapping[str, Any] | None) -> int:
    """Models whose version has no job in the stack's outputs yet: each starts one job."""
    recorded = (outputs or {}).get("models") or {}
    count = 0
    for name, version in plan_models.items():
        entry = recorded.get(name) if isinstance(recorded, Mapping) else None
        if not (
            isinstance(entry, Mapping) and entry.get("version") == version and entry.get("job")
        ):
            count += 1
    return count


def agent_member(project_number: str, agent: str) -> str:
    return f"serviceAccount:service-{project_number}@{agent}.iam.gserviceaccount.com"


def agents_without_read(policy: Mapping[str, Any], project_number: str) -> list[str]:
    """The service agents (members) the bucket policy grants no object-read role."""
    granted: set[str] = set()
    for binding in policy.get("bindings") or []:
        if binding.get("condition") or binding.get("role") not in OBJECT_READ_ROLES:
            continue
        granted.update(binding.get("members") or [])
    members = [agent_member(project_number, agent) for agent in SERVICE_AGENTS]
    return [m for m in members if m not in granted]


def location_compatible(bucket_location: str, data_locations: Sequence[str], region: str) -> bool:
    """True when a bucket at ``bucket_location`` keeps its data in ``region`` or a multi/dual
    region that holds it."""
    where = bucket_location.upper()
    if where == region.upper():
        return True
    if data_locations:
        return region.upper() in (d.upper() for d in data_locations)
    return any(region.lower().startswith(p) for p in MULTI_REGIONS.get(where, ()))


def fix_enable_api(project: str) -> str:
    return f"gcloud services enable {VERTEX_API} --project {project}"


def fix_project_role(project: str, member: str, role: str = "roles/aiplatform.user") -> str:
    return f"gcloud projects add-iam-policy-binding {project} --member {member} --role {role}"


def fix_bucket_role(bucket: str, member: str, role: str) -> str:
    return (
        f"gcloud storage buckets add-iam-policy-binding gs://{bucket} --member {member} "
        f"--role {role}"
    )


def fix_agent_read(project: str, bucket: str, members: Sequence[str]) -> str:
    """Create the service agents if the API was just enabled, then grant each missing one
    (README "Cloud set-up: IAM")."""
    grants = [fix_bucket_role(bucket, m, "roles/storage.objectViewer") for m in members]
    create = f"gcloud beta services identity create --service {VERTEX_API} --project {project}"
    return " && ".join([create, *grants])


def fix_location(stack: str, region: str) -> str:
    return f"pulumi config set {NAMESPACE}:location {region} --stack {stack}"


def fix_bucket_location(project: str, bucket: str, region: str, stack: str) -> str:
    new = f"{bucket}-{region}"
    return (
        f"gcloud storage buckets create gs://{new} --location {region} --project {project} "
        f"--uniform-bucket-level-access && pulumi config set {NAMESPACE}:datasetBucket {new} "
        f"--stack {stack}"
    )


def fix_quota(project: str, quota_id: str, wanted: int, region: str | None) -> str:
    """A quota preference (an increase needs a contact email: QuotaPreference.contact_email;
    https://cloud.google.com/sdk/gcloud/reference/quotas/preferences/create)."""
    dims = f" --dimensions=region={region}" if region else ""
    return (
        f"gcloud quotas preferences create --service={VERTEX_API} --quota-id={quota_id} "
        f"--preferred-value={wanted}{dims} --project={project} "
        '--email="$(gcloud config get-value account)" '
        "--justification='concurrent Gemini tuning jobs'"
    )


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def render(checks: Sequence[Check]) -> str:
    marks = {"ok": "ok  ", "fail": "FAIL", "skipped": "skip"}
    lines: list[str] = []
    for c in checks:
        lines.append(f"{marks[c.status]}  {c.name}: {c.what}")
        if c.why:
            lines.append(f"      why: {c.why}")
        if c.fix:
            lines.append(f"      fix: {c.fix}")
    bad = sum(c.status == "fail" for c in checks)
    lines.append(f"{bad} check(s) failed" if bad else "all checks passed")
    return "\n".join(lines)


# -- the stack -------------------------------------------------------------------------------


def flatten_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``pulumi config --json`` ({key: {value, objectValue, secret}}) as {key: value}."""
    out: dict[str, Any] = {}
    for key, entry in raw.items():
        if isinstance(entry, Mapping):
            out[key] = entry.get("objectValue", entry.get("value"))
        else:
            out[key] = entry
    return out


def build_plan(
    stack: str, config: Mapping[str, Any], root: Path, outputs: Mapping[str, Any] | None
) -> Plan:
    """The stack's update, from its config and its definitions (as program.py reads them)."""
    from gemini_tuning.definitions import load_definitions

    selected = config.get(f"{NAMESPACE}:models")
    if isinstance(selected, str):
        selected = json.loads(selected)
    if not isinstance(selected, (list, dict)):
        raise ValueError(
            f"stack {stack} selects no models: {NAMESPACE}:models is not set in "
            f"Pulumi.{stack}.yaml, so an update would tune and promote nothing"
        )
    if config.get(f"{NAMESPACE}:promoteFrom"):  # a promoting stack creates no job
        return Plan(stack=stack, role="promotion")
    names = [str(n) for n in selected]  # a list, or a map pinning each version
    definitions = load_definitions(_models_dir(config, root), names)
    vertex = {n: d for n, d in definitions.items() if d.backend == "vertex"}
    return Plan(
        stack=stack,
        role="tuning",
        base_models={n: d.base_model for n, d in vertex.items()},
        evaluates=any(d.evaluation is not None for d in vertex.values()),
        jobs=jobs_to_start({n: d.version for n, d in vertex.items()}, outputs),
    )


def _models_dir(config: Mapping[str, Any], root: Path) -> Path:
    """Where program.py reads the definitions: ``modelsDir`` relative to the program's
    directory (Pulumi.yaml ``main``), default ``stacks/models``."""
    configured = config.get(f"{NAMESPACE}:modelsDir")
    if not configured:
        return root / "stacks" / "models"
    try:
        import yaml

        main = str(yaml.safe_load((root / "Pulumi.yaml").read_text()).get("main") or ".")
    except (OSError, ValueError, AttributeError):
        main = "."
    return (root / main / str(configured)).resolve()


# -- the checks against the services ---------------------------------------------------------


def caller_member(email: str | None) -> str:
    """The caller as an IAM member: the service account the credentials carry, else the gcloud
    account (a user's ADC)."""
    if email:
        return f"serviceAccount:{email}"
    return 'user:"$(gcloud config get-value account)"'


def run_checks(plan: Plan, settings: Settings, reader: ProjectReader) -> list[Check]:
    project = settings.project
    checks: list[Check] = []
    try:
        number = reader.project_number(project)
        checks.append(Check("project", "ok", f"project {project} (number {number})"))
    except ProjectReadError as err:
        checks.append(
            Check(
                "project",
                "fail",
                f"project {project} cannot be read with these credentials",
                f"{err}; the credentials may be another principal's (log in again, "
                f"as one with resourcemanager.projects.get on {project}), or the project ID "
                f"may be wrong (`pulumi config set {NAMESPACE}:project ID --stack {plan.stack}`)",
                "gcloud auth application-default login",
            )
        )
        return checks  # every other check needs the project
    checks.append(_vertex_api(reader, project, number))
    checks.append(_permissions(plan, reader, project))
    bucket = settings.dataset_bucket
    if plan.role == "tuning":
        checks += [
            _base_model(n, m, settings.location, plan.stack) for n, m in plan.base_models.items()
        ]
    if bucket:
        checks += _bucket_checks(plan, reader, settings, bucket, number)
    elif plan.role == "tuning":
        checks.append(
            Check(
                "bucket",
                "fail",
                "no dataset bucket configured",
                "a tuning stack uploads its local datasets to gemini-tuning:datasetBucket",
                f"pulumi config set {NAMESPACE}:datasetBucket BUCKET --stack {plan.stack}",
            )
        )
    if plan.role == "tuning":
        checks.append(_quota(plan, reader, settings))
    return checks


def _vertex_api(reader: ProjectReader, project: str, number: str) -> Check:
    try:
        state = reader.service_state(number, VERTEX_API)
    except ProjectReadError as err:
        return Check(
            "vertex-api",
            "skipped",
            f"whether {VERTEX_API} is enabled cannot be read",
            f"{err} (needs serviceusage.services.get)",
        )
    if state == "ENABLED":
        return Check("vertex-api", "ok", f"{VERTEX_API} is enabled")
    return Check(
        "vertex-api",
        "fail",
        f"{VERTEX_API} is not enabled in {project} ({state})",
        "every Vertex AI call of the update would answer 403 SERVICE_DISABLED",
        fix_enable_api(project),
    )


def _permissions(plan: Plan, reader: ProjectReader, project: str) -> Check:
    wanted = required_permissions(plan)
    try:
        held = reader.granted_permissions(project, wanted)
    except ProjectReadError as err:
        return Check(
            "permissions", "skipped", "the caller's permissions cannot be tested", str(err)
        )
    missing = [p for p in wanted if p not in held]
    if not missing:
        return Check(
            "permissions", "ok", f"the caller holds the {len(wanted)} permissions the update uses"
        )
    return Check(
        "permissions",
        "fail",
        f"the caller lacks {', '.join(missing)} on {project}",
        f"the {plan.role} stack's update calls the methods that need them",
        fix_project_role(project, caller_member(reader.caller_email)),
    )


def _base_model(name: str, base_model: str, location: str, stack: str) -> Check:
    known = catalog.tunable_in(base_model, location)
    label = f"base-model:{name}"
    if known:
        return Check(label, "ok", f"{base_model} is offered for tuning in {location}")
    regions = sorted(catalog.tuning_regions(base_model))
    shown = (
        ", ".join(regions)
        if len(regions) <= 4
        else f"{len(regions)} regions, e.g. us-central1, europe-west4"
    )
    if known is None:
        return Check(
            label,
            "skipped",
            f"whether {base_model} is tuned in {location} is not known here",
            "our copy of Google's tuning regions confirms only us-central1 among US regions",
        )
    best = "us-central1" if "us-central1" in regions else regions[0]
    return Check(
        label,
        "fail",
        f"{base_model} is not offered for tuning in {location}",
        f"it is tuned in {shown} (gemini-supervised-tuning-region-settings)",
        fix_location(stack, best),
    )


def _bucket_checks(
    plan: Plan, reader: ProjectReader, settings: Settings, bucket_name: str, number: str
) -> list[Check]:
    project, stack = settings.project, plan.stack
    try:
        bucket = reader.bucket(bucket_name)
    except ProjectReadError as err:
        return [
            Check(
                "bucket",
                "fail",
                f"bucket gs://{bucket_name} cannot be read",
                str(err),
                f"gcloud storage buckets create gs://{bucket_name} --location {settings.location} "
                f"--project {project} --uniform-bucket-level-access",
            )
        ]
    checks = [_caller_bucket(plan, bucket_name, reader)]
    if plan.role != "tuning":
        return checks
    checks.append(_agents(bucket_name, reader, project, number))
    location = bucket.location
    if location_compatible(location, bucket.data_locations, settings.location):
        checks.append(
            Check(
                "bucket-location",
                "ok",
                f"gs://{bucket_name} ({location}) holds {settings.location}",
            )
        )
    else:
        checks.append(
            Check(
                "bucket-location",
                "fail",
                f"gs://{bucket_name} is in {location}, the tuning job in {settings.location}",
                "the job's data is stored in its region; reading it from another one crosses "
                "regions (egress, data residency) [I]",
                fix_bucket_location(project, bucket_name, settings.location, stack),
            )
        )
    return checks


def _caller_bucket(plan: Plan, bucket: str, reader: ProjectReader) -> Check:
    wanted = BUCKET_WRITE_PERMISSIONS if plan.role == "tuning" else BUCKET_READ_PERMISSIONS
    role = "roles/storage.objectAdmin" if plan.role == "tuning" else "roles/storage.objectViewer"
    try:
        held = reader.granted_bucket_permissions(bucket, wanted)
    except ProjectReadError as err:
        return Check(
            "bucket-permissions",
            "skipped",
            "the caller's bucket permissions cannot be tested",
            str(err),
        )
    missing = [p for p in wanted if p not in held]
    if not missing:
        return Check(
            "bucket-permissions",
            "ok",
            f"the caller may {'write' if plan.role == 'tuning' else 'read'} gs://{bucket}",
        )
    return Check(
        "bucket-permissions",
        "fail",
        f"the caller lacks {', '.join(missing)} on gs://{bucket}",
        "datasets, release records and artifacts live there",
        fix_bucket_role(bucket, caller_member(reader.caller_email), role),
    )


def _agents(bucket: str, reader: ProjectReader, project: str, number: str) -> Check:
    try:
        policy = reader.bucket_policy(bucket)
    except ProjectReadError as err:
        return Check(
            "service-agent-bucket",
            "skipped",
            f"the IAM policy of gs://{bucket} cannot be read",
            f"{err} (needs storage.buckets.getIamPolicy)",
        )
    missing = agents_without_read(policy, number)
    if not missing:
        return Check(
            "service-agent-bucket",
            "ok",
            f"the Vertex AI service agents may read gs://{bucket}",
        )
    fixes = fix_agent_read(project, bucket, missing)
    return Check(
        "service-agent-bucket",
        "fail",
        f"gs://{bucket} grants {', '.join(m.split(':', 1)[1] for m in missing)} no read access",
        "the tuning job reads its datasets as the service agent: it would fail after it was "
        "created (a grant through the project's policy is not seen by this check)",
        fixes,
    )


def _quota(plan: Plan, reader: ProjectReader, settings: Settings) -> Check:
    needed = min(plan.jobs, settings.max_concurrent_jobs or plan.jobs)
    try:
        infos = reader.quotas(settings.project, VERTEX_API)
    except ProjectReadError as err:
        return Check(
            "tuning-quota",
            "skipped",
            "the concurrent tuning-job quota cannot be read (Cloud Quotas API)",
            f"{err} (needs cloudquotas.quotas.get, e.g. roles/cloudquotas.viewer)",
        )
    found = quota_value(infos, settings.location)
    if found is None:
        return Check(
            "tuning-quota",
            "skipped",
            f"no concurrent tuning-job quota is listed for {VERTEX_API}",
            "Google documents a default of at least one concurrent tuning job per project",
        )
    quota_id, value, region = found
    what = f"{quota_id} = {value}; this update starts {plan.jobs} job(s), {needed} at once"
    if value < 0 or value >= needed:
        return Check("tuning-quota", "ok", what)
    return Check(
        "tuning-quota",
        "fail",
        what,
        f"a tuning job beyond {value} running at once is refused (429 RESOURCE_EXHAUSTED)"
        + (f"; or set {NAMESPACE}:maxConcurrentJobs" if value > 0 else ""),
        fix_quota(settings.project, quota_id, needed, region),
    )


def quota_value(infos: Sequence[QuotaFacts], region: str) -> tuple[str, int, str | None] | None:
    """(quota id, value in effect for ``region``, the region dimension or None) of the first
    concurrent QuotaInfo about tuning; None when there is none."""
    for info in infos:
        text = f"{info.quota_id} {info.metric} {info.display_name}".lower()
        if not info.is_concurrent or "tuning" not in text:
            continue
        general: int | None = None
        for dimensions, value in info.values:
            if dimensions.get("region") == region:
                return info.quota_id, value, region
            if "region" not in dimensions and general is None:
                general = value
        if general is not None:
            return info.quota_id, general, None
    return None


# -- the command -----------------------------------------------------------------------------

ConfigReader = Callable[[str], Mapping[str, Any] | None]


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "preflight",
        help="check a stack's project, API, IAM, regions and quota before the first up",
    )
    parser.add_argument("--stack", required=True, help="the stack to check")
    parser.add_argument("--cwd", default=".", help="the Pulumi project directory (Pulumi.yaml)")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.set_defaults(handler=_handle)


def pulumi_config(cwd: Path) -> ConfigReader:
    def read(stack: str) -> Mapping[str, Any] | None:
        found = pulumi_json(cwd, "config", "--stack", stack)
        return found if isinstance(found, Mapping) else None

    return read


def preflight(
    stack: str, cwd: Path, read_config: ConfigReader, read_outputs: Callable[[str], Any]
) -> list[Check] | str:
    """The checks for ``stack``, or the reason its config cannot be read."""
    raw = read_config(stack)
    if raw is None:
        return (
            f"the config of stack {stack} cannot be read (`pulumi config --json --stack "
            f"{shlex.quote(stack)}` failed): is it a stack of the project in {cwd}?"
        )
    config = flatten_config(raw)
    try:
        settings = resolve(config)
        plan = build_plan(stack, config, cwd.resolve(), read_outputs(stack))
    except (SettingsError, ValueError) as err:
        return str(err)
    try:
        reader = ProjectReader(settings)
    except CredentialsMissingError as err:
        return [
            Check(
                "credentials",
                "fail",
                "no Application Default Credentials",
                str(err),
                "gcloud auth application-default login",
            )
        ]
    return [
        Check("credentials", "ok", _who(settings, reader.caller_email)),
        *run_checks(plan, settings, reader),
    ]


def _who(settings: Settings, email: str | None) -> str:
    if settings.local:
        return f"the emulator at {settings.api_endpoint} (anonymous credentials)"
    member = caller_member(email)
    who = member.split(":", 1)[1] if member.startswith("serviceAccount:") else "a user"
    return f"Application Default Credentials ({who})"


def _handle(args: argparse.Namespace) -> int:
    from gemini_tuning.cli._report import pulumi_reader

    missing = missing_clients()
    if missing:
        print(
            f"error: preflight needs {', '.join(missing)}: pip install 'gemini-tuning[preflight]'",
            file=sys.stderr,
        )
        return 2
    cwd = Path(args.cwd)
    found = preflight(args.stack, cwd, pulumi_config(cwd), pulumi_reader(cwd))
    if isinstance(found, str):
        print(f"error: {found}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(c) for c in found], indent=2))
    else:
        print(render(found))
    return 1 if failed(found) else 0
