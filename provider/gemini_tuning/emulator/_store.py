"""SQLite state: every resource is one JSON document, so that new surfaces (e.g. the Gemini API
`tunedModels`) add kinds, not tables. Writes are transactional; one connection guarded by a lock
serves all threads (WAL journal, so a crash never leaves a half-written document)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    internal TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_kind_parent ON resources(kind, parent, seq);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Resource:
    """One stored resource: `data` is its public JSON (camelCase, enum names), `internal` holds
    what the emulator needs but never shows (API version of an op, trainer timestamps, ...)."""

    name: str
    kind: str
    parent: str
    data: dict[str, Any]
    internal: dict[str, Any] = field(default_factory=dict)
    seq: int = 0


class Store:
    def __init__(self, path: Path | str) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._depth = 0
        self.generation: dict[str, int] = {}  # writes per kind in this process (see Trainer)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[Store]:
        """A write transaction; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def _row(self, row: tuple[Any, ...]) -> Resource:
        name, kind, parent, seq, data, internal = row
        return Resource(name, kind, parent, json.loads(data), json.loads(internal), seq)

    def get(self, name: str) -> Resource | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT name, kind, parent, seq, data, internal FROM resources WHERE name = ?",
                (name,),
            ).fetchone()
        return self._row(row) if row else None

    def find(self, kind: str, parent: str | None = None) -> list[Resource]:
        """Resources of ``kind`` (under ``parent``), newest first."""
        sql = "SELECT name, kind, parent, seq, data, internal FROM resources WHERE kind = ?"
        args: tuple[Any, ...] = (kind,)
        if parent is not None:
            sql += " AND parent = ?"
            args += (parent,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq DESC", args).fetchall()
        return [self._row(r) for r in rows]

    def put(self, res: Resource) -> Resource:
        with self.tx():
            self.generation[res.kind] = self.generation.get(res.kind, 0) + 1
            if not res.seq:
                row = self._conn.execute("SELECT seq FROM resources WHERE name = ?", (res.name,))
                found = row.fetchone()
                if found:
                    res.seq = found[0]
                else:
                    top = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM resources")
                    res.seq = int(top.fetchone()[0]) + 1
            self._conn.execute(
                "INSERT OR REPLACE INTO resources(name, kind, parent, seq, data, internal)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    res.name,
                    res.kind,
                    res.parent,
                    res.seq,
                    json.dumps(res.data, sort_keys=True),
                    json.dumps(res.internal, sort_keys=True),
                ),
            )
        return res

    def delete(self, name: str) -> bool:
        with self.tx():
            cur = self._conn.execute("DELETE FROM resources WHERE name = ?", (name,))
        return cur.rowcount > 0

    def put_blob(self, key: str, value: Any) -> None:
        with self.tx():
            self._conn.execute(
                "INSERT OR REPLACE INTO blobs(key, data) VALUES (?, ?)", (key, json.dumps(value))
            )

    def get_blob(self, key: str) -> Any:
        with self._lock:
            row = self._conn.execute("SELECT data FROM blobs WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def reset(self) -> None:
        with self.tx():
            self._conn.execute("DELETE FROM resources")
            self._conn.execute("DELETE FROM blobs")

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT kind, COUNT(*) FROM resources GROUP BY kind")
            return {str(k): int(n) for k, n in rows.fetchall()}
