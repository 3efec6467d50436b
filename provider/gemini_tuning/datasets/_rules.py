"""Per-example rules that depend on the base model (catalog.BaseModel). Pure: no I/O.

Role order (start with user, alternate, end with model), the part kinds a backend accepts,
and the size limits: characters (Gemini API) and estimated tokens (Vertex) per example.
"""

from __future__ import annotations

from dataclasses import dataclass

from gemini_tuning.catalog import BaseModel, DatasetFormat, estimate_tokens
from gemini_tuning.datasets._formats import Example, turn_path
from gemini_tuning.datasets._issues import Severity

RuleFault = tuple[str, str, Severity]  # (JSON path, message, severity)

# Vertex tuning datasets reference media by URI (fileData); other kinds are accepted by the
# service for function-calling tuning but carry no text we can count [I].
_VERTEX_REJECTED_PARTS = frozenset({"inlineData"})


@dataclass(frozen=True, slots=True)
class ExampleSize:
    """Characters of text the model reads in one example; media and function parts count 0."""

    input_chars: int  # system instruction and user turns
    output_chars: int  # model turns
    turns: int

    @property
    def billable_chars(self) -> int:
        return self.input_chars + self.output_chars


def measure(example: Example) -> ExampleSize:
    input_chars = output_chars = 0
    if example.system is not None:
        input_chars = sum(len(value) for kind, value in example.system if kind == "text")
    for role, parts in example.turns:
        chars = sum(len(value) for kind, value in parts if kind == "text")
        if role == "model":
            output_chars += chars
        else:
            input_chars += chars
    return ExampleSize(input_chars, output_chars, len(example.turns))


def check_example(
    example: Example, fmt: DatasetFormat, model: BaseModel, size: ExampleSize
) -> list[RuleFault]:
    faults = _check_role_order(example, fmt)
    faults += _check_part_kinds(example, fmt, model)
    if model.backend == "gemini-api":
        faults += _check_single_turn(example, fmt)
    faults += _check_size(example, fmt, model, size)
    return faults


def _check_role_order(example: Example, fmt: DatasetFormat) -> list[RuleFault]:
    faults: list[RuleFault] = []
    turns = example.turns
    if not turns:
        return faults
    if turns[0][0] != "user":
        faults.append(
            (f"{turn_path(fmt, example, 0)}.role", "the first turn must be 'user'", "error")
        )
    for i in range(1, len(turns)):
        if turns[i][0] == turns[i - 1][0]:
            faults.append(
                (
                    f"{turn_path(fmt, example, i)}.role",
                    f"roles must alternate user/model; the turn before is also {turns[i][0]!r}",
                    "error",
                )
            )
    last = len(turns) - 1
    if turns[last][0] != "model":
        faults.append(
            (
                f"{turn_path(fmt, example, last)}.role",
                "the last turn must be 'model' (the answer to learn)",
                "error",
            )
        )
    return faults


def _check_part_kinds(example: Example, fmt: DatasetFormat, model: BaseModel) -> list[RuleFault]:
    if fmt != "contents":
        return []
    faults: list[RuleFault] = []
    for i, (_, parts) in enumerate(example.turns):
        for j, (kind, _) in enumerate(parts):
            if kind == "text":
                continue
            path = f"contents[{i}].parts[{j}].{kind}"
            if model.backend == "gemini-api":
                faults.append((path, f"the Gemini API tunes on text only, not {kind}", "error"))
            elif kind in _VERTEX_REJECTED_PARTS:
                faults.append(
                    (
                        path,
                        f"{kind} is not accepted in tuning data; upload the media "
                        "and reference it with fileData",
                        "error",
                    )
                )
            else:
                faults.append((path, f"{kind} part: not counted in the token estimate", "warning"))
    return faults


def _check_single_turn(example: Example, fmt: DatasetFormat) -> list[RuleFault]:
    faults: list[RuleFault] = []
    if example.system is not None:
        field = "systemInstruction" if fmt == "contents" else "messages[0]"
        faults.append((field, "the Gemini API takes no system instruction", "error"))
    if len(example.turns) > 2:
        faults.append(
            (
                turn_path(fmt, example, 2),
                f"the Gemini API tunes on single-turn input/output pairs only; this "
                f"example has {len(example.turns)} turns",
                "error",
            )
        )
    return faults


def _check_size(
    example: Example, fmt: DatasetFormat, model: BaseModel, size: ExampleSize
) -> list[RuleFault]:
    faults: list[RuleFault] = []
    whole = {"contents": "contents", "messages": "messages", "text_pairs": "text_input"}[fmt]
    if model.max_input_chars is not None and size.input_chars > model.max_input_chars:
        field = turn_path(fmt, example, 0) if fmt != "contents" else "contents[0].parts"
        faults.append(
            (
                field,
                f"input is {size.input_chars:,} characters; {model.id} accepts at "
                f"most {model.max_input_chars:,}",
                "error",
            )
        )
    if model.max_output_chars is not None and size.output_chars > model.max_output_chars:
        last = len(example.turns) - 1
        field = turn_path(fmt, example, last) + (".parts" if fmt == "contents" else "")
        faults.append(
            (
                field,
                f"output is {size.output_chars:,} characters; {model.id} accepts "
                f"at most {model.max_output_chars:,}",
                "error",
            )
        )
    tokens = estimate_tokens(size.billable_chars)
    if model.max_tokens_per_example is not None and tokens > model.max_tokens_per_example:
        faults.append(
            (
                whole,
                f"about {tokens:,} tokens ({size.billable_chars:,} characters); "
                f"{model.id} accepts at most {model.max_tokens_per_example:,} "
                "tokens per example",
                "error",
            )
        )
    return faults
