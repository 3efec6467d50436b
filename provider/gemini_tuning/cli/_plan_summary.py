"""`gemini-tuning plan-summary`: a pull-request summary of `pulumi preview --json`, in Markdown.

    pulumi preview --json --stack staging > preview.json || true
    gemini-tuning plan-summary preview.json --stack staging --max-cost 50 >> summary.md

Per model: the action (tune, re-tune, promote, roll back, update, remove, nothing, or blocked when
the preview failed before planning it), the reasons, the training tokens x epochs and the
estimated cost of the jobs it would submit, the gate with its margin, and, for a job that already
ran, the epoch advice (gemini_tuning._advice: where its loss stopped improving); then the total,
marked over budget when it exceeds ``--max-cost``. Everything comes from the structured part of
the preview's JSON, never from the wording of a message: its steps (op, urn, old and new state:
the TuningJob's checked ``cost_estimate`` input, which the policy pack reads too; the inputs
whose change replaces or updates a resource, compared by the same rules as the providers' diffs
(resources/_lifecycle.py); the finished job's loss curves), the stack's config, the previous stack
outputs (also the loss curves of jobs the preview does not list: unchanged resources are left
out without ``--show-sames``) and the source stack's outputs as the StackReference last read
them. A failed preview
(a gate that is not met, an invalid definition) is shown with its errors, verbatim, and the
command exits 1.

Exit codes: 0 the summary was written; 1 the preview failed or the total is over ``--max-cost``
(the summary is still written, so the workflow can post it before failing); 2 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemini_tuning._advice import EpochAdvice, advise

NAMESPACE = "gemini-tuning"
_SUFFIXES = ("-model", "-eval", "-release")
_REPLACING = ("replace", "create-replacement", "delete-replaced")


@dataclass
class Estimate:
    """A TuningJob's ``cost_estimate`` input (resources/tuning_job.py: cost_estimate_input)."""

    tokens: int  # the training dataset's tokens
    epochs: int
    total_tokens: int  # billed training tokens: tokens x epochs
    usd: float | None  # None: the price table has no price for the base model


@dataclass
class ModelPlan:
    name: str
    action: str = "nothing"
    old_version: int | None = None
    new_version: int | None = None
    reasons: list[str] = field(default_factory=list)
    estimate: Estimate | None = None
    gate: dict[str, float] = field(default_factory=dict)
    margin: str = ""
    target: str | None = None
    advice: EpochAdvice | None = None  # of the job that already ran (its recorded loss curves)
    advised_version: int | None = None
    job_step: bool = False  # the preview holds a step for its TuningJob (not a hidden "same")


