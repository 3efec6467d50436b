"""Streaming validation of a dataset against one base model: one pass, flat memory."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol

import orjson

from gemini_tuning.catalog import BaseModel, DatasetFormat, estimate_tokens
from gemini_tuning.datasets._fastpath import decoded_contents_sizes, plain_contents_sizes
from gemini_tuning.datasets._formats import detect_format, json_error, parse_example
from gemini_tuning.datasets._issues import DatasetIssue, IssueLog, Severity
from gemini_tuning.datasets._native import contents_scanner
from gemini_tuning.datasets._rules import check_example, measure
from gemini_tuning.datasets._seen import SeenFilter
from gemini_tuning.datasets._stats import DatasetStats, DistributionBuilder

if TYPE_CHECKING:
    from gemini_tuning_scan import ContentsScanner

Role = Literal["training", "validation"]

BOM = b"\xef\xbb\xbf"
# Our reading of "5000, or 30% of training examples if >1000" (wire-contract.md section 7): a
# validation set of more than 1000 examples may hold at most 30% as many as the training set [I].
VALIDATION_SHARE_THRESHOLD = 1000
VALIDATION_MAX_SHARE = 0.3
FORMAT_FIELD: dict[DatasetFormat, str] = {
    "contents": "contents",
    "messages": "messages",
    "text_pairs": "text_input",
}


@dataclass
class ValidationReport:
    """Errors and warnings (the first 100 of each kept, the rest counted) and the statistics."""

    errors: list[DatasetIssue]
    warnings: list[DatasetIssue]
    stats: DatasetStats
    errors_omitted: int = 0
    warnings_omitted: int = 0
    source: str = ""
    model: str = ""
    role: Role = "training"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.errors_omitted == 0

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.errors_omitted

    @property
    def warning_count(self) -> int:
        return len(self.warnings) + self.warnings_omitted

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model": self.model,
            "role": self.role,
            "ok": self.ok,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
            "stats": self.stats.to_dict(),
        }


class _Seen(Protocol):
    """The duplicate filter: SeenFilter, or the compiled scanner's own."""

    def add(self, line: bytes) -> bool: ...
    def close(self) -> None: ...


