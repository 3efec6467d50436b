"""`gemini-tuning report`: models, versions, states and metrics per environment, as a table.

It reads each stack's ``models`` output with ``pulumi stack output --json`` (so it sees what the
engine recorded, through whatever backend the environment points at) and prints one row per
model and environment. Without ``--stack`` it reads every stack the backend has (``pulumi stack
ls``), tuning stacks first; a stack named with ``--stack`` that does not exist is listed as such.
Under the table, the epoch advice (gemini_tuning._advice) of each model whose job's loss stopped
improving before its last epoch, from the loss curves the stack exports.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gemini_tuning._advice import advise
from gemini_tuning.cli._pulumi import pulumi_json

PIPELINE_ORDER = ("dev", "staging", "prod")  # a stack's place: the first of these in its name
COLUMNS = (
    "ENV",
    "MODEL",
    "VER",
    "STATE",
    "EM",
    "F1",
    "BASE EM",
    "BASE F1",
    "N",
    "GATE",
    "ALIASES",
    "MODEL RESOURCE",
)

Reader = Callable[[str], Mapping[str, Any] | None]


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "report", help="table of models, versions, states and metrics per environment"
    )
    parser.add_argument(
        "--stack",
        dest="stacks",
        action="append",
        help="stack to read (repeatable; default: every stack of the project, dev to prod)",
    )
    parser.add_argument("--cwd", default=".", help="the Pulumi project directory (Pulumi.yaml)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    stacks = args.stacks or existing_stacks(Path(args.cwd))
    if stacks is None:
        print(
            "error: could not list this project's stacks (`pulumi stack ls` failed); name them "
            "with --stack, or run this where Pulumi.yaml is (--cwd)",
            file=sys.stderr,
        )
        return 1
    rows = collect(stacks, pulumi_reader(Path(args.cwd)))
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        print(render(rows))
    return 0


def existing_stacks(cwd: Path) -> list[str] | None:
    """The project's stacks, in pipeline order; None when they cannot be listed."""
    listed = pulumi_json(cwd, "stack", "ls")
    try:
        names = [str(entry["name"]) for entry in listed or []]
    except (TypeError, KeyError):
        return None
    return None if listed is None else in_pipeline_order(n.rsplit("/", 1)[-1] for n in names)


def in_pipeline_order(names: Iterable[str]) -> list[str]:
    """dev-like stacks first, then staging-like, then prod-like, then the rest; by name within."""

    def place(name: str) -> tuple[int, str]:
        found = [i for i, word in enumerate(PIPELINE_ORDER) if word in name.lower()]
        return (found[0] if found else len(PIPELINE_ORDER), name)

    return sorted(set(names), key=place)


def pulumi_reader(cwd: Path) -> Reader:
    def read(stack: str) -> Mapping[str, Any] | None:
        found = pulumi_json(cwd, "stack", "output", "--stack", stack)
        return found if isinstance(found, Mapping) else None

    return read


def collect(stacks: Sequence[str], read: Reader) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for stack in stacks:
        outputs = read(stack)
        if outputs is None:
            rows.append({"env": stack, "model": "-", "state": "no such stack"})
            continue
        models = outputs.get("models") or {}
        if not models:
            rows.append({"env": stack, "model": "-", "state": "no models"})
        for name, entry in sorted(models.items()):
            metrics = entry.get("metrics") or {}
            baseline = entry.get("baseline") or {}
            state = entry.get("state") or "?"
            if entry.get("promoted_from"):
                state = f"{state} (promoted)"
            rows.append(
                {
                    "env": stack,
                    "model": name,
                    "version": entry.get("version"),
                    "state": state,
                    "exact_match": metrics.get("exact_match"),
                    "token_f1": metrics.get("token_f1"),
                    "baseline_exact_match": baseline.get("exact_match"),
                    "baseline_token_f1": baseline.get("token_f1"),
                    "examples": metrics.get("examples"),
                    "gate": _gate(entry),
                    "gate_bar": _gate_bar(entry),
                    "aliases": [a for a in entry.get("aliases") or [] if a != "default"],
                    "resource": entry.get("model"),
                    "artifacts": (entry.get("artifacts") or {}).get("folder"),
                    "advice": _advice(entry),
                }
            )
    return rows


def _advice(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where the job's loss stopped improving (gemini_tuning._advice), from the curves the stack
    carries; a promoting stack carries none (the tuning stack's report says it)."""
    declared = (entry.get("hyperparameters") or {}).get("epoch_count")
    found = advise(entry.get("validation_loss_per_epoch"), entry.get("loss_per_epoch"), declared)
    return found.as_dict() if found is not None else None


def _gate(entry: Mapping[str, Any]) -> str:
    if not entry.get("gate"):
        return "-"
    return "met" if entry.get("gate_passed") else "MISSED"


_METRIC_SHORT = {"exact_match": "EM", "token_f1": "F1"}


def _gate_bar(entry: Mapping[str, Any]) -> str | None:
    """What the gate asks, e.g. ``EM>=0.25 F1>=0.40``: the table says what "met" means."""
    gate = entry.get("gate")
    if not isinstance(gate, Mapping) or not gate:
        return None
    return " ".join(f"{_METRIC_SHORT.get(k, k)}>={float(v):.2f}" for k, v in sorted(gate.items()))


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _short_model(name: Any) -> str:
    if not name:
        return "-"
    text = str(name)
    return "models/" + text.split("/models/", 1)[1] if "/models/" in text else text


def render(rows: Sequence[Mapping[str, Any]]) -> str:
    table = [list(COLUMNS)]
    for row in rows:
        table.append(
            [
                str(row.get("env")),
                str(row.get("model")),
                "-" if row.get("version") is None else f"v{int(row['version'])}",
                str(row.get("state")),
                _num(row.get("exact_match")),
                _num(row.get("token_f1")),
                _num(row.get("baseline_exact_match")),
                _num(row.get("baseline_token_f1")),
                "-" if row.get("examples") is None else str(int(row["examples"])),
                " ".join(str(p) for p in (row.get("gate") or "-", row.get("gate_bar")) if p),
                ",".join(row.get("aliases") or []) or "-",
                _short_model(row.get("resource")),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    advised = [row for row in rows if row.get("advice")]
    if advised:
        lines += ["", "Epoch advice (seed 002: stop where the loss flattens):"]
        lines += [
            f"  {row['env']} {row['model']} v{_int(row.get('version'))}: {row['advice']['message']}"
            for row in advised
        ]
    return "\n".join(line.rstrip() for line in lines)


def _int(value: Any) -> str:
    return "?" if value is None else str(int(value))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gemini-tuning")
    register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(["report", *(argv if argv is not None else sys.argv[1:])])
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
