"""Issues found in a dataset, and a log of them whose memory stays flat however many there are."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

MAX_KEPT_ISSUES = 100


@dataclass(frozen=True, slots=True)
class DatasetIssue:
    """One fault in a dataset: where it is (file, 1-based line, JSON path) and what is wrong."""

    source: str
    line: int | None
    field: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class IssueLog:
    """Keeps the first ``limit`` issues and only counts the rest."""

    def __init__(self, limit: int = MAX_KEPT_ISSUES) -> None:
        self.kept: list[DatasetIssue] = []
        self.omitted = 0
        self._limit = limit

    def add(self, issue: DatasetIssue) -> None:
        if len(self.kept) < self._limit:
            self.kept.append(issue)
        else:
            self.omitted += 1

    @property
    def total(self) -> int:
        return len(self.kept) + self.omitted