class _Validator:
    """Checks one line or record at a time and accumulates statistics."""

    def __init__(
        self,
        *,
        source: str,
        model: BaseModel,
        role: Role,
        fmt: DatasetFormat | None,
        training_examples: int | None,
        seen: _Seen | None = None,
    ) -> None:
        self.source = source
        self.model = model
        self.role = role
        self.training_examples = training_examples
        self.fmt = fmt
        self._format_line: int | None = None
        self.errors = IssueLog()
        self.warnings = IssueLog()
        self._seen: _Seen = seen or SeenFilter()
        self._fast_path = _fast_path_applies(model)
        self.records = 0  # lines or rows that hold a record, valid or not
        self._line_has_error = False
        self.stats = DatasetStats(format=fmt)
        self._input_tokens = DistributionBuilder()
        self._output_tokens = DistributionBuilder()
        self._turns = DistributionBuilder()
        self._input_token_counts = self._input_tokens.counts  # hot path: skip a method call
        self._output_token_counts = self._output_tokens.counts
        self._turn_counts = self._turns.counts

    def report(
        self, line: int | None, path: str, message: str, severity: Severity = "error"
    ) -> None:
        issue = DatasetIssue(self.source, line, path, message, severity)
        if severity == "error":
            self._line_has_error = True
            self.errors.add(issue)
        else:
            self.warnings.add(issue)

    # --- one JSONL line ---

    def line(self, lineno: int, raw: bytes) -> None:
        # Hot path: no copy of the line is made (orjson skips the trailing newline itself).
        self.stats.total_chars += len(raw) if raw.isascii() else len(raw.decode("utf-8", "replace"))
        body = raw
        if lineno == 1 and raw.startswith(BOM):
            self.report(
                lineno,
                "$",
                "the file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM",
            )
            body = raw[len(BOM) :]
        if not body or body.isspace():
            self.report(lineno, "$", "blank line; JSONL holds one JSON object on every line")
            return
        self.records += 1
        if self._fast_path and self.fmt == "contents":
            sizes = decoded_contents_sizes(body)
            if sizes is not None and self._within_token_limit(sizes[0] + sizes[1]):
                self._note_duplicate(lineno, body)
                self._count(*sizes)
                return
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self._report_undecodable(lineno, body.rstrip(b"\r\n"), exc)
            return
        self._note_duplicate(lineno, body)
        self.record(lineno, obj)

    def _note_duplicate(self, lineno: int, body: bytes) -> None:
        if self._seen.add(body if body[-1:] == b"\n" else body + b"\n"):  # the last line too
            self.report_duplicate(lineno)

    def report_duplicate(self, lineno: int) -> None:
        self.report(lineno, "$", "duplicate: the same line appears earlier in the file", "warning")

    def _report_undecodable(self, lineno: int, body: bytes, exc: orjson.JSONDecodeError) -> None:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            self.report(
                lineno,
                "$",
                f"not valid UTF-8: byte 0x{body[bad.start]:02x} at byte "
                f"{bad.start + 1}; save the file as UTF-8",
            )
            return
        self.report(lineno, "$", json_error(body, exc))

    # --- one parsed record (a JSONL object or a CSV row) ---

    def record(self, lineno: int, obj: Any) -> None:
        self._line_has_error = False
        fmt = self._format_of(lineno, obj)
        if fmt is None:
            return
        if fmt == "contents" and self._fast_path:
            sizes = plain_contents_sizes(obj)
            if sizes is not None and self._within_token_limit(sizes[0] + sizes[1]):
                self._count(*sizes)
                return
        parsed = parse_example(obj, fmt)
        if isinstance(parsed, list):
            for path, message in parsed:
                self.report(lineno, path, message)
            return
        size = measure(parsed)
        for path, message, severity in check_example(parsed, fmt, self.model, size):
            self.report(lineno, path, message, severity)
        if not self._line_has_error:
            self._count(size.input_chars, size.output_chars, size.turns)

    def _within_token_limit(self, chars: int) -> bool:
        limit = self.model.max_tokens_per_example
        return limit is None or estimate_tokens(chars) <= limit

    def _count(self, input_chars: int, output_chars: int, turns: int) -> None:
        """Add one valid example to the statistics."""
        billable = input_chars + output_chars
        tokens = estimate_tokens(billable)
        stats = self.stats
        stats.examples += 1
        stats.billable_chars += billable
        stats.estimated_tokens += tokens
        stats.max_example_tokens = max(stats.max_example_tokens, tokens)
        self._input_token_counts[estimate_tokens(input_chars)] += 1
        self._output_token_counts[estimate_tokens(output_chars)] += 1
        self._turn_counts[turns] += 1

    def add_scanned(self, scanner: ContentsScanner) -> None:
        """Add the examples the compiled scanner accepted to the statistics."""
        examples, chars, billable_chars, tokens, max_tokens = scanner.totals()
        stats = self.stats
        self.records += examples
        stats.examples += examples
        stats.total_chars += chars
        stats.billable_chars += billable_chars
        stats.estimated_tokens += tokens
        stats.max_example_tokens = max(stats.max_example_tokens, max_tokens)
        counters = (self._input_token_counts, self._output_token_counts, self._turn_counts)
        for counts, histogram in zip(counters, scanner.histograms(), strict=True):
            counts.update(dict(histogram))

    def _format_of(self, lineno: int, obj: Any) -> DatasetFormat | None:
        detected = detect_format(obj)
        if detected is None:
            if self.fmt is not None and isinstance(obj, dict):
                return self.fmt  # declared format: parsing names the missing fields
            self._report_not_an_example(lineno, obj)
            return None
        if self.fmt is None:
            self.fmt = self.stats.format = detected
            self._format_line = lineno
            self._check_model_format(lineno, detected)
        elif detected != self.fmt:
            origin = (
                f"line {self._format_line} is in the {self.fmt} format"
                if self._format_line
                else f"the file is declared {self.fmt}"
            )
            self.report(
                lineno,
                FORMAT_FIELD[detected],
                f"this line is in the {detected} format but {origin}; a file holds one format",
            )
            return None
        return detected

    def _report_not_an_example(self, lineno: int, obj: Any) -> None:
        if isinstance(obj, dict):
            keys = ", ".join(sorted(obj)[:5]) or "none"
            self.report(
                lineno,
                "$",
                f"not a tuning example: no contents, messages or "
                f"text_input/output field (fields: {keys})",
            )
        else:
            parsed = parse_example(obj, "contents")
            assert isinstance(parsed, list)
            self.report(lineno, *parsed[0])

    def _check_model_format(self, lineno: int, fmt: DatasetFormat) -> None:
        model = self.model
        if model.backend == "vertex" and fmt != model.dataset_format:
            self.report(
                lineno,
                FORMAT_FIELD[fmt],
                f"{model.id} is tuned on the "
                f"{model.dataset_format} format, not {fmt}; convert with `gemini-tuning "
                f"dataset convert --to {model.dataset_format}`",
            )

    # --- the whole file ---

    def finish(self, *, sha256: str, nbytes: int, lines: int) -> ValidationReport:
        self._seen.close()
        stats = self.stats
        stats.sha256, stats.bytes, stats.lines = sha256, nbytes, lines
        stats.input_tokens = self._input_tokens.build()
        stats.output_tokens = self._output_tokens.build()
        stats.turns_per_example = self._turns.build()
        self._check_file_size(nbytes)
        # Counted over every record, valid or not: an invalid line is reported on its own and
        # need not also make the count short. An empty file whose lines all failed to parse
        # has its reason reported already.
        if self.records or not self.errors.total:
            if self.role == "training":
                self._check_training_count(self.records)
            else:
                self._check_validation_count(self.records)
        return ValidationReport(
            errors=self.errors.kept,
            warnings=self.warnings.kept,
            stats=stats,
            errors_omitted=self.errors.omitted,
            warnings_omitted=self.warnings.omitted,
            source=self.source,
            model=self.model.id,
            role=self.role,
        )

    def _check_file_size(self, nbytes: int) -> None:
        limit = self.model.max_file_bytes
        if nbytes > limit:
            self.report(
                None,
                "file",
                f"{nbytes:,} bytes; {self.model.id} accepts files of at most {limit:,} bytes",
            )

    def _check_training_count(self, examples: int) -> None:
        model = self.model
        if examples < model.min_examples:
            self.report(
                None,
                "file",
                f"{examples} valid examples; {model.id} needs at least {model.min_examples}",
            )
        elif examples < model.recommended_min_examples:
            self.report(
                None,
                "file",
                f"{examples} examples; at least {model.recommended_min_examples} are recommended",
                "warning",
            )
        if model.max_training_examples is not None and examples > model.max_training_examples:
            self.report(
                None,
                "file",
                f"{examples:,} examples; {model.id} accepts at most "
                f"{model.max_training_examples:,}",
            )

    def _check_validation_count(self, examples: int) -> None:
        model = self.model
        if model.backend == "gemini-api":
            self.report(None, "file", "the Gemini API takes no validation set")
            return
        if examples == 0:
            self.report(None, "file", "the validation set holds no example")
        if examples > model.max_validation_examples:
            self.report(
                None,
                "file",
                f"{examples:,} validation examples; {model.id} accepts at "
                f"most {model.max_validation_examples:,}",
            )
        training = self.training_examples
        if (
            training is not None
            and examples > VALIDATION_SHARE_THRESHOLD
            and examples > VALIDATION_MAX_SHARE * training
        ):
            self.report(
                None,
                "file",
                f"{examples:,} validation examples is more than 30% of the "
                f"{training:,} training examples",
            )


