"""The answer cache: repeated and near-duplicate questions get the stored answer at once.

Owns ``KB_DIR/answers.sqlite`` (its own small file, so the knowledge base's schema in
``kb.sqlite`` stays untouched), or for a knowledge base in PostgreSQL an ``answers`` table in
its schema (every app process on that URL shares it): question vectors, the answer as plain data, the
``kb_version`` it was made under and a scope (generator and settings). A lookup first deletes
every entry made under another ``kb_version``, so any sync that changes content invalidates
the cache. The graph never consults it for a follow-up question (one with history).

Does not embed questions or build answers; it receives vectors and plain dicts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ragkit.errors import KnowledgeBaseError
from ragkit.pii import contains_pii, private_file

FILE_NAME = "answers.sqlite"


def open_cache(kb, max_entries: int) -> AnswerCache:
    """The answer cache of knowledge base ``kb``: beside its files, or in its Postgres
    schema when it lives in PostgreSQL."""
    from ragkit.pgstore import PgStore

    if isinstance(kb.store, PgStore):
        return PgAnswerCache(kb.store.url, max_entries)
    return AnswerCache.for_kb(kb.dir, max_entries)


class AnswerCache:
    def __init__(self, path: Path, max_entries: int = 2000) -> None:
        self.path = path
        self.max_entries = max_entries
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(str(private_file(path)), check_same_thread=False,
                                         timeout=30,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY, scope TEXT NOT NULL,"
                " kb_version INTEGER NOT NULL, question TEXT NOT NULL, vector BLOB NOT NULL,"
                " answer TEXT NOT NULL, created REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0)")
        except sqlite3.Error as e:
            raise KnowledgeBaseError(f"cannot open the answer cache {path} ({e}); check that "
                                     "the knowledge base directory is writable") from None

    @classmethod
    def for_kb(cls, kb_dir: Path, max_entries: int) -> AnswerCache:
        return cls(Path(kb_dir) / FILE_NAME, max_entries)

    def close(self) -> None:
        self._conn.close()

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._conn.execute(sql, args).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def lookup(self, vector: np.ndarray, *, kb_version: int, scope: str,
               threshold: float) -> tuple[dict[str, Any], float] | None:
        """The stored answer whose question is most similar (cosine >= threshold), if any."""
        with self._lock:
            self._run("DELETE FROM answers WHERE kb_version != ?", (kb_version,))
            rows = self._run("SELECT id, vector, answer FROM answers WHERE scope = ?", (scope,))
            if not rows:
                return None
            mat = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            q = np.asarray(vector, dtype=np.float32).reshape(-1)
            if mat.shape[1] != q.shape[0]:
                return None
            sims = mat @ q / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q) + 1e-12)
            best = int(np.argmax(sims))
            if float(sims[best]) < threshold:
                return None
            self._run("UPDATE answers SET hits = hits + 1 WHERE id = ?", (rows[best][0],))
            return json.loads(rows[best][2]), float(sims[best])

    def put(self, vector: np.ndarray, question: str, answer: dict[str, Any], *,
            kb_version: int, scope: str) -> None:
        if contains_pii(question):  # a question with personal data is nobody else's answer
            return
        blob = np.asarray(vector, dtype=np.float32).reshape(-1).tobytes()
        with self._lock, self._transaction():
            self._run(
                "INSERT INTO answers (scope, kb_version, question, vector, answer, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (scope, kb_version, question, blob, json.dumps(answer, ensure_ascii=False),
                 time.time()))
            self._run(
                "DELETE FROM answers WHERE id NOT IN (SELECT id FROM answers "
                "ORDER BY created DESC, id DESC LIMIT ?)", (self.max_entries,))

    def count(self) -> int:
        with self._lock:
            return int(self._run("SELECT count(*) FROM answers")[0][0])

    def clear(self) -> None:
        with self._lock:
            self._run("DELETE FROM answers")


class PgAnswerCache(AnswerCache):
    """The same cache as a table in the knowledge base's Postgres schema."""

    def __init__(self, url, max_entries: int = 2000) -> None:  # url: ragkit.pgstore.PgUrl
        from ragkit.pgstore import connect

        self.path = url.shown
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._conn = connect(url, vectors=False, options=f"-c search_path={url.schema}")
        with self._transaction():  # two processes creating it at once would collide
            self._run("SELECT pg_advisory_xact_lock(hashtext(?))", (f"ragkit-answers:{url.schema}",))
            self._run(
                "CREATE TABLE IF NOT EXISTS answers (id BIGSERIAL PRIMARY KEY, scope TEXT NOT "
                "NULL, kb_version BIGINT NOT NULL, question TEXT NOT NULL, vector BYTEA NOT "
                "NULL, answer TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, "
                "hits INTEGER NOT NULL DEFAULT 0)")

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        cur = self._conn.execute(sql.replace("?", "%s"), args)
        return cur.fetchall() if cur.description else []

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield
