"""What extraction found in each file, cached by git blob id.

The same content always gives the same imports and declarations (table ``parsed``) and the same words
(table ``words``, :mod:`graph_jobs.graph.file_words`), so re-ingesting an unchanged
repository re-reads nothing. One SQLite file, safe for several processes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

# (skip reason or None, had syntax errors, [RawImport tuples], {declaration: count})
ParseResult = tuple[str | None, bool, list[tuple], dict[str, int]]


class ParseCache:
    def __init__(self, path: Path, version: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.version = version
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS parsed (blob TEXT, lang TEXT, version INTEGER,"
            " payload TEXT, PRIMARY KEY (blob, lang, version)) WITHOUT ROWID"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS words (blob TEXT, version INTEGER, payload TEXT,"
            " PRIMARY KEY (blob, version)) WITHOUT ROWID"
        )

    def _rows(self, columns: str, table: str, blobs) -> Iterator[tuple]:
        """``columns`` of ``table``'s rows of this version for ``blobs``, 500 at a time
        (within SQLite's bound-parameter limit)."""
        blobs = sorted(set(blobs))
        for i in range(0, len(blobs), 500):
            chunk = blobs[i: i + 500]
            yield from self.db.execute(
                f"SELECT {columns} FROM {table} WHERE version=? AND blob IN "
                f"({','.join('?' * len(chunk))})",
                (self.version, *chunk),
            )

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], ParseResult]:
        out: dict[tuple[str, str], ParseResult] = {}
        for blob, lang, payload in self._rows("blob, lang, payload", "parsed",
                                              (b for b, _ in keys)):
            skip, err, imps, decls = json.loads(payload)
            out[(blob, lang)] = (skip, err, [tuple(t) for t in imps], decls)
        return out

    def put_many(self, items: list[tuple[str, str, ParseResult]]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO parsed VALUES (?, ?, ?, ?)",
                [(b, lang, self.version, json.dumps(r)) for b, lang, r in items],
            )

    def get_words(self, blobs: list[str]) -> dict[str, dict[str, int]]:
        return {blob: json.loads(payload)
                for blob, payload in self._rows("blob, payload", "words", blobs)}

    def put_words(self, items: list[tuple[str, dict[str, int]]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO words VALUES (?, ?, ?)",
                                [(b, self.version, json.dumps(w)) for b, w in items])

    def close(self) -> None:
        self.db.close()