@dataclass
class Summary:
    stack: str
    role: str
    models: list[ModelPlan]
    errors: list[str]
    max_cost: float | None = None

    @property
    def total_usd(self) -> float:
        return sum(m.estimate.usd or 0.0 for m in self.models if m.estimate is not None)

    @property
    def total_tokens(self) -> int:
        return sum(m.estimate.total_tokens for m in self.models if m.estimate is not None)

    @property
    def over_budget(self) -> bool:
        return self.max_cost is not None and self.total_usd > self.max_cost

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "plan-summary", help="Markdown summary of `pulumi preview --json` for a pull request"
    )
    parser.add_argument("preview", help="the file `pulumi preview --json` wrote ('-': stdin)")
    parser.add_argument("--stack", help="the stack's name for the heading (default: from URNs)")
    parser.add_argument(
        "--max-cost",
        type=float,
        help="budget in USD for this preview's tuning: over it, the total is marked and exit is 1",
    )
    parser.add_argument(
        "--models-dir",
        help="model definitions, for a promotion's gate (default: the stack's "
        "gemini-tuning:modelsDir from the preview, else stacks/models)",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.preview == "-" else Path(args.preview).read_text()
        preview = json.loads(text)
    except (OSError, ValueError) as err:
        print(f"plan-summary: cannot read {args.preview}: {err}", file=sys.stderr)
        return 2
    # Where the program reads the definitions: the stack's modelsDir, else this repository's.
    config = preview.get("config") or {} if isinstance(preview, dict) else {}
    folder = args.models_dir or config.get(f"{NAMESPACE}:modelsDir") or "stacks/models"
    summary = summarize(
        preview, stack=args.stack, max_cost=args.max_cost, models_dir=Path(str(folder))
    )
    print(render(summary))
    return 1 if summary.failed or summary.over_budget else 0


# -- reading the preview ---------------------------------------------------------------------


def summarize(
    preview: Mapping[str, Any],
    *,
    stack: str | None = None,
    max_cost: float | None = None,
    models_dir: Path | None = None,
) -> Summary:
    steps = list(preview.get("steps") or [])
    config = preview.get("config") or {}
    stack = stack or _stack_name(steps) or "?"
    previous = _outputs_of(steps, "pulumi:pulumi:Stack").get("models") or {}
    source = _outputs_of(steps, "pulumi:pulumi:StackReference").get("outputs") or {}
    promoting = bool(config.get(f"{NAMESPACE}:promoteFrom"))
    wanted = _config_models(config.get(f"{NAMESPACE}:models"))
    errors = _errors(preview.get("diagnostics") or [])
    plans: dict[str, ModelPlan] = {}

    def plan(name: str) -> ModelPlan:
        return plans.setdefault(name, ModelPlan(name))

    for name in wanted:
        plan(name)
    for step in steps:
        _apply_step(step, plan, promoting=promoting)
    planned = {_model_of(_kind_and_name(str(s.get("urn", "")))[1]) for s in steps}
    for entry in plans.values():
        if errors and entry.name not in planned:
            # The program stopped before declaring it: the preview's errors (shown verbatim) say
            # why; nothing can be applied for it until they are fixed.
            entry.action = "blocked"
            entry.reasons.append("the preview failed before planning it (see the errors above)")
            if promoting and wanted.get(entry.name) is not None:
                entry.new_version = wanted[entry.name]
        _versions(entry, previous, wanted, promoting)
        if not entry.job_step and entry.action != "blocked":
            _carried_advice(entry, previous.get(entry.name))
        if promoting:
            _promotion_gate(entry, source, models_dir)
        if not entry.gate and isinstance(previous.get(entry.name), Mapping):
            entry.gate = dict(previous[entry.name].get("gate") or {})
        if entry.action in ("tune", "re-tune") and entry.gate and not entry.margin:
            entry.margin = "measured by `up` (the Evaluation runs after the job)"
        if entry.action == "blocked" and entry.gate and not entry.margin:
            entry.margin = "not checked: the preview failed"
    role = "promotion" if promoting else "tuning"
    return Summary(stack, role, sorted(plans.values(), key=lambda p: p.name), errors, max_cost)


def _apply_step(step: Mapping[str, Any], plan: Any, *, promoting: bool) -> None:
    kind, resource = _kind_and_name(str(step.get("urn", "")))
    if kind not in ("TuningJob", "TunedModel", "Evaluation", "Release"):
        return
    entry: ModelPlan = plan(_model_of(resource))
    op = str(step.get("op"))
    old, new = step.get("oldState") or {}, step.get("newState") or {}
    if kind == "TuningJob":
        _job_step(entry, op, old, new)
    elif kind == "TunedModel":
        _model_step(entry, op, old, new, promoting)
    elif kind == "Evaluation":
        entry.gate = dict((new.get("inputs") or {}).get("gate") or entry.gate)
        metrics = (old.get("outputs") or {}).get("metrics")
        if op == "same" and metrics and entry.gate:
            entry.margin = _margin(metrics, entry.gate) + " (as evaluated)"
    if op in ("update", *_REPLACING):
        for line in _change_reasons(kind, old, new):
            if line not in entry.reasons:
                entry.reasons.append(line)


def _change_reasons(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why a step changes its resource, by the rules its provider's diff applies to the same
    structured inputs (so the words are the ones preview prints, but nothing reads them back):
    the recorded inputs (a dynamic provider's diff compares the old *outputs*) against the
    checked new inputs, dataset contents by fingerprint."""
    from gemini_tuning.resources import _lifecycle as lc
    from gemini_tuning.specs import TunedModelSpec, TuningJobSpec

    olds = dict(old.get("outputs") or old.get("inputs") or {})
    news = dict(new.get("inputs") or {})
    if kind == "TuningJob":
        datasets = {
            f"{role}_dataset_fingerprint": lc.dataset_change_reason(role, olds, news)
            for role in ("training", "validation")
        }
        return lc.plan_diff(
            TuningJobSpec,
            olds,
            news,
            replace_keys=lc.JOB_REPLACE_KEYS,
            update_keys=lc.JOB_UPDATE_KEYS,
            extra_reasons=datasets,
        ).describe()
    if kind == "TunedModel":
        return lc.plan_diff(
            TunedModelSpec,
            olds,
            news,
            replace_keys=lc.MODEL_REPLACE_KEYS,
            update_keys=lc.MODEL_UPDATE_KEYS,
        ).describe()
    if kind == "Evaluation":
        from gemini_tuning.resources.evaluation import _plan as evaluation_plan

        lines = evaluation_plan(olds, news).describe()
        return [line.replace("update: ", "re-evaluate: ", 1) for line in lines]
    from gemini_tuning.resources.release import _changed_fields

    fields = _changed_fields(olds.get("record") or {}, news.get("record") or {})
    return [f"update: release record ({', '.join(fields)} changed)"] if fields else []


def _job_step(entry: ModelPlan, op: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    if op == "create":
        entry.action = "tune"
        entry.reasons.append("no tuning job in this stack yet")
    elif op in _REPLACING:
        entry.action = "re-tune"
    elif op == "update" and entry.action == "nothing":
        entry.action = "update"
    elif op == "delete":
        entry.action = "remove"
        entry.reasons.append("no longer selected: its job's model is deleted unless served")
    entry.job_step = True
    inputs = new.get("inputs") or {}
    if entry.action in ("tune", "re-tune"):
        entry.estimate = _estimate(inputs.get("cost_estimate"))
    labels = inputs.get("labels") or {}
    old_labels = (old.get("inputs") or {}).get("labels") or {}
    entry.new_version = _int(labels.get("model-version")) or entry.new_version
    entry.old_version = _int(old_labels.get("model-version")) or entry.old_version
    _job_advice(entry, op, old.get("outputs") or {}, inputs)


def _job_advice(
    entry: ModelPlan, op: str, ran: Mapping[str, Any], inputs: Mapping[str, Any]
) -> None:
    """Epoch advice from the loss curves of the job this stack already ran (its recorded
    outputs). Left out when the new inputs already ask for no more epochs than advised."""
    if op in ("create", "delete") or ran.get("job_state") != "SUCCEEDED":
        return
    advice = advise(
        ran.get("validation_loss_per_epoch"),
        ran.get("loss_per_epoch"),
        ran.get("effective_epoch_count") or ran.get("epoch_count"),
    )
    asked = _int(inputs.get("epoch_count"))
    if advice is None or (asked is not None and asked <= advice.suggested_epoch_count):
        return
    entry.advice = advice
    entry.advised_version = _int((ran.get("labels") or {}).get("model-version"))


def _carried_advice(entry: ModelPlan, carried: Any) -> None:
    """Epoch advice from the previous stack outputs, for a job the preview does not list
    (`pulumi preview --json` leaves unchanged resources out unless ``--show-sames``): the
    program exports each model's loss curves and declared hyperparameters. A promoting stack
    exports no curves, so it says nothing."""
    if not isinstance(carried, Mapping) or carried.get("state") != "SUCCEEDED":
        return
    entry.advice = advise(
        carried.get("validation_loss_per_epoch"),
        carried.get("loss_per_epoch"),
        (carried.get("hyperparameters") or {}).get("epoch_count"),
    )
    entry.advised_version = _int(carried.get("version")) if entry.advice else None


def _model_step(
    entry: ModelPlan, op: str, old: Mapping[str, Any], new: Mapping[str, Any], promoting: bool
) -> None:
    model = (new.get("inputs") or {}).get("model")
    if isinstance(model, str) and model:
        entry.target = model
    if not promoting:
        if op == "update" and entry.action == "nothing":
            entry.action = "update"
        return
    if op == "create":
        entry.action = "promote"
        entry.reasons.append("not served by this stack yet")
    elif op == "update":
        before = (old.get("inputs") or {}).get("model")
        entry.action = "promote" if before != model else "update"
    elif op == "delete":
        entry.action = "remove"
        entry.reasons.append("no longer selected: this stack's alias and claim are removed")


def _versions(
    entry: ModelPlan, previous: Mapping[str, Any], wanted: Mapping[str, int | None], promoting: bool
) -> None:
    before = previous.get(entry.name)
    if isinstance(before, Mapping) and entry.old_version is None:
        entry.old_version = _int(before.get("version"))
    if promoting and wanted.get(entry.name) is not None and entry.new_version is None:
        entry.new_version = wanted[entry.name]
    if entry.new_version is None:
        entry.new_version = entry.old_version
    if (
        promoting
        and entry.action == "promote"
        and entry.old_version is not None
        and entry.new_version is not None
        and entry.new_version < entry.old_version
    ):
        entry.action = "roll back"
    if promoting and entry.action in ("promote", "roll back") and entry.old_version is not None:
        entry.reasons.append(f"serves v{entry.old_version} now, v{entry.new_version} after")


def _promotion_gate(entry: ModelPlan, source: Mapping[str, Any], models_dir: Path | None) -> None:
    if models_dir is not None and not entry.gate:
        entry.gate = _definition_gate(models_dir / f"{entry.name}.yaml")
    if entry.margin or not entry.gate or entry.action not in ("promote", "roll back"):
        return
    chosen = (source.get("models") or {}).get(entry.name)
    if isinstance(chosen, Mapping) and _int(chosen.get("version")) == entry.new_version:
        entry.margin = _margin(chosen.get("metrics") or {}, entry.gate)
    else:
        entry.margin = "met by the release record's evaluation (preview checks it)"


def _definition_gate(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return {}
    gate = ((data.get("evaluation") or {}) if isinstance(data, dict) else {}).get("gate") or {}
    return {str(k): float(v) for k, v in gate.items() if isinstance(v, int | float)}


def _margin(metrics: Mapping[str, Any], gate: Mapping[str, float]) -> str:
    parts = []
    for key, floor in sorted(gate.items()):
        value = metrics.get(key)
        if value is None:
            parts.append(f"{key}: not measured")
            continue
        value = float(value)
        parts.append(f"{key} {value:.3f} vs {float(floor):.2f} ({value - floor:+.3f})")
    return "; ".join(parts)


def _estimate(raw: Any) -> Estimate | None:
    """The TuningJob's ``cost_estimate`` input, as its check computed it (None without one:
    a dataset that could not be read at preview)."""
    if not isinstance(raw, Mapping):
        return None
    tokens, epochs, total = (
        _int(raw.get(key)) for key in ("dataset_tokens", "epochs", "training_tokens")
    )
    if tokens is None or epochs is None or total is None:
        return None
    usd = raw.get("usd")
    return Estimate(tokens, epochs, total, None if usd is None else float(usd))


def _errors(diagnostics: Sequence[Mapping[str, Any]]) -> list[str]:
    found: list[str] = []
    for diag in diagnostics:
        if diag.get("severity") != "error":
            continue
        message = str(diag.get("message") or "").strip().removeprefix("error: ")
        if message.startswith("an unhandled error occurred: program exited"):
            continue
        if message and message not in found:
            found.append(message)
    return found


def _kind_and_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    if len(parts) < 4:
        return "", ""
    return parts[-2].rsplit(":", 1)[-1], parts[-1]


def _model_of(resource: str) -> str:
    for suffix in _SUFFIXES:
        if resource.endswith(suffix):
            return resource[: -len(suffix)]
    return resource


def _stack_name(steps: Sequence[Mapping[str, Any]]) -> str | None:
    for step in steps:
        urn = str(step.get("urn", ""))
        if urn.startswith("urn:pulumi:"):
            return urn.split(":", 3)[2]
    return None


def _outputs_of(steps: Sequence[Mapping[str, Any]], type_: str) -> dict[str, Any]:
    for step in steps:
        if _kind_and_name(str(step.get("urn", "")))[0] == type_.rsplit(":", 1)[-1]:
            outputs = (step.get("oldState") or {}).get("outputs") or {}
            if isinstance(outputs, dict):
                return outputs
    return {}


def _config_models(raw: Any) -> dict[str, int | None]:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    if isinstance(value, list):
        return {str(v): None for v in value}
    if isinstance(value, dict):
        return {str(k): _int(v) for k, v in value.items()}
    return {}


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


# -- Markdown --------------------------------------------------------------------------------


def render(summary: Summary) -> str:
    lines = [f"### gemini-tuning plan: `{summary.stack}` ({summary.role})", ""]
    if summary.failed:
        lines += ["**Preview failed**: nothing can be applied until this is fixed.", ""]
        lines += [f"> {message}" for message in summary.errors]
        lines.append("")
    lines += [
        "| model | action | version | tokens x epochs | cost | gate | margin |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in summary.models:
        estimate = m.estimate
        tokens = f"{estimate.tokens:,} x {estimate.epochs}" if estimate else "—"
        cost = _usd(estimate.usd) if estimate and estimate.usd is not None else "—"
        gate = ", ".join(f"{k} ≥ {v:g}" for k, v in sorted(m.gate.items())) or "none"
        lines.append(
            f"| {m.name} | **{m.action}** | {_version(m)} | {tokens} | {cost} | {gate} "
            f"| {m.margin or '—'} |"
        )
    total = f"**Total**: {summary.total_tokens:,} training tokens, about {_usd(summary.total_usd)}"
    if summary.max_cost is not None:
        verdict = "**over budget**" if summary.over_budget else "within budget"
        total += f" — {verdict} (max {_usd(summary.max_cost)})"
    lines += ["", total, ""]
    explained = [m for m in summary.models if m.reasons or m.target]
    if explained:
        lines += ["Why:", ""]
        for m in explained:
            for reason in m.reasons:
                lines.append(f"- {m.name}: {reason}")
            if m.target and m.action in ("promote", "roll back"):
                lines.append(f"- {m.name}: serves `{m.target}`")
        lines.append("")
    advised = [m for m in summary.models if m.advice is not None]
    if advised:
        lines += ["Epoch advice (from the loss curves of the jobs that already ran):", ""]
        for m in advised:
            assert m.advice is not None
            which = f" v{m.advised_version}" if m.advised_version is not None else ""
            lines.append(f"- {m.name}{which}: {m.advice.message}")
        lines.append("")
    return "\n".join(lines)


def _version(m: ModelPlan) -> str:
    if m.old_version is not None and m.new_version is not None and m.old_version != m.new_version:
        return f"v{m.old_version} → v{m.new_version}"
    version = m.new_version if m.new_version is not None else m.old_version
    return f"v{version}" if version is not None else "—"


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
