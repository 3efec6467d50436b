"""`gemini-tuning releases list|prune`: the versions a tuning stack released, and who serves them.

Both read the tuning stack's outputs (``environment.release_store``: where its release records
live; ``models``: what it carries now) and its config (the backend's endpoint, project and
location) with the Pulumi CLI, then each record's version in the Model Registry: its aliases
and the claims other stacks recorded on it. ``prune`` is a dry run unless ``--yes``; it deletes
only versions the tuning stack no longer carries and that no stack claims (beyond the newest
``--keep`` per model), each with its record, and the records of versions already gone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemini_tuning import _releases as rel
from gemini_tuning import backends

if TYPE_CHECKING:
    from gemini_tuning.backends.vertex import VertexBackend

NAMESPACE = "gemini-tuning"


class ReleasesError(RuntimeError):
    """What the user must fix before the command can run; printed without a traceback."""


def register(groups: Any) -> None:
    parser = groups.add_parser("releases", help="list or prune the versions a stack released")
    commands = parser.add_subparsers(dest="releases_command", metavar="ACTION", required=True)
    for name, help_text in (
        ("list", "per model: versions, status, aliases, claims, evaluation, age, notes"),
        ("prune", "delete unclaimed retained versions (a dry run unless --yes)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--stack", required=True, help="the tuning stack (e.g. dev)")
        sub.add_argument("--cwd", default=".", help="the Pulumi project directory")
        sub.add_argument("--json", action="store_true", help="print JSON for scripts")
        if name == "prune":
            sub.add_argument(
                "--keep", type=int, default=0, help="keep the newest N unclaimed versions"
            )
            sub.add_argument("--yes", action="store_true", help="delete (default: dry run)")
        sub.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        views, settings = load_views(args.stack, Path(args.cwd))
    except (ReleasesError, backends.SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.releases_command == "list":
        rows = [v.to_dict() for v in views]
        print(json.dumps(rows, indent=2, sort_keys=True) if args.json else render(rows))
        return 0
    plan = rel.plan_prune(views, keep=max(0, args.keep))
    done = apply_prune(plan, settings) if args.yes else []
    if args.json:
        print(json.dumps(_plan_dict(plan, applied=args.yes, done=done), indent=2, sort_keys=True))
    else:
        print(_describe(plan, applied=args.yes, done=done))
    return 0


def load_views(stack: str, cwd: Path) -> tuple[list[rel.ReleaseView], backends.Settings]:
    outputs = _pulumi_json(["stack", "output", "--json", "--stack", stack], cwd)
    environment = outputs.get("environment") or {}
    config = {
        k: v.get("value")
        for k, v in _pulumi_json(["config", "--json", "--stack", stack], cwd).items()
        if not v.get("secret")
    }
    if environment.get("role") == "promotion" or config.get(f"{NAMESPACE}:promoteFrom"):
        raise ReleasesError(
            f"{stack} is a promoting stack; name the tuning stack it releases from "
            f"({environment.get('promote_from') or config.get(f'{NAMESPACE}:promoteFrom')})"
        )
    # After `pulumi destroy` the outputs are gone but the config stays: the store is derived.
    store = environment.get("release_store") or _store_from_config(config, stack, cwd)
    if not store:
        raise ReleasesError(
            f"{stack} records no releases: set gemini-tuning:datasetBucket (or releaseBucket) "
            "and run `pulumi up` there"
        )
    settings = backends.resolve(config)
    # The stack's outputs and its state: an `up` that failed after a replace (its resources
    # moved on, its outputs kept the last successful run's) must not make the model its
    # TuningJob now owns look unclaimed and prunable.
    current = {str(m.get("model")) for m in (outputs.get("models") or {}).values()}
    current |= models_in_state(_pulumi_json(["stack", "export", "--stack", stack], cwd))
    own_aliases = tuple(environment.get("aliases") or _config_list(config, "aliases") or [stack])
    from gemini_tuning.backends.vertex import VertexBackend

    records = rel.list_records(settings, str(store))
    return registry_views(VertexBackend(settings), records, current, own_aliases), settings


def registry_views(
    vertex: VertexBackend,
    records: Sequence[tuple[str, Mapping[str, Any]]],
    current: set[str],
    own_aliases: tuple[str, ...],
) -> list[rel.ReleaseView]:
    """Each record with what the Model Registry says of its version now (and of the claims
    that sit on its model rather than on the version: ``model_level_claims``)."""
    views = []
    model_level: dict[str, dict[str, str]] = {}  # per model (bare name)
    for uri, record in records:
        try:
            model: backends.ModelStatus | None = vertex.get_model(str(record.get("tuned_model")))
        except backends.NotFoundError:
            model = None
        bare = str(record.get("tuned_model")).split("@", 1)[0]
        if model is not None and bare not in model_level:
            model_level[bare] = rel.model_level_claims(vertex.list_versions(bare))
        is_current = record.get("tuned_model") in current
        views.append(
            rel.ReleaseView(
                uri, record, model, is_current, own_aliases, model_level.get(bare) or {}
            )
        )
    views.sort(key=lambda v: (str(v.record.get("model")), -int(v.record.get("version") or 0)))
    return views


def models_in_state(exported: Mapping[str, Any]) -> set[str]:
    """Every tuned model version the stack's state holds (TuningJob and TunedModel outputs)."""
    found = set()
    for resource in (exported.get("deployment") or {}).get("resources") or []:
        kind = str(resource.get("type", "")).rsplit(":", 1)[-1]
        outputs = resource.get("outputs") or {}
        model = outputs.get("tuned_model") if kind == "TuningJob" else None
        model = outputs.get("model") if kind == "TunedModel" else model
        if isinstance(model, str) and model:
            found.add(model)
    return found


