"""The answer cache: repeated and near-duplicate questions get the stored answer at once.

Owns ``KB_DIR/answers.sqlite`` (its own small file, so the knowledge base's schema in
``kb.sqlite`` stays untouched): question vectors, the answer as plain data, the
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
from pathlib import Path
from typing import Any

import numpy as np

from ragkit.errors import KnowledgeBaseError
from ragkit.pii import contains_pii, private_file

FILE_NAME = "answers.sqlite"


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

    def lookup(self, vector: np.ndarray, *, kb_version: int, scope: str,
               threshold: float) -> tuple[dict[str, Any], float] | None:
        """The stored answer whose question is most similar (cosine >= threshold), if any."""
        with self._lock:
            self._conn.execute("DELETE FROM answers WHERE kb_version != ?", (kb_version,))
            rows = self._conn.execute(
                "SELECT id, vector, answer FROM answers WHERE scope = ?", (scope,)).fetchall()
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
            self._conn.execute("UPDATE answers SET hits = hits + 1 WHERE id = ?", (rows[best][0],))
            return json.loads(rows[best][2]), float(sims[best])

    def put(self, vector: np.ndarray, question: str, answer: dict[str, Any], *,
            kb_version: int, scope: str) -> None:
        if contains_pii(question):  # a question with personal data is nobody else's answer
            return
        blob = np.asarray(vector, dtype=np.float32).reshape(-1).tobytes()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO answers (scope, kb_version, question, vector, answer, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (scope, kb_version, question, blob, json.dumps(answer, ensure_ascii=False),
                     time.time()))
                self._conn.execute(
                    "DELETE FROM answers WHERE id NOT IN (SELECT id FROM answers "
                    "ORDER BY created DESC, id DESC LIMIT ?)", (self.max_entries,))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM answers").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM answers")
