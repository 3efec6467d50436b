"""`gemini-tuning dataset validate|stats|convert|prepare|estimate`.

Exit codes: 0 success, 1 the data is invalid or the operation failed, 2 usage error.
``--json`` prints one JSON document on stdout for scripts; otherwise a readable report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemini_tuning.catalog import (
    GEMINI_API_DEFAULT_EPOCHS,
    BaseModel,
    UnknownBaseModelError,
    lookup,
)
from gemini_tuning.datasets._formats import FORMATS

if TYPE_CHECKING:
    from gemini_tuning.datasets._validate import ValidationReport

OK, INVALID, USAGE = 0, 1, 2
DEFAULT_MODELS = {"vertex": "gemini-2.5-flash", "gemini-api": "models/gemini-1.5-flash-001-tuning"}


def register(groups: Any) -> None:
    """Add the ``dataset`` command group to the top-level subparsers ``groups``."""
    parser = groups.add_parser("dataset", help="validate, inspect, convert and prepare datasets")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    _add_validate(commands)
    _add_stats(commands)
    _add_convert(commands)
    _add_prepare(commands)
    _add_estimate(commands)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("vertex", "gemini-api"), default="vertex")
    parser.add_argument(
        "--base-model",
        help="catalog id (default: gemini-2.5-flash on vertex, "
        "models/gemini-1.5-flash-001-tuning on gemini-api)",
    )
    parser.add_argument("--format", choices=FORMATS, help="the file's format (default: detected)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="JSONL file, or CSV of text_input/output pairs")
    _model_options(parser)
    parser.add_argument("--role", choices=("training", "validation"), default="training")
    parser.add_argument(
        "--training-examples",
        type=int,
        metavar="N",
        help="size of the training set, for the validation-set limits",
    )


def _add_validate(commands: Any) -> None:
    parser = commands.add_parser("validate", help="check a dataset against a base model")
    _check_options(parser)
    parser.set_defaults(handler=run_validate)


def _add_stats(commands: Any) -> None:
    parser = commands.add_parser("stats", help="sizes, tokens and fingerprint of a dataset")
    _check_options(parser)
    parser.set_defaults(handler=run_stats)


def _add_convert(commands: Any) -> None:
    parser = commands.add_parser("convert", help="rewrite a dataset in another format")
    parser.add_argument("source")
    parser.add_argument("destination", help="JSONL, or .csv for text_pairs")
    parser.add_argument("--to", choices=FORMATS, required=True)
    parser.add_argument("--from", dest="source_format", choices=FORMATS)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run_convert)


def _add_prepare(commands: Any) -> None:
    parser = commands.add_parser("prepare", help="normalise, de-duplicate and split; SQuAD import")
    parser.add_argument("source", help="JSONL dataset, or SQuAD JSON with --squad")
    parser.add_argument("--out", required=True, help="training JSONL to write")
    parser.add_argument("--validation-out", help="validation JSONL to write")
    parser.add_argument("--validation-fraction", type=float, default=0.0)
    parser.add_argument("--max-validation", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dedup", choices=("none", "exact", "normalized"), default="exact")
    parser.add_argument("--whitespace", action="store_true", help="collapse runs of whitespace")
    parser.add_argument("--lowercase", choices=("none", "output", "all"), default="none")
    parser.add_argument("--squad", action="store_true", help="the source is SQuAD JSON")
    parser.add_argument("--system-instruction", help="SQuAD: system instruction for each example")
    parser.add_argument(
        "--unanswerable",
        choices=("skip", "answer-text"),
        default="skip",
        help="SQuAD: drop unanswerable questions, or answer them with a text",
    )
    parser.add_argument("--unanswerable-text", default="unanswerable")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run_prepare)


def _add_estimate(commands: Any) -> None:
    parser = commands.add_parser("estimate", help="training tokens and cost of a dataset")
    parser.add_argument("path")
    _model_options(parser)
    parser.add_argument(
        "--epochs",
        type=int,
        help="epochs (default 5 on gemini-api; required on vertex, which picks its own)",
    )
    parser.add_argument("--prices", help="price table file (default: the packaged prices.toml)")
    parser.set_defaults(handler=run_estimate)


# --- handlers ------------------------------------------------------------------------------


def _usage(message: str) -> int:
    print(f"gemini-tuning dataset: {message}", file=sys.stderr)
    return USAGE


def _resolve_model(args: argparse.Namespace) -> BaseModel:
    model_id = args.base_model or DEFAULT_MODELS[args.backend]
    return lookup(model_id, args.backend, allow_retired=True)


def _validate(args: argparse.Namespace, model: BaseModel) -> Any:
    from gemini_tuning.datasets._validate import validate_file

    return validate_file(
        args.path,
        model=model,
        role=getattr(args, "role", "training"),
        fmt=args.format,
        training_examples=getattr(args, "training_examples", None),
    )


def run_validate(args: argparse.Namespace) -> int:
    return _run_report(args, _print_issues)


def run_stats(args: argparse.Namespace) -> int:
    return _run_report(args, lambda report: print(format_stats_table(report.stats)))


def _run_report(args: argparse.Namespace, show: Callable[[ValidationReport], None]) -> int:
    """Validate the file; print JSON, or ``show`` the report and the verdict; exit 0/1/2."""
    try:
        model = _resolve_model(args)
    except UnknownBaseModelError as exc:
        return _usage(str(exc))
    report = _validate(args, model)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        show(report)
        print(_verdict(report, model))
    return OK if report.ok else INVALID


def run_convert(args: argparse.Namespace) -> int:
    from gemini_tuning.datasets._convert import ConversionError, convert_file

    if Path(args.destination).suffix.lower() == ".csv" and args.to != "text_pairs":
        return _usage("CSV output holds text_pairs only; use --to text_pairs")
    try:
        count = convert_file(args.source, args.destination, args.to, fmt=args.source_format)
    except ConversionError as exc:
        return _fail(args, str(exc.issue), exc.issue.to_dict())
    except OSError as exc:
        return _fail(args, f"{args.source}: file: {exc.strerror or exc}", {})
    _done(
        args,
        f"wrote {count} examples in the {args.to} format to {args.destination}",
        {"examples": count, "destination": args.destination, "format": args.to},
    )
    return OK


def run_prepare(args: argparse.Namespace) -> int:
    from gemini_tuning.datasets._prepare import PrepareOptions, convert_squad_file, prepare_file

    if args.validation_fraction and not args.validation_out:
        return _usage("--validation-fraction needs --validation-out")
    if not 0 <= args.validation_fraction < 1:
        return _usage("--validation-fraction must be in [0, 1)")
    options = PrepareOptions(
        dedup=args.dedup,
        whitespace=args.whitespace,
        lowercase=args.lowercase,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        max_validation=args.max_validation,
    )
    summary: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="gemini-tuning-") as scratch:
            source = Path(args.source)
            if args.squad:
                source = Path(scratch) / "squad.jsonl"
                squad = convert_squad_file(
                    args.source,
                    source,
                    system_instruction=args.system_instruction,
                    unanswerable=args.unanswerable,
                    unanswerable_text=args.unanswerable_text,
                )
                summary["squad"] = squad.to_dict()
            result = prepare_file(source, args.out, args.validation_out, options)
    except (OSError, ValueError, KeyError) as exc:
        return _fail(args, f"{args.source}: file: cannot prepare: {exc}", {})
    summary |= result.to_dict()
    _done(
        args,
        f"read {result.read}, dropped {result.duplicates} duplicates and "
        f"{result.invalid} invalid; wrote {result.training} training and "
        f"{result.validation} validation examples",
        summary,
    )
    return OK


def run_estimate(args: argparse.Namespace) -> int:
    from gemini_tuning.datasets._estimate import estimate_cost

    try:
        model = _resolve_model(args)
    except UnknownBaseModelError as exc:
        return _usage(str(exc))
    epochs = args.epochs or (GEMINI_API_DEFAULT_EPOCHS if args.backend == "gemini-api" else None)
    if epochs is None or epochs < 1:
        return _usage("give --epochs N (at least 1): Vertex chooses its own otherwise")
    report = _validate(args, model)
    if not report.ok:
        _print_issues(report)
        return INVALID
    estimate = estimate_cost(report.stats, model, epochs, prices=args.prices)
    if args.json:
        print(json.dumps(estimate.to_dict() | {"stats": report.stats.to_dict()}, indent=2))
    else:
        print(f"{args.path}: {estimate.describe()}")
    return OK


def _fail(args: argparse.Namespace, message: str, detail: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps({"ok": False, "error": message} | detail, indent=2))
    else:
        print(f"error: {message}", file=sys.stderr)
    return INVALID


def _done(args: argparse.Namespace, message: str, detail: dict[str, Any]) -> None:
    print(json.dumps({"ok": True} | detail, indent=2) if args.json else message)


# --- human output --------------------------------------------------------------------------


def _print_issues(report: Any) -> None:
    for issue in report.errors:
        print(f"error: {issue}")
    if report.errors_omitted:
        print(f"error: ... and {report.errors_omitted} more errors not shown")
    for issue in report.warnings:
        print(f"warning: {issue}")
    if report.warnings_omitted:
        print(f"warning: ... and {report.warnings_omitted} more warnings not shown")


def _verdict(report: Any, model: BaseModel) -> str:
    retired = f" (retired {model.retired_on})" if model.retired else ""
    counts = f"{report.error_count} errors, {report.warning_count} warnings"
    state = "OK" if report.ok else "INVALID"
    return (
        f"{state}: {report.source}: {report.stats.examples} valid examples for "
        f"{model.id}{retired} ({report.role}); {counts}"
    )


def format_stats_table(stats: Any) -> str:
    rows = [
        ("format", stats.format or "-"),
        ("examples", f"{stats.examples:,}"),
        ("lines", f"{stats.lines:,}"),
        ("bytes", f"{stats.bytes:,}"),
        ("sha256", stats.sha256),
        ("characters", f"{stats.total_chars:,}"),
        ("billable characters", f"{stats.billable_chars:,}"),
        ("estimated tokens", f"{stats.estimated_tokens:,}"),
        ("max example tokens", f"{stats.max_example_tokens:,}"),
    ]
    lines = [f"{name:<22}{value}" for name, value in rows]
    columns = ("min", "p5", "median", "mean", "p95", "max", "sum")
    lines.append(f"{'':<22}" + "".join(f"{c:>10}" for c in columns))
    for name, dist in (
        ("input tokens", stats.input_tokens),
        ("output tokens", stats.output_tokens),
        ("turns per example", stats.turns_per_example),
    ):
        values = (dist.min, dist.p5, dist.median, dist.mean, dist.p95, dist.max, dist.sum)
        lines.append(f"{name:<22}" + "".join(f"{v:>10,}" for v in values))
    return "\n".join(lines)