def validate_lines(
    lines: Iterable[bytes],
    *,
    source: str,
    model: BaseModel,
    role: Role = "training",
    fmt: DatasetFormat | None = None,
    training_examples: int | None = None,
) -> ValidationReport:
    """Validate JSONL lines (as read from a binary file, newline kept) in one streaming pass.

    ``stats.sha256`` is the hash of the lines' concatenation, i.e. of the file.
    """
    validator = _Validator(
        source=source, model=model, role=role, fmt=fmt, training_examples=training_examples
    )
    return _validate_jsonl(validator, _HashingLines(lines, count_chars=False))


def _validate_jsonl(validator: _Validator, lines: _HashingLines | _BlockLines) -> ValidationReport:
    lineno = 0
    for lineno, raw in enumerate(lines, 1):
        validator.line(lineno, raw)
    return validator.finish(sha256=lines.hexdigest(), nbytes=lines.nbytes, lines=lineno)


def _validate_jsonl_scanned(
    validator: _Validator, lines: _BlockLines, scanner: ContentsScanner
) -> ValidationReport:
    """_validate_jsonl with the compiled scanner taking the runs of plain valid lines; each line
    it stops at is checked here, in order, so issues and duplicates come out as without it."""
    lineno = 0
    for window in lines.windows():
        lineno = _scan_window(validator, scanner, window, lineno)
    validator.add_scanned(scanner)
    return validator.finish(sha256=lines.hexdigest(), nbytes=lines.nbytes, lines=lineno)


def _scan_window(
    validator: _Validator,
    scanner: ContentsScanner,
    window: tuple[bytes, int, int],
    lineno: int,
) -> int:
    """Validate the lines of a window (buffer, start, end); the number of the last one."""
    from gemini_tuning_scan import STOP_DUPLICATE, STOP_END

    buffer, position, window_end = window
    while position < window_end:
        if validator.fmt == "contents":  # known once the first record is read
            accepted, start, end, stop = scanner.scan(buffer, position, window_end)
            lineno += accepted
            if stop == STOP_END:
                break
        else:
            start, stop = position, -1
            end = (buffer.find(b"\n", start, window_end) + 1) or window_end
        lineno += 1
        if stop == STOP_DUPLICATE:
            validator.report_duplicate(lineno)
        else:
            validator.line(lineno, buffer[start:end])
        position = end
    return lineno


