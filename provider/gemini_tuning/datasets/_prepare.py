"""Preparing data for tuning, after the SQuAD fine-tuning blog: normalise, de-duplicate, split.

Also the SQuAD JSON -> Gemini ``contents`` JSONL converter. Everything here is deterministic:
the same input and options give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import orjson

from gemini_tuning.catalog import DatasetFormat
from gemini_tuning.datasets._convert import iter_examples
from gemini_tuning.datasets._formats import Example, Part, render

Dedup = Literal["none", "exact", "normalized"]
Lowercase = Literal["none", "output", "all"]
Split = Literal["training", "validation"]
Unanswerable = Literal["skip", "answer-text"]

DEFAULT_UNANSWERABLE_TEXT = "unanswerable"


@dataclass(frozen=True)
class PrepareOptions:
    """What prepare does. The defaults only remove exact duplicates."""

    dedup: Dedup = "exact"
    whitespace: bool = False  # collapse every run of whitespace (newlines too) to one space
    lowercase: Lowercase = "none"  # "output": the answers only, as the blog does
    validation_fraction: float = 0.0
    seed: int = 0
    max_validation: int | None = None  # later examples drawn for validation go to training


@dataclass
class PrepareResult:
    read: int = 0
    invalid: int = 0
    duplicates: int = 0
    training: int = 0
    validation: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_text(text: str, *, whitespace: bool, lowercase: bool) -> str:
    if lowercase:
        text = text.lower()
    if whitespace:
        text = " ".join(text.split())
    return text


def normalize_example(example: Example, options: PrepareOptions) -> Example:
    """The example with whitespace and case normalised as ``options`` ask; other parts kept."""
    if not options.whitespace and options.lowercase == "none":
        return example

    def fix(parts: tuple[Part, ...], role: str) -> tuple[Part, ...]:
        lower = options.lowercase == "all" or (options.lowercase == "output" and role == "model")
        return tuple(
            (kind, normalize_text(value, whitespace=options.whitespace, lowercase=lower))
            if kind == "text"
            else (kind, value)
            for kind, value in parts
        )

    system = None if example.system is None else fix(example.system, "system")
    turns = tuple((role, fix(parts, role)) for role, parts in example.turns)
    return replace(example, system=system, turns=turns)


def dedup_key(line: bytes, example: Example, mode: Dedup) -> bytes:
    """What two examples share when they count as duplicates.

    ``exact``: the same output line. ``normalized``: the same text once case-folded and with
    whitespace collapsed, in every turn and the system instruction.
    """
    if mode == "exact":
        return hashlib.blake2b(line, digest_size=16).digest()
    texts: list[str] = []
    for parts in ([example.system] if example.system else []) + [p for _, p in example.turns]:
        texts.extend(" ".join(str(v).casefold().split()) for _, v in parts)
    roles = "".join(role[0] for role, _ in example.turns)
    return hashlib.blake2b("\x00".join([roles, *texts]).encode(), digest_size=16).digest()


def is_validation(line: bytes, seed: int, fraction: float) -> bool:
    """Seeded, order-independent draw: an example's split depends only on its bytes and seed,
    so adding examples elsewhere never moves it between training and validation."""
    if fraction <= 0:
        return False
    key = seed.to_bytes(16, "little", signed=True)
    draw = int.from_bytes(hashlib.blake2b(line, key=key, digest_size=8).digest(), "little")
    return draw < fraction * 2**64


def prepare_lines(
    lines: Iterable[bytes],
    options: PrepareOptions,
    *,
    fmt: DatasetFormat | None = None,
    result: PrepareResult | None = None,
) -> Iterator[tuple[Split, bytes]]:
    """``(split, line)`` for each example kept, written in its own format.

    Memory grows with the distinct examples when de-duplicating (16 bytes of digest each).
    """
    result = result if result is not None else PrepareResult()
    seen: set[bytes] = set()
    for _, source_fmt, example in iter_examples(lines, fmt):
        result.read += 1
        normalized = normalize_example(example, options)
        line = orjson.dumps(render(normalized, source_fmt, source_fmt)) + b"\n"
        if options.dedup != "none":
            key = dedup_key(line, normalized, options.dedup)
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
        split = _assign_split(line, options, result)
        yield split, line


def _assign_split(line: bytes, options: PrepareOptions, result: PrepareResult) -> Split:
    draw = is_validation(line, options.seed, options.validation_fraction)
    room = options.max_validation is None or result.validation < options.max_validation
    if draw and room:
        result.validation += 1
        return "validation"
    result.training += 1
    return "training"


def prepare_file(
    src: str | Path,
    training_out: str | Path,
    validation_out: str | Path | None = None,
    options: PrepareOptions | None = None,
) -> PrepareResult:
    """Prepare ``src`` into a training file and, with a validation fraction, a validation file."""
    options = options or PrepareOptions()
    if options.validation_fraction > 0 and validation_out is None:
        raise ValueError("a validation fraction needs a validation output file")
    result = PrepareResult()
    src_path = Path(src)
    with src_path.open("rb") as reader, Path(training_out).open("wb") as training:
        validation = Path(validation_out).open("wb") if validation_out else None  # noqa: SIM115
        try:
            for split, line in prepare_lines(reader, options, result=result):
                (validation if split == "validation" and validation else training).write(line)
        finally:
            if validation:
                validation.close()
    result.invalid = _count_lines(src_path) - result.read
    return result


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


# --- SQuAD ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadQuestion:
    """One SQuAD question with every reference answer (empty for an unanswerable one)."""

    id: str
    context: str
    question: str
    answers: tuple[str, ...]
    is_impossible: bool


@dataclass
class SquadResult:
    questions: int = 0
    written: int = 0
    unanswerable_skipped: int = 0
    unanswerable_written: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def squad_questions(squad: dict[str, Any]) -> Iterator[SquadQuestion]:
    """The questions of a SQuAD v1.1/v2.0 JSON document, in file order."""
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = tuple(a["text"] for a in qa.get("answers", []))
                impossible = bool(qa.get("is_impossible", False)) or not answers
                yield SquadQuestion(
                    qa["id"], paragraph["context"], qa["question"], answers, impossible
                )


def squad_prompt(context: str, question: str) -> str:
    """The user turn: the same "Context:/Question:" layout must be used when querying the model."""
    return f"Context: {context}\n\nQuestion: {question}"


def squad_answer(question: SquadQuestion) -> str:
    """The answer to train on: the most frequent reference (annotators often repeat the same
    span), ties going to the first given."""
    counts = Counter(question.answers)
    return max(question.answers, key=lambda a: (counts[a], -question.answers.index(a)))


def squad_examples(
    squad: dict[str, Any],
    *,
    system_instruction: str | None = None,
    unanswerable: Unanswerable = "skip",
    unanswerable_text: str = DEFAULT_UNANSWERABLE_TEXT,
    result: SquadResult | None = None,
) -> Iterator[dict[str, Any]]:
    """Gemini ``contents`` examples: context + question -> answer.

    Unanswerable questions (SQuAD 2.0 ``is_impossible``) are skipped by default: the blog tunes
    on answerable spans. ``answer-text`` keeps them, answering ``unanswerable_text``, which
    teaches the model to decline instead of inventing a span.
    """
    result = result if result is not None else SquadResult()
    for question in squad_questions(squad):
        result.questions += 1
        if question.is_impossible:
            if unanswerable == "skip":
                result.unanswerable_skipped += 1
                continue
            answer = unanswerable_text
            result.unanswerable_written += 1
        else:
            answer = squad_answer(question)
        result.written += 1
        yield _squad_example(question, answer, system_instruction)


def _squad_example(
    question: SquadQuestion, answer: str, system_instruction: str | None
) -> dict[str, Any]:
    example: dict[str, Any] = {}
    if system_instruction:
        example["systemInstruction"] = {"role": "system", "parts": [{"text": system_instruction}]}
    example["contents"] = [
        {"role": "user", "parts": [{"text": squad_prompt(question.context, question.question)}]},
        {"role": "model", "parts": [{"text": answer}]},
    ]
    return example


def convert_squad_file(
    src: str | Path,
    dst: str | Path,
    *,
    system_instruction: str | None = None,
    unanswerable: Unanswerable = "skip",
    unanswerable_text: str = DEFAULT_UNANSWERABLE_TEXT,
) -> SquadResult:
    """SQuAD JSON file -> Gemini JSONL file (the whole SQuAD document is read: it is one JSON)."""
    squad = json.loads(Path(src).read_text(encoding="utf-8"))
    result = SquadResult()
    with Path(dst).open("wb") as out:
        for example in squad_examples(
            squad,
            system_instruction=system_instruction,
            unanswerable=unanswerable,
            unanswerable_text=unanswerable_text,
            result=result,
        ):
            out.write(orjson.dumps(example) + b"\n")
    return result
