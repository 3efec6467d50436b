"""Reading examples out of files, converting between formats, and (prompt, answer) pairs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from gemini_tuning.catalog import DatasetFormat
from gemini_tuning.datasets._csv import read_csv_records, write_csv_row
from gemini_tuning.datasets._formats import (
    Example,
    NotLosslessError,
    detect_format,
    json_error,
    parse_example,
    render,
    text_of,
)
from gemini_tuning.datasets._issues import DatasetIssue, Severity
from gemini_tuning.datasets._validate import BOM


class ConversionError(ValueError):
    """A line could not be read or converted; ``issue`` says where and why."""

    def __init__(self, issue: DatasetIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def iter_examples(
    lines: Iterable[bytes],
    fmt: DatasetFormat | None = None,
    *,
    source: str = "<lines>",
    strict: bool = False,
) -> Iterator[tuple[int, DatasetFormat, Example]]:
    """``(line, format, example)`` for each JSONL line that parses as an example.

    Lines that do not are skipped, or raise ConversionError when ``strict``. The format is
    detected from the first example unless given; lines in another format are faults too.
    """
    for lineno, raw in enumerate(lines, 1):
        body = raw.rstrip(b"\r\n")
        if lineno == 1 and body.startswith(BOM):
            body = body[len(BOM) :]
        if not body.strip():
            continue
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            _fault(strict, source, lineno, "$", json_error(body, exc))
            continue
        detected = detect_format(obj)
        fmt = fmt or detected
        if fmt is None or (detected is not None and detected != fmt):
            _fault(strict, source, lineno, "$", f"not an example in the {fmt or 'any'} format")
            continue
        parsed = parse_example(obj, fmt)
        if isinstance(parsed, list):
            _fault(strict, source, lineno, *parsed[0])
            continue
        yield lineno, fmt, parsed


def iter_csv_examples(
    lines: Iterable[bytes], *, source: str = "<lines>", strict: bool = False
) -> Iterator[tuple[int, DatasetFormat, Example]]:
    """Like iter_examples, for a CSV file of text_input/output pairs."""

    def report(line: int | None, path: str, message: str, severity: Severity) -> None:
        if severity == "error":
            _fault(strict, source, line, path, message)

    for lineno, record in read_csv_records(lines, report):
        parsed = parse_example(record, "text_pairs")
        if isinstance(parsed, list):
            _fault(strict, source, lineno, *parsed[0])
            continue
        yield lineno, "text_pairs", parsed


def _fault(strict: bool, source: str, line: int | None, path: str, message: str) -> None:
    if strict:
        raise ConversionError(DatasetIssue(source, line, path, message))


def convert_lines(
    lines: Iterable[bytes],
    to: DatasetFormat,
    *,
    fmt: DatasetFormat | None = None,
    source: str = "<lines>",
    csv_output: bool = False,
) -> Iterator[bytes]:
    """The examples rewritten in ``to``, one JSONL line (or CSV row) each.

    Raises ConversionError naming the first line that is invalid or that ``to`` cannot hold
    without loss (for example a multi-turn conversation to input/output pairs).
    """
    if csv_output and to != "text_pairs":
        raise ValueError("CSV output holds text_input/output pairs only")
    if csv_output:
        yield write_csv_row(["text_input", "output"]).encode()
    for lineno, source_fmt, example in iter_examples(lines, fmt, source=source, strict=True):
        yield _render_line(example, to, source_fmt, source, lineno, csv_output=csv_output)


def _render_line(
    example: Example,
    to: DatasetFormat,
    source_fmt: DatasetFormat,
    source: str,
    lineno: int,
    *,
    csv_output: bool,
) -> bytes:
    try:
        obj = render(example, to, source_fmt)
    except NotLosslessError as exc:
        message = f"cannot convert to {to} without loss: {exc.message}"
        raise ConversionError(DatasetIssue(source, lineno, exc.field, message)) from None
    if csv_output:
        return write_csv_row([obj["text_input"], obj["output"]]).encode()
    return orjson.dumps(obj) + b"\n"


def convert_file(
    src: str | Path, dst: str | Path, to: DatasetFormat, *, fmt: DatasetFormat | None = None
) -> int:
    """Convert ``src`` (JSONL or .csv) into ``dst`` (JSONL, or CSV by its suffix); the count.

    Writes to a temporary file first, so a refused conversion leaves no partial output.
    """
    src, dst = Path(src), Path(dst)
    partial = dst.with_name(dst.name + ".partial")
    count = 0
    try:
        with src.open("rb") as reader, partial.open("wb") as writer:
            if src.suffix.lower() == ".csv":
                examples = iter_csv_examples(reader, source=str(src), strict=True)
                lines: Iterable[bytes] = (
                    orjson.dumps(render(e, "text_pairs", f)) for _, f, e in examples
                )
            else:
                lines = reader
            for out in convert_lines(
                lines, to, fmt=fmt, source=str(src), csv_output=dst.suffix.lower() == ".csv"
            ):
                writer.write(out)
                count += 1
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)
    return count - (dst.suffix.lower() == ".csv")


def prompt_and_answer(example: Example) -> tuple[str, str] | None:
    """(system instruction + final user turn, final model turn), or None without that shape."""
    turns = example.turns
    if len(turns) < 2 or turns[-1][0] != "model" or turns[-2][0] != "user":
        return None
    prompt = text_of(turns[-2][1])
    if example.system is not None:
        prompt = f"{text_of(example.system)}\n\n{prompt}"
    return prompt, text_of(turns[-1][1])


def iter_text_pairs(
    lines: Iterable[bytes], fmt: DatasetFormat | None = None
) -> Iterator[tuple[str, str]]:
    """(prompt, answer) for each valid JSONL example; see prompt_and_answer."""
    for _, _, example in iter_examples(lines, fmt):
        pair = prompt_and_answer(example)
        if pair is not None:
            yield pair


def iter_file_text_pairs(path: str | Path) -> Iterator[tuple[str, str]]:
    """iter_text_pairs for a JSONL or CSV file."""
    path = Path(path)
    with path.open("rb") as handle:
        if path.suffix.lower() == ".csv":
            for _, _, example in iter_csv_examples(handle, source=str(path)):
                pair = prompt_and_answer(example)
                if pair is not None:
                    yield pair
        else:
            yield from iter_text_pairs(handle)
