"""Validation beyond the corpus: statistics, warnings, limits, caps and streaming."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from gemini_tuning.catalog import lookup
from gemini_tuning.datasets import DatasetIssue, validate_file, validate_lines

FLASH = lookup("gemini-2.5-flash")
GEMINI_API = lookup("models/gemini-1.5-flash-001-tuning", "gemini-api", allow_retired=True)


def _example(question: str, answer: str, system: str | None = None) -> bytes:
    obj: dict[str, object] = {}
    if system:
        obj["systemInstruction"] = {"parts": [{"text": system}]}
    obj["contents"] = [
        {"role": "user", "parts": [{"text": question}]},
        {"role": "model", "parts": [{"text": answer}]},
    ]
    return json.dumps(obj).encode() + b"\n"


def test_issue_string_names_file_line_and_field() -> None:
    assert str(DatasetIssue("a.jsonl", 3, "contents[1].role", "bad")) == (
        "a.jsonl:3: contents[1].role: bad"
    )
    assert str(DatasetIssue("gs://b/a.jsonl", None, "file", "too big")) == (
        "gs://b/a.jsonl: file: too big"
    )


def test_stats_of_a_valid_file(tmp_path: Path) -> None:
    lines = [
        _example("q" * 8, "a" * 4),
        _example("q" * 40, "a" * 8, system="s" * 4),
        _example("q" * 100, "a"),
    ]
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"".join(lines))
    report = validate_file(path, model=FLASH)
    assert report.ok
    stats = report.stats
    assert stats.examples == 3
    assert stats.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stats.bytes == path.stat().st_size == stats.total_chars
    assert stats.billable_chars == 12 + 52 + 101
    assert stats.estimated_tokens == 3 + 13 + 26  # ceil(chars / 4) per example
    assert stats.max_example_tokens == 26
    assert (stats.input_tokens.min, stats.input_tokens.max, stats.input_tokens.sum) == (2, 25, 38)
    assert stats.output_tokens.median == 1
    assert stats.turns_per_example.mean == 2.0
    assert stats.format == "contents"
    assert [w.field for w in report.warnings] == ["file"]  # under the recommended 100


def test_duplicates_are_warnings_that_name_the_line() -> None:
    lines = [_example("a", "b"), _example("c", "d"), _example("a", "b")]
    report = validate_lines(lines, source="dup.jsonl", model=FLASH)
    assert report.ok
    duplicates = [w for w in report.warnings if "duplicate" in w.message]
    assert [(w.line, w.field, w.severity) for w in duplicates] == [(3, "$", "warning")]


def test_file_data_is_a_warning_on_vertex_and_an_error_on_the_gemini_api() -> None:
    media = json.dumps(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "what?"},
                        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/c"}},
                    ],
                },
                {"role": "model", "parts": [{"text": "a cat"}]},
            ]
        }
    ).encode()
    vertex = validate_lines([media], source="m.jsonl", model=FLASH)
    assert vertex.ok
    assert vertex.warnings[0].field == "contents[0].parts[1].fileData"
    gemini = validate_lines([media], source="m.jsonl", model=GEMINI_API)
    assert [e.field for e in gemini.errors] == ["contents[0].parts[1].fileData"]


def test_gemini_api_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text_input": "x" * 39_000, "output": "y"}).encode() + b"\n"
    path.write_bytes(line * (4 * 1024 * 1024 // len(line) + 1))
    report = validate_file(path, model=GEMINI_API)
    assert [(e.line, e.field) for e in report.errors] == [(None, "file")]
    assert "4,194,304" in report.errors[0].message


def test_validation_set_over_1000_may_hold_at_most_30_percent_of_training() -> None:
    lines = [_example(f"q{i}", f"a{i}") for i in range(1001)]
    fits = validate_lines(
        lines, source="v.jsonl", model=FLASH, role="validation", training_examples=3400
    )
    assert fits.ok
    too_many = validate_lines(
        lines, source="v.jsonl", model=FLASH, role="validation", training_examples=3000
    )
    assert [(e.line, e.field) for e in too_many.errors] == [(None, "file")]
    assert "30%" in too_many.errors[0].message


def test_errors_are_capped_and_the_rest_counted() -> None:
    report = validate_lines([b"{oops\n"] * 250, source="bad.jsonl", model=FLASH)
    assert len(report.errors) == 100
    assert report.errors_omitted == 150
    assert report.error_count == 250
    assert not report.ok


def test_validate_lines_streams_from_a_generator() -> None:
    produced = 0

    def generate() -> Iterator[bytes]:
        nonlocal produced
        for i in range(5000):
            produced += 1
            yield _example(f"question {i}", f"answer {i}")

    report = validate_lines(generate(), source="gen", model=FLASH)
    assert produced == 5000
    assert report.ok
    assert report.stats.examples == 5000


def test_missing_file_is_one_error_on_the_file_field(tmp_path: Path) -> None:
    report = validate_file(tmp_path / "absent.jsonl", model=FLASH)
    assert [(e.line, e.field) for e in report.errors] == [(None, "file")]


def test_declared_format_reports_missing_fields() -> None:
    report = validate_lines([b'{"prompt": "a"}\n'], source="x.jsonl", model=FLASH, fmt="contents")
    assert [e.field for e in report.errors] == ["prompt", "contents"]


def test_crlf_line_endings_are_accepted() -> None:
    report = validate_lines([_example("a", "b").replace(b"\n", b"\r\n")], source="x", model=FLASH)
    assert report.ok


def test_a_last_line_without_newline_is_still_seen_as_a_duplicate() -> None:
    line = _example("a", "b")
    report = validate_lines([line, line.rstrip(b"\n")], source="x", model=FLASH)
    assert [w.line for w in report.warnings if "duplicate" in w.message] == [2]


def test_repeats_are_found_before_and_after_the_filter_takes_over_from_the_exact_set() -> None:
    from gemini_tuning.datasets import _seen

    seen = _seen.SeenFilter()
    lines = [f"line {i}".encode() for i in range(_seen._EXACT_LIMIT + 10)]
    assert not any(seen.add(line) for line in lines[: _seen._EXACT_LIMIT])
    assert seen._exact is not None
    assert not seen._bits  # nothing allocated for a small file
    assert seen.add(lines[0])
    for line in lines[_seen._EXACT_LIMIT :]:
        seen.add(line)
    assert seen._exact is None
    assert len(seen._bits) == 1 << 25
    assert all(seen.add(line) for line in lines[::997])  # remembered before the switch, too


def test_a_line_broken_at_its_end_is_reported_at_that_column_not_column_1() -> None:
    whole = _example("a", "b")
    cut = whole[:-3] + b"\n"  # the closing brackets are missing: the break is at the end
    report = validate_lines([whole, cut], source="x.jsonl", model=FLASH)
    (error,) = report.errors
    assert (error.line, error.field) == (2, "$")
    assert error.message.startswith(f"invalid JSON at column {len(cut)}:")  # just past the end


def test_the_json_column_counts_characters_not_bytes() -> None:
    line = '{"contents": "ééé", x}\n'.encode()
    report = validate_lines([line], source="x.jsonl", model=FLASH)
    assert report.errors[0].message.startswith("invalid JSON at column 21:")  # the x
