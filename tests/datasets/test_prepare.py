"""Preparation on the real SQuAD slice: convert, validate, split reproducibly; dedup; metrics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gemini_tuning.catalog import lookup
from gemini_tuning.datasets import (
    PrepareOptions,
    convert_squad_file,
    exact_match,
    normalize_answer,
    prepare_file,
    prepare_lines,
    squad_answer,
    squad_questions,
    token_f1,
    validate_file,
)
from tests.support.datasets import SQUAD, SQUAD_SHA256

FLASH = lookup("gemini-2.5-flash")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_vendored_squad_slice_is_the_unmodified_one() -> None:
    assert _sha(SQUAD) == SQUAD_SHA256


def test_squad_slice_converts_and_validates(tmp_path: Path) -> None:
    out = tmp_path / "squad.jsonl"
    result = convert_squad_file(SQUAD, out)
    assert result.questions == 1407
    assert result.written + result.unanswerable_skipped == 1407
    assert result.unanswerable_skipped > 0
    report = validate_file(out, model=FLASH)
    assert report.ok, [str(e) for e in report.errors]
    assert report.stats.examples == result.written
    first = json.loads(out.read_bytes().splitlines()[0])
    assert first["contents"][0]["parts"][0]["text"].startswith("Context: The Normans")
    assert "\n\nQuestion: " in first["contents"][0]["parts"][0]["text"]


def test_unanswerable_questions_can_be_answered_with_a_text(tmp_path: Path) -> None:
    out = tmp_path / "squad.jsonl"
    result = convert_squad_file(
        SQUAD, out, unanswerable="answer-text", system_instruction="Answer from the context only."
    )
    assert result.written == 1407
    answers = [
        json.loads(line)["contents"][1]["parts"][0]["text"]
        for line in out.read_bytes().splitlines()
    ]
    assert answers.count("unanswerable") == result.unanswerable_written > 0
    assert validate_file(out, model=FLASH).ok


def test_split_is_reproducible_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "squad.jsonl"
    convert_squad_file(SQUAD, source)
    options = PrepareOptions(validation_fraction=0.1, seed=42, whitespace=True, lowercase="output")
    digests = []
    for run in ("a", "b"):
        train, val = tmp_path / f"train-{run}.jsonl", tmp_path / f"val-{run}.jsonl"
        result = prepare_file(source, train, val, options)
        digests.append((_sha(train), _sha(val)))
    assert digests[0] == digests[1]
    assert 30 < result.validation < 120
    assert result.training + result.validation + result.duplicates == result.read
    other = prepare_file(
        source,
        tmp_path / "t.jsonl",
        tmp_path / "v.jsonl",
        PrepareOptions(validation_fraction=0.1, seed=43),
    )
    assert (_sha(tmp_path / "t.jsonl"), _sha(tmp_path / "v.jsonl")) != digests[0]
    assert other.read == result.read
    assert validate_file(tmp_path / "val-a.jsonl", model=FLASH, role="validation").ok


def test_max_validation_caps_the_validation_split() -> None:
    lines = [json.dumps({"text_input": str(i), "output": "x"}).encode() for i in range(200)]
    splits = [
        split
        for split, _ in prepare_lines(
            lines, PrepareOptions(validation_fraction=0.5, seed=1, max_validation=10)
        )
    ]
    assert splits.count("validation") == 10


def _pairs(*pairs: tuple[str, str]) -> list[bytes]:
    return [json.dumps({"text_input": q, "output": a}).encode() for q, a in pairs]


def test_exact_and_normalized_deduplication() -> None:
    lines = _pairs(("What  is it?", "A Cat"), ("What  is it?", "A Cat"), ("what is it?", "a cat"))
    exact = list(prepare_lines(lines, PrepareOptions(dedup="exact")))
    normalized = list(prepare_lines(lines, PrepareOptions(dedup="normalized")))
    none = list(prepare_lines(lines, PrepareOptions(dedup="none")))
    assert (len(exact), len(normalized), len(none)) == (2, 1, 3)


def test_whitespace_and_case_normalisation_options() -> None:
    lines = _pairs(("  What\n is   IT? ", " A  Cat "))
    [(_, only_output)] = prepare_lines(lines, PrepareOptions(whitespace=True, lowercase="output"))
    assert json.loads(only_output) == {"text_input": "What is IT?", "output": "a cat"}
    [(_, everything)] = prepare_lines(lines, PrepareOptions(lowercase="all"))
    assert json.loads(everything) == {"text_input": "  what\n is   it? ", "output": " a  cat "}


def test_squad_answer_is_the_most_frequent_reference() -> None:
    squad = json.loads(SQUAD.read_text())
    question = next(q for q in squad_questions(squad) if len(set(q.answers)) > 1)
    chosen = squad_answer(question)
    assert question.answers.count(chosen) == max(
        question.answers.count(a) for a in question.answers
    )


@pytest.mark.parametrize(
    ("prediction", "references", "em", "f1"),
    [
        ("The Normans", ["Normans"], 1.0, 1.0),
        ("in the 10th century!", ["10th century"], 0.0, 0.8),
        ("Denmark, Iceland and Norway", ["Denmark, Iceland and Norway", "Norway"], 1.0, 1.0),
        ("", [], 1.0, 1.0),  # SQuAD 2.0: an unanswerable question expects no answer
        ("France", [], 0.0, 0.0),
        ("William", "William the Conqueror", 0.0, 2 / 3),  # "the" is dropped
    ],
)
def test_exact_match_and_token_f1(
    prediction: str, references: list[str] | str, em: float, f1: float
) -> None:
    assert exact_match(prediction, references) == em
    assert token_f1(prediction, references) == pytest.approx(f1)


def test_normalize_answer_follows_the_official_script() -> None:
    assert normalize_answer("  The  Quick, brown fox:  an Apple! ") == "quick brown fox apple"
