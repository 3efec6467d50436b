"""Gemini API input/output pairs as CSV with a header row (text_input or textInput, output)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gemini_tuning.datasets._formats import TEXT_INPUT_KEYS
from gemini_tuning.datasets._issues import Severity

Reporter = Callable[[int | None, str, str, Severity], None]

BOM = b"\xef\xbb\xbf"


def read_csv_records(
    lines: Iterable[bytes], report: Reporter
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each data row as ``(first line of the row, {column: value})``; faults go to ``report``."""
    reader = csv.reader(_decoded(lines, report), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        report(reader.line_num, "$", f"invalid CSV: {exc}", "error")
        return
    if header is None or not _has_pair_columns(header):
        report(
            1,
            "header",
            "the first row must name the columns text_input (or textInput) and output",
            "error",
        )
        return
    previous_end = reader.line_num
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            report(previous_end + 1, "$", f"invalid CSV: {exc}", "error")
            return
        if row is None:
            return
        start, previous_end = previous_end + 1, reader.line_num
        if not row:
            report(start, "$", "blank line; every row after the header is one example", "error")
        elif len(row) != len(header):
            report(start, "$", f"{len(row)} columns, the header has {len(header)}", "error")
        else:
            yield start, dict(zip(header, row, strict=True))


def _has_pair_columns(header: list[str]) -> bool:
    return "output" in header and any(key in header for key in TEXT_INPUT_KEYS)


def _decoded(lines: Iterable[bytes], report: Reporter) -> Iterator[str]:
    for lineno, line in enumerate(lines, 1):
        raw = line
        if lineno == 1 and raw.startswith(BOM):
            report(
                1,
                "$",
                "the file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM",
                "error",
            )
            raw = raw[len(BOM) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            report(
                lineno,
                "$",
                f"not valid UTF-8: byte 0x{raw[bad.start]:02x} at byte "
                f"{bad.start + 1}; save the file as UTF-8",
                "error",
            )
            yield raw.decode("utf-8", "replace")


def write_csv_row(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