def _config_list(config: Mapping[str, Any], key: str) -> list[str]:
    value = config.get(f"{NAMESPACE}:{key}")
    try:
        found = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return [str(v) for v in found] if isinstance(found, list) else []


def _store_from_config(config: Mapping[str, Any], stack: str, cwd: Path) -> str | None:
    import yaml

    bucket = config.get(f"{NAMESPACE}:releaseBucket") or config.get(f"{NAMESPACE}:datasetBucket")
    project_file = cwd / "Pulumi.yaml"
    if not bucket or not project_file.is_file():
        return None
    project = (yaml.safe_load(project_file.read_text()) or {}).get("name")
    return rel.store_uri(str(bucket), str(project), stack.rsplit("/", 1)[-1]) if project else None


def apply_prune(plan: rel.PrunePlan, settings: backends.Settings) -> list[str]:
    from gemini_tuning.backends.vertex import VertexBackend

    vertex = VertexBackend(settings)
    done: list[str] = []
    for view in plan.delete_versions:
        model = str(view.record.get("tuned_model"))
        try:
            done += vertex.delete_version(model, view.record.get("endpoint"))
        except backends.DeleteRefusedError as refused:
            # Everything serving it is gone; the record stays, as the version does.
            done += [*refused.done, f"{refused}; its release record {view.uri} stays"]
            continue
        rel.delete_record(settings, view.uri)
        done.append(f"deleted release record {view.uri}")
    for view in plan.delete_records:
        rel.delete_record(settings, view.uri)
        done.append(f"deleted release record {view.uri} (its model was already gone)")
    return done


def _pulumi_json(args: Sequence[str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ReleasesError(f"`pulumi {' '.join(args)}` failed: {done.stderr.strip()}")
    found: dict[str, Any] = json.loads(done.stdout or "{}")
    return found


COLUMNS = (
    "MODEL",
    "VER",
    "STATUS",
    "EM",
    "F1",
    "ALIASES",
    "CLAIMS",
    "AGE",
    "MODEL RESOURCE",
    "NOTES",
)


def render(rows: Sequence[Mapping[str, Any]]) -> str:
    table = [list(COLUMNS)]
    for row in rows:
        metrics = row.get("metrics") or {}
        table.append(
            [
                str(row.get("model")),
                f"v{int(row.get('version') or 0)}",
                str(row.get("status")),
                _num(metrics.get("exact_match")),
                _num(metrics.get("token_f1")),
                ",".join(a for a in row.get("aliases") or [] if a != "default") or "-",
                ",".join(row.get("claims") or []) or "-",
                _age(row.get("created")),
                _short(row.get("tuned_model")),
                "; ".join(row.get("notes") or []) or "-",
            ]
        )
    if len(table) == 1:
        return "no release records"
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    return "\n".join(line.rstrip() for line in lines)


def _describe(plan: rel.PrunePlan, *, applied: bool, done: list[str]) -> str:
    verb = "deleted" if applied else "would delete"
    lines = [
        f"{_verb(verb, v, done)} {_label(v)} ({v.record.get('tuned_model')})"
        for v in plan.delete_versions
    ]
    lines += [f"{verb} the record of {_label(v)} (its model is gone)" for v in plan.delete_records]
    lines += [f"kept {_label(v)}: {why}" for v, why in plan.kept]
    if not applied and (plan.delete_versions or plan.delete_records):
        lines.append("dry run: nothing was deleted; run again with --yes to delete")
    lines += [f"  {step}" for step in done]
    return "\n".join(lines) or "no release records"


def _verb(verb: str, view: rel.ReleaseView, done: list[str]) -> str:
    """ "deleted", unless the service refused and kept the version (a line below says so)."""
    kept = f"the service kept tuned model {view.record.get('tuned_model')} "
    return "the service kept" if any(step.startswith(kept) for step in done) else verb


def _plan_dict(plan: rel.PrunePlan, *, applied: bool, done: list[str]) -> dict[str, Any]:
    return {
        "applied": applied,
        "delete_versions": [v.to_dict() for v in plan.delete_versions],
        "delete_records": [v.to_dict() for v in plan.delete_records],
        "kept": [{**v.to_dict(), "why": why} for v, why in plan.kept],
        "done": done,
    }


def _label(view: rel.ReleaseView) -> str:
    return f"{view.record.get('model')} v{int(view.record.get('version') or 0)}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _short(name: Any) -> str:
    text = str(name or "-")
    return "models/" + text.split("/models/", 1)[1] if "/models/" in text else text


def _age(created: Any) -> str:
    if not created:
        return "-"
    try:
        then = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
