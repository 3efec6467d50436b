"""The compiled scanner (provider/scan) against the pure-Python path: the same reports, always.

Skipped when the scanner is not built, unless GT_REQUIRE_NATIVE=1 (CI), where that fails.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.catalog import BaseModel, lookup
from gemini_tuning.datasets import _validate, validate_file
from gemini_tuning.datasets._native import NATIVE_ENV, native_available
from tests.support.datasets import CASES, CORPUS
from tests.support.datasets import corpus_model as _model

FLASH = lookup("gemini-2.5-flash")
FLASH_15 = lookup("gemini-1.5-flash-002", allow_retired=True)

if not native_available():
    if os.environ.get("GT_REQUIRE_NATIVE") == "1":
        raise RuntimeError(
            "GT_REQUIRE_NATIVE=1 but gemini_tuning_scan is not installed (make setup)"
        )
    pytest.skip("gemini_tuning_scan is not built (no cargo?)", allow_module_level=True)

import gemini_tuning_scan as scan  # noqa: E402 - only once it is known to be there


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, path: Path, model: BaseModel, role: str = "training"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report with the scanner and without it."""
    native = validate_file(path, model=model, role=role).to_dict()  # type: ignore[arg-type]
    with monkeypatch.context() as patched:
        patched.setenv(NATIVE_ENV, "0")
        python = validate_file(path, model=model, role=role).to_dict()  # type: ignore[arg-type]
    return native, python


