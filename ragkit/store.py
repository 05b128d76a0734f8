"""The knowledge base's SQLite database: schema, numbered migrations, and every read and write.

Owns: documents, chunks, the full-text (FTS5) table, the embedding cache (vectors keyed by the
hash of the exact text embedded and the embedder id), ingestion runs, and a monotonically
increasing ``kb_version`` bumped by every committed change. The database is the source of
truth: the FAISS index is derived from it and can always be rebuilt from stored vectors.

Does not own: parsing, chunking, embedding or the vector index, nor how the file is opened on
read-only or full storage and how its failures read (``ragkit.sqlite_file``). A store opened
where it cannot be written keeps the reason in ``read_only`` and raises it on the first write.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import sqlite_utils

from ragkit import runs, sqlite_file
from ragkit.errors import (
    DiskFullError,
    KnowledgeBaseCorruptError,
    KnowledgeBaseError,
    KnowledgeBaseReadOnlyError,
)
from ragkit.text import fts_query
from ragkit.types import Chunk


@runtime_checkable
class KnowledgeStore(Protocol):
    """What a knowledge base reads and writes through, whatever holds it: :class:`Store`
    (SQLite, beside a FAISS index) and ``ragkit.pgstore.PgStore`` (PostgreSQL + pgvector).
    ``tests/kb/test_backends.py`` is the conformance suite both pass."""

    read_only: KnowledgeBaseError | None

    @property
    def kb_version(self) -> int: ...
    def require_writable(self) -> None: ...
    def close(self) -> None: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def documents(self) -> dict[str, DocumentRow]: ...
    def replace_document(self, doc: DocumentRow, chunks: Sequence[Chunk],
                         embed_hashes: Sequence[str], fts_bodies: Sequence[str]) -> list[int]: ...
    def touch_document(self, path: str, mtime: float, source: str) -> None: ...
    def delete_document(self, path: str) -> list[int]: ...
    def chunks_by_vid(self, vids: Iterable[int]) -> dict[int, dict]: ...
    def document_chunks(self, doc_path: str) -> list[tuple[Chunk, str]]: ...
    def vector_space(self) -> tuple[str, int] | None: ...
    def sample_texts(self, n: int) -> list[str]: ...
    def first_chunks(self) -> dict[str, str]: ...
    def is_empty(self) -> bool: ...
    def counts(self) -> dict[str, int]: ...
    def keyword_search(self, terms: Sequence[str], limit: int) -> list[tuple[int, float]]: ...
    def cached_hashes(self, embedder: str, hashes: Iterable[str]) -> set[str]: ...
    def put_embeddings(self, embedder: str, hashes: Sequence[str],
                       vectors: np.ndarray) -> None: ...
    def get_vectors(self, embedder: str, hashes: Sequence[str]) -> np.ndarray: ...
    def prune_embeddings(self, embedder: str) -> int: ...
    def start_run(self) -> int: ...
    def finish_run(self, run_id: int, status: str, report: dict) -> None: ...
    def last_runs(self, n: int = 5) -> list[dict]: ...


def vector_id(chunk_id: str) -> int:
    """The int64 id a chunk has in the vector index: the first 60 bits of its hex id."""
    return int(chunk_id[:15], 16)


# The columns a hit is read from, aliased c = chunks and d = documents, in the order
# hit_rows() decodes them; both stores select these.
HIT_COLUMNS = ('c.vid, c.id, d.source, c.heading, c.page, c.text, c.start, c."end", '
               'c.title, d.kind')
_HIT_KEYS = ("vid", "id", "source", "heading", "page", "text", "start", "end", "title", "kind")
# The columns of a document's chunks, in the order chunk_pairs() decodes them.
CHUNK_COLUMNS = 'id, ordinal, text, start, "end", heading, page, title, embed_hash'
RUN_COLUMNS = "id, started_at, finished_at, status, report"


def hit_rows(rows: Iterable[Sequence]) -> dict[int, dict]:
    """Rows of ``HIT_COLUMNS`` as dicts by vid, the heading decoded from its JSON list."""
    out = {}
    for r in rows:
        row = dict(zip(_HIT_KEYS, r, strict=True))
        row["heading"] = tuple(json.loads(row["heading"]))
        out[row["vid"]] = row
    return out


def chunk_pairs(doc_path: str, rows: Iterable[Sequence]) -> list[tuple[Chunk, str]]:
    """Rows of ``CHUNK_COLUMNS`` as (chunk, hash of the text embedded for it)."""
    return [(Chunk(r[0], doc_path, r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6],
                   r[7]), r[8]) for r in rows]


def run_rows(rows: Iterable[Sequence]) -> list[dict]:
    """Rows of ``RUN_COLUMNS`` as dicts; a run still marked 'running' shows 'interrupted'
    when the process recorded with it is gone (``ragkit.runs``)."""
    out = []
    for r in rows:
        report = json.loads(r[4]) if r[4] else None
        status = r[3]
        if status == "running":  # report holds the process running it (start_run)
            status = runs.running_status(report or {})
            report = None
        out.append({"id": r[0], "started_at": r[1], "finished_at": r[2], "status": status,
                    "report": report})
    return out


@dataclass(frozen=True)
class DocumentRow:
    path: str  # absolute path: the identity of a document
    source: str  # display path used in citations
    kind: str
    title: str
    content_hash: str
    settings_hash: str
    mtime: float
    size: int
    n_chunks: int
    # when its content was last (re)indexed, set by the store; not part of its identity
    indexed_at: float = field(default=0.0, compare=False)


def _m1(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE documents (
            path TEXT PRIMARY KEY, source TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL,
            content_hash TEXT NOT NULL, settings_hash TEXT NOT NULL, mtime REAL NOT NULL,
            size INTEGER NOT NULL, n_chunks INTEGER NOT NULL, indexed_at REAL NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE chunks (
            id TEXT PRIMARY KEY, vid INTEGER NOT NULL UNIQUE,
            doc_path TEXT NOT NULL REFERENCES documents(path) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL,
            "end" INTEGER NOT NULL, heading TEXT NOT NULL, page INTEGER, title TEXT NOT NULL,
            embed_hash TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX chunks_doc ON chunks(doc_path, ordinal)")
    # rowid of the FTS table == chunks.vid, so keyword hits map straight back to chunks.
    db.execute(
        "CREATE VIRTUAL TABLE chunks_fts USING fts5(body, "
        "tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.execute(
        """CREATE TABLE embeddings (
            hash TEXT NOT NULL, embedder TEXT NOT NULL, vector BLOB NOT NULL,
            PRIMARY KEY (hash, embedder)) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL,
            status TEXT NOT NULL, report TEXT)"""
    )
    db.execute("INSERT INTO meta VALUES ('kb_version', '0')")


# Numbered migrations: index i holds the step from schema version i to i + 1. Append only.
MIGRATIONS = [_m1]
SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """A knowledge base's ``kb.sqlite``. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        # Why this store cannot be written (None when it can): raised by the first write.
        self.read_only: KnowledgeBaseError | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Store:
        """Open ``path`` read-write, or read-only where it cannot be written (see sqlite_file).

        ``create``: a missing or zero-byte file becomes a new database; otherwise it is refused.
        """
        sqlite_file.check_file(path, create)
        store = cls(path)
        if sqlite_file.writable(path):
            try:
                store._conn = sqlite_file.open_read_write(path)
                store._migrate()
                return store
            except (DiskFullError, KnowledgeBaseReadOnlyError) as e:
                store.close()
                if create and not path.exists():
                    raise
                store.read_only = e
        else:
            store.read_only = sqlite_file.read_only_error(path.parent)
        if not path.exists() or not path.stat().st_size:
            raise store.read_only
        store._conn = sqlite_file.open_read_only(path)
        try:
            store._check_schema()
        except BaseException:
            store.close()
            raise
        return store

    def require_writable(self) -> None:
        """Raise the reason this store cannot be written, if there is one."""
        if self.read_only is not None:
            raise self.read_only

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self.conn)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise KnowledgeBaseError(f"{self.path} is closed")
        return self._conn

    def _check_schema(self) -> int:
        """The schema version; refuses a newer ragkit's database or another program's."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise KnowledgeBaseError(
                f"{self.path} was written by a newer ragkit (schema {version}, this ragkit "
                f"knows up to {SCHEMA_VERSION}); upgrade ragkit with `pip install -U ragkit`"
            )
        tables = self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0 and tables:
            raise KnowledgeBaseCorruptError(
                f"{self.path} is a SQLite database but not a ragkit knowledge base; move it "
                f"aside and run {sqlite_file.rebuild_hint(self.path)} to build one"
            )
        if version < SCHEMA_VERSION and self.read_only is not None:
            raise KnowledgeBaseReadOnlyError(
                f"{self.path} needs upgrading to schema {SCHEMA_VERSION}, which needs write "
                f"access; run `ragkit status --kb {self.path.parent}` once where it is writable"
            )
        return version

    def _migrate(self) -> None:
        version = self._check_schema()
        for target in range(version, SCHEMA_VERSION):
            with self.transaction():
                MIGRATIONS[target](self.db)
                self.conn.execute(f"PRAGMA user_version = {target + 1}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything inside commits together or not at all."""
        self.require_writable()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:  # SQLite may have rolled back already (disk full)
                self.conn.execute("ROLLBACK")
            raise

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def kb_version(self) -> int:
        return int(self.get_meta("kb_version") or 0)

    def _bump_version(self) -> None:
        self.conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'kb_version'"
        )

    # -- documents and chunks ----------------------------------------------------------------
    def documents(self) -> dict[str, DocumentRow]:
        rows = self.conn.execute(
            "SELECT path, source, kind, title, content_hash, settings_hash, mtime, size, n_chunks,"
            " indexed_at FROM documents"
        ).fetchall()
        return {r[0]: DocumentRow(*r) for r in rows}

    def chunk_vids(self, doc_path: str) -> list[int]:
        rows = self.conn.execute("SELECT vid FROM chunks WHERE doc_path = ?", (doc_path,))
        return [r[0] for r in rows]

    def replace_document(
        self, doc: DocumentRow, chunks: Sequence[Chunk], embed_hashes: Sequence[str],
        fts_bodies: Sequence[str],
    ) -> list[int]:
        """Atomically replace a document and its chunks. Returns the vids it had before."""
        with self.transaction():
            old = self._delete_document(doc.path)
            self.conn.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc.path, doc.source, doc.kind, doc.title, doc.content_hash, doc.settings_hash,
                 doc.mtime, doc.size, len(chunks), time.time()),
            )
            for c, h, body in zip(chunks, embed_hashes, fts_bodies, strict=True):
                vid = vector_id(c.id)
                self.conn.execute(
                    "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (c.id, vid, doc.path, c.ordinal, c.text, c.start, c.end,
                     json.dumps(list(c.heading_path), ensure_ascii=False), c.page, c.title, h),
                )
                self.conn.execute("INSERT INTO chunks_fts(rowid, body) VALUES (?, ?)", (vid, body))
            self._bump_version()
        return old

    def touch_document(self, path: str, mtime: float, source: str) -> None:
        """Record a new mtime/display path for unchanged content (no version bump)."""
        self.conn.execute(
            "UPDATE documents SET mtime = ?, source = ? WHERE path = ?", (mtime, source, path)
        )

    def delete_document(self, path: str) -> list[int]:
        with self.transaction():
            vids = self._delete_document(path)
            self._bump_version()
        return vids

    def _delete_document(self, path: str) -> list[int]:
        vids = self.chunk_vids(path)
        self.conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(v,) for v in vids])
        self.conn.execute("DELETE FROM chunks WHERE doc_path = ?", (path,))
        self.conn.execute("DELETE FROM documents WHERE path = ?", (path,))
        return vids

    def chunks_by_vid(self, vids: Iterable[int]) -> dict[int, dict]:
        vids = list(vids)
        if not vids:
            return {}
        marks = ",".join("?" * len(vids))
        return hit_rows(self.conn.execute(
            f"SELECT {HIT_COLUMNS} FROM chunks c JOIN documents d ON d.path = c.doc_path "
            f"WHERE c.vid IN ({marks})", vids))

    def document_chunks(self, doc_path: str) -> list[tuple[Chunk, str]]:
        """A document's chunks in order, each with the hash of the text embedded for it."""
        return chunk_pairs(doc_path, self.conn.execute(
            f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE doc_path = ? ORDER BY ordinal",
            (doc_path,)))

    def vector_space(self) -> tuple[str, int] | None:
        """(embedder id, dimension) of the stored vectors the chunks use (the most common,
        should two embedders' vectors be cached), or None when no chunk has one."""
        row = self.conn.execute(
            "SELECT e.embedder, length(e.vector) / 4 FROM chunks c JOIN embeddings e "
            "ON e.hash = c.embed_hash GROUP BY e.embedder ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        return (row[0], int(row[1])) if row else None

    def first_chunks(self) -> dict[str, str]:
        """The text of each document's first chunk, by document path (one query)."""
        return dict(self.conn.execute(
            "SELECT doc_path, text FROM chunks WHERE ordinal = 0").fetchall())

    def sample_texts(self, n: int) -> list[str]:
        """Up to ``n`` chunk texts spread evenly over the store (all of them when fewer)."""
        total = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        step = max(1, -(-total // max(1, n)))
        rows = self.conn.execute(
            "SELECT text FROM (SELECT text, row_number() OVER (ORDER BY vid) AS i FROM chunks) "
            "WHERE (i - 1) % ? = 0 LIMIT ?", (step, n)).fetchall()
        return [r[0] for r in rows]

    def is_empty(self) -> bool:
        """Whether no chunk is stored (no document indexed, or every one removed)."""
        return self.conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def counts(self) -> dict[str, int]:
        one = self.conn.execute
        return {
            "documents": one("SELECT count(*) FROM documents").fetchone()[0],
            "chunks": one("SELECT count(*) FROM chunks").fetchone()[0],
            "cached_embeddings": one("SELECT count(*) FROM embeddings").fetchone()[0],
        }

    # -- keyword search ----------------------------------------------------------------------
    def keyword_search(self, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """(vid, bm25 score; higher is better) for chunks matching any term, best first."""
        query = fts_query(list(terms))
        if not query:
            return []
        rows = self.conn.execute(
            "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY s LIMIT ?",
            (query, limit),
        ).fetchall()
        return [(r[0], -float(r[1])) for r in rows]

    # -- embedding cache ---------------------------------------------------------------------
    def _cached(self, embedder: str, hashes: Iterable[str], columns: str) -> list[tuple]:
        """``columns`` of the cached embeddings among ``hashes`` (queried in batches)."""
        unique = list(dict.fromkeys(hashes))
        rows: list[tuple] = []
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            marks = ",".join("?" * len(part))
            rows += self.conn.execute(
                f"SELECT {columns} FROM embeddings WHERE embedder = ? AND hash IN ({marks})",
                [embedder, *part],
            )
        return rows

    def cached_hashes(self, embedder: str, hashes: Iterable[str]) -> set[str]:
        return {r[0] for r in self._cached(embedder, hashes, "hash")}

    def put_embeddings(self, embedder: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                [(h, embedder, v.tobytes()) for h, v in zip(hashes, vectors, strict=True)],
            )

    def get_vectors(self, embedder: str, hashes: Sequence[str]) -> np.ndarray:
        """Cached vectors for ``hashes``, in order; every hash must be cached."""
        found: dict[str, bytes] = dict(self._cached(embedder, hashes, "hash, vector"))
        missing = [h for h in dict.fromkeys(hashes) if h not in found]
        if missing:
            raise KnowledgeBaseError(f"{len(missing)} embeddings missing from the cache")
        if not hashes:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([np.frombuffer(found[h], dtype=np.float32) for h in hashes])

    def stored_vectors(self, embedder: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(vids, vectors) for every chunk, from the embedding cache: rebuilds the index."""
        rows = self.conn.execute(
            "SELECT c.vid, e.vector FROM chunks c JOIN embeddings e "
            "ON e.hash = c.embed_hash AND e.embedder = ? ORDER BY c.vid",
            (embedder,),
        ).fetchall()
        vids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
        missing = self.conn.execute(
            "SELECT count(*) FROM chunks c LEFT JOIN embeddings e "
            "ON e.hash = c.embed_hash AND e.embedder = ? WHERE e.hash IS NULL",
            (embedder,),
        ).fetchone()[0]
        if missing:
            raise KnowledgeBaseError(
                f"{missing} chunks have no stored vector for embedder {embedder!r}; "
                "run `ragkit index --kb DIR --rebuild` to re-embed them"
            )
        return vids, vecs

    def prune_embeddings(self, embedder: str) -> int:
        """Drop cached vectors no chunk uses any more."""
        with self.transaction():
            cur = self.conn.execute(
                "DELETE FROM embeddings WHERE embedder = ? AND hash NOT IN "
                "(SELECT embed_hash FROM chunks)",
                (embedder,),
            )
        return cur.rowcount

    # -- runs --------------------------------------------------------------------------------
    def start_run(self) -> int:
        """Record a run by this process. Call it holding the write lock: any run still marked
        'running' then belongs to a process that died (kill -9, power loss)."""
        self.conn.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        cur = self.conn.execute(
            "INSERT INTO runs (started_at, status, report) VALUES (?, 'running', ?)",
            (time.time(), json.dumps(runs.this_process())),
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, report: dict) -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, report = ? WHERE id = ?",
            (time.time(), status, json.dumps(report, ensure_ascii=False), run_id),
        )

    def last_runs(self, n: int = 5) -> list[dict]:
        return run_rows(self.conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (n,)))