def validate_file(
    path: str | Path,
    *,
    model: BaseModel,
    role: Role = "training",
    fmt: DatasetFormat | None = None,
    training_examples: int | None = None,
) -> ValidationReport:
    """Validate a JSONL file, or a CSV file of text_input/output pairs (by its .csv suffix)."""
    path = Path(path)
    source = str(path)
    options: dict[str, Any] = {
        "model": model,
        "role": role,
        "fmt": fmt,
        "training_examples": training_examples,
    }
    try:
        handle = path.open("rb")
    except OSError as exc:
        return _unreadable(source, model, role, exc)
    with handle:
        if path.suffix.lower() == ".csv":
            return _validate_csv(handle, source=source, **options)
        scanner = contents_scanner(model) if _scannable(model, fmt) else None
        if scanner is None:
            return _validate_jsonl(_Validator(source=source, **options), _BlockLines(handle))
        validator = _Validator(source=source, seen=scanner, **options)
        return _validate_jsonl_scanned(validator, _BlockLines(handle), scanner)


def _fast_path_applies(model: BaseModel) -> bool:
    """Whether the fast paths' checks (_fastpath, the compiled scanner) are the whole rule set
    for a valid contents line of this model."""
    return model.backend == "vertex" and model.dataset_format == "contents"


def _scannable(model: BaseModel, fmt: DatasetFormat | None) -> bool:
    return _fast_path_applies(model) and fmt in (None, "contents")


def _unreadable(source: str, model: BaseModel, role: Role, exc: OSError) -> ValidationReport:
    reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
    issue = DatasetIssue(source, None, "file", f"cannot read the dataset: {reason}")
    return ValidationReport([issue], [], DatasetStats(), source=source, model=model.id, role=role)


def _validate_csv(
    lines: Iterable[bytes],
    *,
    source: str,
    model: BaseModel,
    role: Role,
    fmt: DatasetFormat | None,
    training_examples: int | None,
) -> ValidationReport:
    from gemini_tuning.datasets._csv import read_csv_records

    validator = _Validator(
        source=source,
        model=model,
        role=role,
        fmt=fmt or "text_pairs",
        training_examples=training_examples,
    )
    hashing = _HashingLines(lines)
    for lineno, record in read_csv_records(hashing, validator.report):
        validator.records += 1
        validator.record(lineno, record)
    validator.stats.total_chars = hashing.chars
    return validator.finish(sha256=hashing.hexdigest(), nbytes=hashing.nbytes, lines=hashing.lines)


class _HashingLines:
    """Passes lines through while hashing and counting them."""

    def __init__(self, lines: Iterable[bytes], *, count_chars: bool = True) -> None:
        self._lines = lines
        self._hasher = hashlib.sha256()
        self._count_chars = count_chars
        self.nbytes = self.lines = self.chars = 0

    def __iter__(self) -> Iterator[bytes]:
        for raw in self._lines:
            self._hasher.update(raw)
            self.nbytes += len(raw)
            self.lines += 1
            if self._count_chars:
                self.chars += len(raw.decode("utf-8", "replace"))
            yield raw

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


class _BlockLines:
    """A binary file's lines (split on b"\\n" only, ends kept: as iterating the file gives them),
    read in large blocks whose SHA-256 is computed on a worker thread. hashlib releases the GIL
    for large buffers, so hashing runs on another core while this thread validates."""

    BLOCK = 8 * 1024 * 1024

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._hasher = hashlib.sha256()
        self.nbytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for buffer, start, end in self.windows():
            yield from io.BytesIO(buffer[start:end])  # the whole buffer: no copy

    def windows(self) -> Iterator[tuple[bytes, int, int]]:
        """The file's lines, in order, as windows (buffer, start, end) of whole lines (the last
        may lack its newline). Blocks are not copied: a line that straddles two blocks is joined
        and given its own window."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
            hashing: Future[None] | None = None
            carry: list[bytes] = []  # the start of a line that a later block ends
            while block := self._handle.read(self.BLOCK):
                if hashing is not None:
                    hashing.result()  # in order, and at most one block held for hashing
                hashing = pool.submit(self._hasher.update, block)
                self.nbytes += len(block)
                start = 0
                if carry:
                    newline = block.find(b"\n")
                    if newline < 0:
                        carry.append(block)  # a line longer than a block
                        continue
                    start = newline + 1
                    line = b"".join([*carry, block[:start]])
                    yield line, 0, len(line)
                end = block.rfind(b"\n") + 1
                if end > start:
                    yield block, start, end
                carry = [block[end:]] if end < len(block) else []  # end >= start
            if hashing is not None:
                hashing.result()
            if carry:
                line = b"".join(carry)
                yield line, 0, len(line)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()