@pytest.mark.parametrize("name", sorted(n for n in CASES if n.endswith(".jsonl")))
def test_every_corpus_file_gets_the_same_report(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    model_spec, role, _, _ = CASES[name]
    native, python = _both_ways(monkeypatch, CORPUS / name, _model(model_spec), role)
    assert native == python


def test_blank_is_python_isspace_for_every_code_point() -> None:
    disagree = [
        code
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF and scan.blank(chr(code)) != chr(code).isspace()
    ]
    assert disagree == []
    assert scan.blank("")
    assert scan.blank(" \t\u3000\u2029")
    assert not scan.blank(" \u3000x")


# -- generated files: valid lines and near misses, mixed --------------------------------------


def _turns(*texts: str) -> list[dict[str, Any]]:
    roles = ("user", "model")
    return [{"role": roles[i % 2], "parts": [{"text": t}]} for i, t in enumerate(texts)]


VALID: list[Any] = [
    {"contents": _turns("What is 2+2?", "4")},
    {"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": _turns("Hi", "Hello")},
    {
        "systemInstruction": {"role": "system", "parts": [{"text": "s"}]},
        "contents": _turns("a", "b"),
    },
    {"systemInstruction": {"role": None, "parts": [{"text": "s"}]}, "contents": _turns("a", "b")},
    {"contents": _turns("café ☕ 東京", "ja 😀", "again\n\ttabbed", "ok")},
    {
        "contents": [
            {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
            *_turns("x")[:0],
            {"role": "model", "parts": [{"text": "three"}]},
        ]
    },
    {"contents": _turns("\u3000x\u3000", "\u00a0y")},
]

NEAR_MISSES: list[Any] = [
    {"contents": _turns("\u3000\u2003", "answer")},  # blank by Python's isspace
    {"contents": _turns("\x1c\x1d", "answer")},  # also blank to Python
    {"contents": _turns("", "answer")},
    {"contents": _turns("question")},  # ends with the user's turn
    {"contents": []},
    {"contents": [{"role": "model", "parts": [{"text": "a"}]}, *_turns("b")]},
    {"contents": _turns("a", "b"), "temperature": 1},
    {"contents": _turns("a", "b"), "systemInstruction": None},
    {"contents": _turns("a", "b"), "systemInstruction": {"parts": []}},
    {"contents": _turns("a", "b"), "systemInstruction": {"parts": [{"text": " "}]}},
    {"contents": [{"role": "user", "parts": [{"text": "a", "thought": True}]}, *_turns("b")]},
    {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png"}}]}]},
    {"contents": [{"role": "user", "parts": [{"text": 5}]}, *_turns("b")]},
    {"contents": [{"role": "User", "parts": [{"text": "a"}]}, *_turns("b")]},
    {"contents": [{"role": "user", "parts": [{"text": "a"}], "name": "n"}, *_turns("b")]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
    {"contents": _turns("x" * 130_000, "y")},  # over the token limit of gemini-1.5 (32k)
    [1, 2, 3],
    "a string",
]

RAW_LINES: list[bytes] = [
    b'{"contents": [{"role": "user", "parts": [{"text": "\\ud800 lone"}]}, '
    b'{"role": "model", "parts": [{"text": "b"}]}]}',  # a lone surrogate escape
    b'{"contents": [{"role": "user", "parts": [{"text": "\\ud83d\\ude00"}]}, '
    b'{"role": "model", "parts": [{"text": "\\u00e9\\n"}]}]}',  # escapes: 1 + 2 characters
    b'{"contents": [], "contents": [{"role": "user", "parts": [{"text": "a"}]}, '
    b'{"role": "model", "parts": [{"text": "b"}]}]}',  # a repeated key
    b'  {"contents": [{"role": "user", "parts": [{"text": "a"}]}, '
    b'{"role": "model", "parts": [{"text": "b"}]}]}  \r',  # surrounding whitespace, CRLF
    b'{"contents": [{"role": "user", "parts": [{"text": "a"}]}, '
    b'{"role": "model", "parts": [{"text": "b"}]}]} x',  # trailing garbage
    b'{"contents": [{"role": "user", "parts": [{"text": "caf\xe9"}]}]}',  # not UTF-8
    b"",
    b"   ",
    b'{"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "model", "parts": '
    b'[{"text": "b"}]}], "n": 123456789012345678901234567890}',  # a huge integer
]


def _generated_file(path: Path, seed: int, lines: int = 600) -> Path:
    rng = random.Random(seed)
    pool = [json.dumps(v, ensure_ascii=rng.random() < 0.5).encode() for v in VALID]
    pool += [json.dumps(v).encode() for v in NEAR_MISSES] + RAW_LINES
    chosen = [
        rng.choice(pool)
        if rng.random() < 0.3
        else rng.choice(pool[: len(VALID)]) + b" " * rng.randrange(3)
        for _ in range(lines)
    ]
    # distinct valid lines too, so that not every valid line is a duplicate
    chosen += [json.dumps({"contents": _turns(f"q{i}", f"a{i}")}).encode() for i in range(lines)]
    rng.shuffle(chosen)
    ending = b"\n" if seed % 2 else b"\r\n"
    data = ending.join(chosen) + (ending if seed % 3 else b"")  # sometimes no final newline
    if seed % 5 == 0:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("model", [FLASH, FLASH_15], ids=["flash-2.5", "flash-1.5"])
@pytest.mark.parametrize("block", [509, 8 * 1024 * 1024])
def test_generated_files_get_the_same_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int, model: BaseModel, block: int
) -> None:
    monkeypatch.setattr(_validate._BlockLines, "BLOCK", block)
    path = _generated_file(tmp_path / "train.jsonl", seed)
    native, python = _both_ways(monkeypatch, path, model)
    assert native == python
    assert native["warning_count"] > 0  # duplicates, at least
    if seed % 5:  # no BOM: the first line's format is known
        assert native["error_count"] > 0


def test_a_valid_file_is_read_whole_by_the_scanner(tmp_path: Path) -> None:
    lines = [json.dumps(v).encode() + b"\n" for v in VALID]
    data = b"".join(lines)
    scanner = scan.ContentsScanner(max_tokens=None, chars_per_token=4)
    accepted, start, end, stop = scanner.scan(data, 0, len(data))
    assert (accepted, start, end, stop) == (len(VALID), len(data), len(data), scan.STOP_END)
    examples, chars, *_ = scanner.totals()
    assert (examples, chars) == (len(VALID), len(data.decode()))


def test_the_scanner_stops_at_a_duplicate_and_at_a_line_for_the_full_rules() -> None:
    good = json.dumps(VALID[0]).encode() + b"\n"
    bad = json.dumps(NEAR_MISSES[0]).encode() + b"\n"
    data = good + bad + good
    scanner = scan.ContentsScanner(max_tokens=None, chars_per_token=4)
    assert scanner.scan(data, 0, len(data)) == (1, len(good), len(good + bad), scan.STOP_CHECK)
    after_bad = len(good + bad)
    assert scanner.scan(data, after_bad, len(data)) == (
        0,
        after_bad,
        len(data),
        scan.STOP_DUPLICATE,
    )
    assert scanner.add(bad) is False
    assert scanner.add(bad.rstrip(b"\n")) is True  # one trailing newline does not count
    assert scanner.totals()[0] == 2  # the duplicate is a valid example too


def test_the_token_limit_sends_a_line_to_the_full_rules() -> None:
    line = json.dumps({"contents": _turns("x" * 40, "y" * 4)}).encode()  # 44 chars, 11 tokens
    at_limit = scan.ContentsScanner(max_tokens=11, chars_per_token=4)
    over_limit = scan.ContentsScanner(max_tokens=10, chars_per_token=4)
    assert at_limit.scan(line, 0, len(line))[3] == scan.STOP_END
    assert over_limit.scan(line, 0, len(line))[3] == scan.STOP_CHECK


def _offsets(lines: list[bytes]) -> list[int]:
    starts, position = [], 0
    for line in lines:
        starts.append(position)
        position += len(line)
    return starts


@pytest.mark.parametrize("bad_at", [0.25, 0.75])  # in the half scanned here, in the helper's
def test_a_long_block_split_across_two_threads_stops_where_one_thread_would(
    bad_at: float,
) -> None:
    """Blocks over 1 MB are scanned by two threads (the second half's parsing ahead): the stops,
    counts and characters must be those of one thread reading line by line."""
    lines = [
        json.dumps({"contents": _turns(f"question {i} " + "w" * 200, f"answer {i} é")}).encode()
        + b"\n"
        for i in range(12_000)
    ]
    bad_index = int(len(lines) * bad_at)
    lines[bad_index] = json.dumps(NEAR_MISSES[0]).encode() + b"\n"
    duplicate_index = bad_index + 1500
    lines[duplicate_index] = lines[7]
    data = b"".join(lines)
    assert len(data) > 2 * 1024 * 1024
    starts = _offsets(lines)
    scanner = scan.ContentsScanner(max_tokens=None, chars_per_token=4)

    stop = scanner.scan(data, 0, len(data))
    assert stop == (bad_index, starts[bad_index], starts[bad_index + 1], scan.STOP_CHECK)
    stop = scanner.scan(data, starts[bad_index + 1], len(data))
    expected = (duplicate_index - bad_index - 1, starts[duplicate_index])
    assert stop == (*expected, starts[duplicate_index + 1], scan.STOP_DUPLICATE)
    stop = scanner.scan(data, starts[duplicate_index + 1], len(data))
    assert stop == (len(lines) - duplicate_index - 1, len(data), len(data), scan.STOP_END)

    accepted = [line for i, line in enumerate(lines) if i != bad_index]
    examples, chars, *_ = scanner.totals()
    assert examples == len(accepted)  # the duplicate is a valid example too
    assert chars == sum(len(line.decode()) for line in accepted)


@pytest.mark.parametrize("seed", range(3))
def test_generated_files_over_a_megabyte_get_the_same_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int
) -> None:
    path = _generated_file(tmp_path / "train.jsonl", seed, lines=30_000)
    assert path.stat().st_size > 2 * 1024 * 1024  # windows long enough to be split
    native, python = _both_ways(monkeypatch, path, FLASH)
    assert native == python
    assert native["warning_count"] > 0
