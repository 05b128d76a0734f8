"""A knowledge base in PostgreSQL + pgvector: the same store as ``ragkit.store``, on a server.

Selected by a URL instead of a directory: ``postgresql://user@host:5432/db?schema=NAME`` (the
schema defaults to ``ragkit``; one knowledge base per schema). Several processes on several
machines may open the same URL: they read each other's commits at once, and writers are
serialised by a Postgres advisory lock per knowledge base (freed by the server when a writer's
connection dies), not by a file lock.

Owns: the schema and its numbered migrations, every read and write, the settings row (what
``ragkit.json`` holds for a directory), vectors in a pgvector column of ``chunks`` with an HNSW
(default) or IVFFlat index, and keyword search in Postgres full-text search over the same
jieba-segmented text the SQLite store indexes (``english`` configuration: English words are
stemmed, Chinese words are kept whole). The FAISS index of a directory has no counterpart: the
vectors are written in the same transaction as their chunk, so there is nothing to rebuild.

Does not own: parsing, chunking, embedding, ranking fusion (``ragkit.retriever``), or the sync
logic (``ragkit.kb``).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from ragkit import runs
from ragkit.config import IndexConfig
from ragkit.errors import ConfigError, KnowledgeBaseError, KnowledgeBaseLockedError
from ragkit.store import (
    CHUNK_COLUMNS,
    HIT_COLUMNS,
    RUN_COLUMNS,
    DocumentRow,
    chunk_pairs,
    hit_rows,
    run_rows,
    vector_id,
)
from ragkit.types import Chunk

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "ragkit"
FTS_CONFIG = "english"  # migration 1 only; migration 2 indexes with {schema}.keywords
CONNECT_TIMEOUT_S = 10
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_url(location: object) -> bool:
    """Whether ``location`` (a ``--kb`` value) names a Postgres knowledge base."""
    return isinstance(location, str) and location.lower().startswith(SCHEMES)


@dataclass(frozen=True)
class PgUrl:
    """A parsed ``--kb`` URL: what libpq connects to, and the schema holding the KB."""

    conninfo: str  # the URL without ragkit's own ``schema`` parameter
    schema: str
    shown: str  # for messages: the URL with any password replaced by ***

    @classmethod
    def parse(cls, url: str) -> PgUrl:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        schema = schemas[-1] if schemas else DEFAULT_SCHEMA
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(
                f"bad schema {schema!r} in {cls._mask(parts)}: use lower-case letters, digits "
                "and _ (at most 63, not starting with a digit), e.g. ?schema=support_kb")
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        return cls(conninfo, schema, cls._mask(parts))

    @staticmethod
    def _mask(parts) -> str:
        netloc = parts.netloc
        if parts.password:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    @property
    def slug(self) -> str:
        """A file-name-safe name for this knowledge base (local side files)."""
        parts = urlsplit(self.conninfo)
        host = parts.hostname or "local"
        if host.startswith("/"):
            host = "socket"
        db = parts.path.strip("/") or "postgres"
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{host}-{parts.port or 5432}-{db}-{self.schema}")


def side_folder(url: PgUrl) -> Path:
    """This machine's folder for a Postgres knowledge base's side files (uploads, the
    guard's word lists and audit trail)."""
    from ragkit.config import ragkit_home

    return ragkit_home() / "postgres" / url.slug


def _m1(cur: psycopg.Cursor, s: str) -> None:
    cur.execute(f"CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    cur.execute(
        f"""CREATE TABLE {s}.documents (
            path TEXT PRIMARY KEY, source TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL,
            content_hash TEXT NOT NULL, settings_hash TEXT NOT NULL,
            mtime DOUBLE PRECISION NOT NULL, size BIGINT NOT NULL, n_chunks INTEGER NOT NULL,
            indexed_at DOUBLE PRECISION NOT NULL)""")
    # ``embedding`` gets its dimension (and its index) from the first sync: see set_space.
    cur.execute(
        f"""CREATE TABLE {s}.chunks (
            id TEXT PRIMARY KEY, vid BIGINT NOT NULL UNIQUE,
            doc_path TEXT NOT NULL REFERENCES {s}.documents(path) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL,
            "end" INTEGER NOT NULL, heading TEXT NOT NULL, page INTEGER, title TEXT NOT NULL,
            embed_hash TEXT NOT NULL, body TEXT NOT NULL,
            fts TSVECTOR GENERATED ALWAYS AS (to_tsvector('{FTS_CONFIG}', body)) STORED,
            embedding vector)""")
    cur.execute(f"CREATE INDEX chunks_doc ON {s}.chunks (doc_path, ordinal)")
    cur.execute(f"CREATE INDEX chunks_fts ON {s}.chunks USING gin (fts)")
    cur.execute(
        f"""CREATE TABLE {s}.embeddings (
            hash TEXT NOT NULL, embedder TEXT NOT NULL, vector vector NOT NULL,
            PRIMARY KEY (hash, embedder))""")
    cur.execute(
        f"""CREATE TABLE {s}.runs (
            id BIGSERIAL PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION, status TEXT NOT NULL, report TEXT)""")
    cur.execute(f"INSERT INTO {s}.meta VALUES ('kb_version', '0')")


# Numbered migrations: index i holds the step from schema version i to i + 1. Append only.
def _m2(cur: psycopg.Cursor, s: str) -> None:
    """Keyword search keeps stopwords, as FTS5 does: English stemming without a stopword
    list (``{s}.keywords``), so both backends count the same words of a query and a chunk."""
    cur.execute(f"CREATE TEXT SEARCH DICTIONARY {s}.english_stem_all "
                "(TEMPLATE = snowball, Language = english)")
    cur.execute(f"CREATE TEXT SEARCH CONFIGURATION {s}.keywords (COPY = english)")
    cur.execute(f"ALTER TEXT SEARCH CONFIGURATION {s}.keywords "
                f"ALTER MAPPING REPLACE english_stem WITH {s}.english_stem_all")
    cur.execute(f"DROP INDEX {s}.chunks_fts")
    cur.execute(f"ALTER TABLE {s}.chunks DROP COLUMN fts")
    cur.execute(f"ALTER TABLE {s}.chunks ADD COLUMN fts TSVECTOR GENERATED ALWAYS AS "
                f"(to_tsvector('{s}.keywords'::regconfig, body)) STORED")
    cur.execute(f"CREATE INDEX chunks_fts ON {s}.chunks USING gin (fts)")


MIGRATIONS = [_m1, _m2]
SCHEMA_VERSION = len(MIGRATIONS)


# Where each filter key lives (``ragkit.retriever.Filter``), as the hit shows it: c = chunks,
# d = documents. The heading is stored as a JSON list and shown joined with " > ".
_FILTER_SQL = {
    "source": "d.source", "kind": "d.kind", "title": "c.title",
    "heading": "array_to_string(ARRAY(SELECT json_array_elements_text(c.heading::json)), ' > ')",
    "page": "coalesce(c.page::text, '')",
}


def _where(filters: Sequence[Any]) -> tuple[str, list[str]]:
    """`` AND ...`` conditions (``LIKE``) and their parameters for filters that have a LIKE
    pattern (``Filter.like``); the retriever applies the others to the hits."""
    conds, params = [], []
    for f in filters:
        if f.like is not None:
            conds.append(f"{_FILTER_SQL[f.key]} LIKE %s ESCAPE '\\'")
            params.append(f.like)
    return "".join(f" AND {c}" for c in conds), params


_BM25_K1, _BM25_B = 1.2, 0.75  # FTS5's bm25() defaults, so both backends rank alike
_LENGTH_SAMPLE = 20_000
# A chunk's length in tokens: the last position in its tsvector (stopwords keep their places).
_LAST_POSITION = "coalesce((SELECT max(p) FROM unnest(c.fts) u, unnest(u.positions) p), 1)"


def _tsquery_literal(lexeme: str) -> str:
    """``lexeme`` as a one-lexeme tsquery constant (cast, not parsed again by a config)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def connect(url: PgUrl, *, vectors: bool = True, **options: Any) -> psycopg.Connection:
    """An autocommit connection (with pgvector's types registered unless not ``vectors``),
    or a one-line error. ``options`` go to ``psycopg.connect``."""
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError:
        raise ConfigError("a postgresql:// knowledge base needs the Postgres client libraries: "
                          "pip install 'ragkit[postgres]'") from None
    try:
        conn = psycopg.connect(url.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="ragkit", **options)
    except psycopg.OperationalError as e:
        raise KnowledgeBaseError(
            f"cannot connect to PostgreSQL at {url.shown} ({_first_line(e)}); check the URL "
            "(postgresql://USER[:PASSWORD]@HOST:PORT/DB?schema=NAME) and that the server is "
            "running and reachable") from None
    except psycopg.ProgrammingError as e:  # a URL libpq cannot parse
        raise ConfigError(f"bad PostgreSQL URL {url.shown} ({_first_line(e)}); use "
                          "postgresql://USER[:PASSWORD]@HOST:PORT/DB?schema=NAME") from None
    if not vectors:
        return conn
    try:
        _ensure_pgvector(conn, url)
        register_vector(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def checkpointer(url: PgUrl, schema: str, serde: Any, tables: Sequence[str] = ()
                 ) -> tuple[Any, psycopg.Connection, psycopg.Connection]:
    """LangGraph's ``PostgresSaver`` with its tables in ``schema`` (made if missing), plus a
    second connection on that schema for the caller's own bookkeeping, whose ``tables``
    (CREATE TABLE statements) are made in the same step. Returns (saver, the saver's
    connection, the bookkeeping connection).

    One process sets the tables up at a time, under a session advisory lock: a lock held by a
    transaction would deadlock, as LangGraph's CREATE INDEX CONCURRENTLY waits for every
    open transaction."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    conn = connect(url, vectors=False)
    saver_conn = None
    key = (f"ragkit-checkpoints:{schema}",)
    try:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", key)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"SET search_path = {schema}")
        saver_conn = connect(url, vectors=False, prepare_threshold=0, row_factory=dict_row,
                             options=f"-c search_path={schema}")
        saver = PostgresSaver(saver_conn, serde=serde)
        saver.setup()
        for ddl in tables:
            conn.execute(ddl)
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", key)
    except BaseException:
        for c in (saver_conn, conn):  # closing a connection frees its session lock
            if c is not None:
                c.close()
        raise
    return saver, saver_conn, conn


def _ensure_pgvector(conn: psycopg.Connection, url: PgUrl) -> None:
    import psycopg

    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if not available:
        raise KnowledgeBaseError(
            f"the PostgreSQL server at {url.shown} has no pgvector extension; install it on the "
            "server (https://github.com/pgvector/pgvector, e.g. the postgresql-16-pgvector "
            "package) or run a server that has it (pip install pgserver)")
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege:
        db = urlsplit(url.conninfo).path.strip("/") or "the database"
        raise KnowledgeBaseError(
            f"pgvector is installed on {url.shown} but not enabled in {db}, and this user may "
            f"not enable it; ask an administrator to run CREATE EXTENSION vector in {db}"
        ) from None
    except psycopg.errors.UniqueViolation:  # another process created it at the same moment
        pass


def _array(v: Any) -> np.ndarray:
    """A float32 array from what pgvector's adapter returns (an array, or a ``Vector``)."""
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


class PgStore:
    """One knowledge base in one Postgres schema. Open with :meth:`open`; close with
    :meth:`close`. Safe to share between threads (statements are serialised)."""

    holds_vectors = True  # vectors live beside their chunks: no separate index to keep
    read_only: KnowledgeBaseError | None = None

    def __init__(self, url: PgUrl, conn: psycopg.Connection) -> None:
        self.url = url
        self.s = url.schema  # checked against _SCHEMA_NAME: safe to put in SQL text
        self._conn: psycopg.Connection | None = conn
        self._lock = threading.RLock()
        self._space: tuple[str, int] | None = None  # (embedder id, dim) of stored vectors
        # (kb_version, (chunks, mean chunk length)) for BM25
        self._counted: tuple[str, tuple[int, float]] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, url: PgUrl, *, create: bool = False, missing_ok: bool = False) -> PgStore:
        """Connect and bring the schema up to date; ``create`` makes the knowledge base if
        the schema holds none (``missing_ok``: leave it missing, and :meth:`settings` None)."""
        store = cls(url, connect(url))
        try:
            if not (missing_ok and not store._exists()):
                store._migrate(create)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def require_writable(self) -> None:
        return None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            raise KnowledgeBaseError(f"{self.url.shown} is closed")
        if self._conn.broken:  # the server restarted or the network dropped: connect again
            self._conn.close()
            self._conn = connect(self.url)
        return self._conn

    @property
    def location(self) -> str:
        return self.url.shown

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        import psycopg

        with self._lock:
            try:
                cur = self.conn.execute(sql, params)
                return cur.fetchall() if cur.description else []
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                raise self._lost(e) from None

    def _lost(self, e: BaseException) -> KnowledgeBaseError:
        return KnowledgeBaseError(
            f"lost the connection to PostgreSQL at {self.url.shown} ({_first_line(e)}); "
            "every committed change is kept: once the server is back, run the command again")

    def _exists(self) -> bool:
        return bool(self._exec("SELECT to_regclass(%s) IS NOT NULL", (f"{self.s}.meta",))[0][0])

    def _version(self) -> int:
        row = self._exec(f"SELECT value FROM {self.s}.meta WHERE key = 'schema_version'")
        return int(row[0][0]) if row else 0

    def _migrate(self, create: bool) -> None:
        if not self._exists():
            if not create:
                raise KnowledgeBaseError(
                    f"no knowledge base at {self.url.shown}; create one with "
                    f"`ragkit index PATH --kb '{self.url.shown}'`")
        elif self._version() > SCHEMA_VERSION:
            raise KnowledgeBaseError(
                f"{self.url.shown} was written by a newer ragkit (schema {self._version()}, "
                f"this ragkit knows up to {SCHEMA_VERSION}); upgrade ragkit with "
                "`pip install -U ragkit`")
        elif self._version() == SCHEMA_VERSION:
            return
        with self.transaction() as cur:
            # one migrating process at a time; the others find the work done
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ragkit-ddl:{self.s}",))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.s}")
            version = 0
            if cur.execute("SELECT to_regclass(%s) IS NOT NULL",
                           (f"{self.s}.meta",)).fetchone()[0]:
                row = cur.execute(
                    f"SELECT value FROM {self.s}.meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            for target in range(version, SCHEMA_VERSION):
                MIGRATIONS[target](cur, self.s)
                cur.execute(
                    f"INSERT INTO {self.s}.meta VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(target + 1),))

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor]:
        """One atomic write: everything inside commits together or not at all."""
        import psycopg

        with self._lock:
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    yield cur
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                raise self._lost(e) from None

    @contextmanager
    def write_lock(self, wait_s: float, waiting: Any = None) -> Iterator[None]:
        """Hold this knowledge base's writer lock (a session advisory lock on a connection of
        its own, so the server frees it when this process dies). Waits up to ``wait_s``
        seconds for another writer, calling ``waiting()`` once if it has to."""
        conn = connect(self.url)
        key = f"ragkit-write:{self.s}"
        try:
            deadline = time.monotonic() + wait_s
            told = False
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                   (key,)).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise KnowledgeBaseLockedError(
                        f"another process is writing to {self.url.shown}; wait for it to finish "
                        "(the lock is released when that process exits or disconnects)")
                if not told and waiting is not None:
                    waiting()
                    told = True
                time.sleep(0.2)
            yield
        finally:
            conn.close()  # releases the lock

    # -- settings and meta -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._exec(f"SELECT value FROM {self.s}.meta WHERE key = %s", (key,))
        return row[0][0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._exec(f"INSERT INTO {self.s}.meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                   "SET value = EXCLUDED.value", (key, value))

    def settings(self) -> dict | None:
        if not self._exists():
            return None
        raw = self.get_meta("settings")
        return json.loads(raw) if raw else None

    def save_settings(self, data: dict) -> None:
        """Record the knowledge base's settings once, at creation (first writer wins)."""
        self._exec(f"INSERT INTO {self.s}.meta VALUES ('settings', %s) ON CONFLICT DO NOTHING",
                   (json.dumps(data),))

    @property
    def kb_version(self) -> int:
        return int(self.get_meta("kb_version") or 0)

    def _bump_version(self, cur: psycopg.Cursor) -> None:
        cur.execute(f"UPDATE {self.s}.meta SET value = (value::bigint + 1)::text "
                    "WHERE key = 'kb_version'")

    # -- the vector space --------------------------------------------------------------------
    def vector_space(self) -> tuple[str, int] | None:
        """(embedder id, dimension) of the stored vectors, once a sync has set them."""
        if self._space is None:
            emb, dim = self.get_meta("embedder"), self.get_meta("dim")
            if emb is not None and dim is not None:
                self._space = (emb, int(dim))
        return self._space

    def set_space(self, embedder_id: str, dim: int, index: IndexConfig, *,
                  rebuild: bool = False) -> None:
        """Fix the embedder and dimension of this knowledge base's vectors (first sync), or
        check them; with ``rebuild`` a same-dimension embedder may replace the stored one
        (every document is then re-embedded)."""
        have = self.vector_space()
        if have == (embedder_id, dim):
            return
        if have is not None and have[1] != dim:
            raise KnowledgeBaseError(
                f"{self.url.shown} holds {have[1]}-dimensional vectors from {have[0]}, and this "
                f"embedder ({embedder_id}) makes {dim}; open it with {have[0]} or index into a "
                "new ?schema=")
        if have is not None and not rebuild and not self.is_empty():
            raise KnowledgeBaseError(
                f"{self.url.shown} holds vectors from {have[0]}, not {embedder_id}; re-embed "
                f"with `ragkit index PATH --kb '{self.url.shown}' --rebuild`")
        s = self.s
        with self.transaction() as cur:
            if have is None:
                cur.execute(f"ALTER TABLE {s}.chunks ALTER COLUMN embedding TYPE vector({dim})")
                if index.type == "hnsw":
                    cur.execute(
                        f"CREATE INDEX chunks_embedding ON {s}.chunks USING hnsw "
                        f"(embedding vector_ip_ops) WITH (m = {int(index.hnsw_m)}, "
                        f"ef_construction = {int(index.hnsw_ef_construction)})")
            cur.execute(f"INSERT INTO {s}.meta VALUES ('embedder', %s), ('dim', %s) ON CONFLICT "
                        "(key) DO UPDATE SET value = EXCLUDED.value", (embedder_id, str(dim)))
        self._space = (embedder_id, dim)

    def ensure_ivf(self, index: IndexConfig) -> None:
        """Build the IVFFlat index once the table has rows to train its lists on."""
        if index.type != "ivf" or self._exec("SELECT to_regclass(%s) IS NOT NULL",
                                              (f"{self.s}.chunks_embedding",))[0][0]:
            return
        n = self._exec(f"SELECT count(*) FROM {self.s}.chunks")[0][0]
        if not n:
            return
        lists = index.ivf_nlist or max(1, int(4 * n ** 0.5))
        self._exec(f"CREATE INDEX IF NOT EXISTS chunks_embedding ON {self.s}.chunks USING "
                   f"ivfflat (embedding vector_ip_ops) WITH (lists = {int(lists)})")

    def vector_search(self, vectors: np.ndarray, k: int, embedder_id: str,
                      index: IndexConfig, filters: Sequence[Any] = ()
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, vids) of the ``k`` nearest chunks by inner product, shaped like FAISS's
        answer (-1 where fewer exist), among the chunks ``filters`` allow (in SQL). An
        approximate index filters what its scan found, so when that leaves fewer than ``k``
        the search is repeated exactly."""
        have = self.vector_space()
        if have is not None and have[0] != embedder_id:
            raise KnowledgeBaseError(
                f"{self.url.shown} holds vectors from {have[0]}, not {embedder_id}; open it "
                f"with that embedder or re-embed with `ragkit index PATH --kb "
                f"'{self.url.shown}' --rebuild`")
        q = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        if have is None:
            return scores, ids
        where, params = _where(filters)
        sql = (f"SELECT c.vid, -(c.embedding <#> %s) FROM {self.s}.chunks c "
               + (f"JOIN {self.s}.documents d ON d.path = c.doc_path WHERE TRUE{where} "
                  if where else "")
               + "ORDER BY c.embedding <#> %s LIMIT %s")
        with self.transaction() as cur:
            if index.type == "hnsw":
                cur.execute(f"SET LOCAL hnsw.ef_search = {max(int(index.hnsw_ef_search), k)}")
            elif index.type == "ivf":
                cur.execute(f"SET LOCAL ivfflat.probes = {int(index.ivf_nprobe)}")
            for i, v in enumerate(q):
                rows = cur.execute(sql, (v, *params, v, k)).fetchall()
                if where and len(rows) < k and index.type != "flat":
                    cur.execute("SET LOCAL enable_indexscan = off")  # exact, filtered
                    rows = cur.execute(sql, (v, *params, v, k)).fetchall()
                    cur.execute("SET LOCAL enable_indexscan = on")
                for j, (vid, score) in enumerate(rows):
                    ids[i, j], scores[i, j] = vid, score
        return scores, ids

    # -- documents and chunks ----------------------------------------------------------------
    def documents(self) -> dict[str, DocumentRow]:
        rows = self._exec(
            "SELECT path, source, kind, title, content_hash, settings_hash, mtime, size, "
            f"n_chunks, indexed_at FROM {self.s}.documents")
        return {r[0]: DocumentRow(*r) for r in rows}

    def chunk_vids(self, doc_path: str) -> list[int]:
        return [r[0] for r in self._exec(
            f"SELECT vid FROM {self.s}.chunks WHERE doc_path = %s", (doc_path,))]

    def replace_document(self, doc: DocumentRow, chunks: Sequence[Chunk],
                         embed_hashes: Sequence[str], fts_bodies: Sequence[str]) -> list[int]:
        """Atomically replace a document, its chunks and their vectors (taken from the
        embedding cache). Returns the vids it had before."""
        s, space = self.s, self.vector_space()
        with self.transaction() as cur:
            old = [r[0] for r in cur.execute(
                f"DELETE FROM {s}.chunks WHERE doc_path = %s RETURNING vid", (doc.path,))]
            cur.execute(f"DELETE FROM {s}.documents WHERE path = %s", (doc.path,))
            cur.execute(
                f"INSERT INTO {s}.documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (doc.path, doc.source, doc.kind, doc.title, doc.content_hash, doc.settings_hash,
                 doc.mtime, doc.size, len(chunks), time.time()))
            cur.executemany(
                f"INSERT INTO {s}.chunks (id, vid, doc_path, ordinal, text, start, \"end\", "
                "heading, page, title, embed_hash, body) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(c.id, vector_id(c.id), doc.path, c.ordinal, c.text, c.start, c.end,
                  json.dumps(list(c.heading_path), ensure_ascii=False), c.page, c.title, h, body)
                 for c, h, body in zip(chunks, embed_hashes, fts_bodies, strict=True)])
            if space is not None:
                cur.execute(
                    f"UPDATE {s}.chunks c SET embedding = e.vector FROM {s}.embeddings e "
                    "WHERE c.doc_path = %s AND e.hash = c.embed_hash AND e.embedder = %s",
                    (doc.path, space[0]))
            self._bump_version(cur)
        return old

    def touch_document(self, path: str, mtime: float, source: str) -> None:
        """Record a new mtime/display path for unchanged content (no version bump)."""
        self._exec(f"UPDATE {self.s}.documents SET mtime = %s, source = %s WHERE path = %s",
                   (mtime, source, path))

    def delete_document(self, path: str) -> list[int]:
        with self.transaction() as cur:
            vids = [r[0] for r in cur.execute(
                f"DELETE FROM {self.s}.chunks WHERE doc_path = %s RETURNING vid", (path,))]
            cur.execute(f"DELETE FROM {self.s}.documents WHERE path = %s", (path,))
            self._bump_version(cur)
        return vids

    def chunks_by_vid(self, vids: Iterable[int]) -> dict[int, dict]:
        vids = [int(v) for v in vids]
        if not vids:
            return {}
        return hit_rows(self._exec(
            f"SELECT {HIT_COLUMNS} FROM {self.s}.chunks c JOIN {self.s}.documents d "
            "ON d.path = c.doc_path WHERE c.vid = ANY(%s)", (vids,)))

    def document_chunks(self, doc_path: str) -> list[tuple[Chunk, str]]:
        """A document's chunks in order, each with the hash of the text embedded for it."""
        return chunk_pairs(doc_path, self._exec(
            f"SELECT {CHUNK_COLUMNS} FROM {self.s}.chunks WHERE doc_path = %s ORDER BY ordinal",
            (doc_path,)))

    def first_chunks(self) -> dict[str, str]:
        """The text of each document's first chunk, by document path (one query)."""
        return {r[0]: r[1] for r in self._exec(
            f"SELECT doc_path, text FROM {self.s}.chunks WHERE ordinal = 0")}

    def sample_texts(self, n: int) -> list[str]:
        """Up to ``n`` chunk texts spread evenly over the store (all of them when fewer)."""
        total = self._exec(f"SELECT count(*) FROM {self.s}.chunks")[0][0]
        step = max(1, -(-total // max(1, n)))
        rows = self._exec(
            f"SELECT text FROM (SELECT text, row_number() OVER (ORDER BY vid) AS i FROM "
            f"{self.s}.chunks) t WHERE (i - 1) %% %s = 0 LIMIT %s", (step, n))
        return [r[0] for r in rows]

    def is_empty(self) -> bool:
        return not self._exec(f"SELECT 1 FROM {self.s}.chunks LIMIT 1")

    def counts(self) -> dict[str, int]:
        s = self.s
        docs, chunks, vectors, cached = self._exec(
            f"SELECT (SELECT count(*) FROM {s}.documents), (SELECT count(*) FROM {s}.chunks), "
            f"(SELECT count(*) FROM {s}.chunks WHERE embedding IS NOT NULL), "
            f"(SELECT count(*) FROM {s}.embeddings)")[0]
        return {"documents": docs, "chunks": chunks, "cached_embeddings": cached,
                "vectors": vectors}

    # -- keyword search ----------------------------------------------------------------------
    def keyword_search(self, terms: Sequence[str], limit: int,
                       filters: Sequence[Any] = ()) -> list[tuple[int, float]]:
        """(vid, BM25 score; higher is better) for chunks matching any term (and ``filters``,
        in SQL), best first.

        The score is the SQLite side's (FTS5's ``bm25()``: k1 1.2, b 0.75, idf
        ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6) computed in SQL over the stemmed
        lexemes of the terms, so both backends rank alike: term frequencies are the lexemes'
        position counts in ``fts``, a chunk's length its last position, document frequencies
        come from the GIN index.
        """
        lexemes = self._lexemes(terms)
        if not lexemes:
            return []
        s = self.s
        tsq = [_tsquery_literal(x) for x in lexemes]
        *dfs, version = self._exec(
            "SELECT " + "".join(f"(SELECT count(*) FROM {s}.chunks WHERE fts @@ %s::tsquery), "
                                for _ in lexemes)
            + f"(SELECT value FROM {s}.meta WHERE key = 'kb_version')", tsq)[0]
        n, avgdl = self._length_stats(version)
        idf = [max(1e-6, math.log((n - df + 0.5) / (df + 0.5))) for df in dfs]
        where, params = _where(filters)
        rows = self._exec(
            "WITH idf(lexeme, w) AS (SELECT * FROM unnest(%s::text[], %s::float8[])), "
            f"hit AS (SELECT c.vid, c.fts, {_LAST_POSITION} AS dl FROM {s}.chunks c "
            + (f"JOIN {s}.documents d ON d.path = c.doc_path " if where else "")
            + f"WHERE c.fts @@ %s::tsquery{where}) "
            "SELECT hit.vid, sum(idf.w * cardinality(u.positions) * %s / (cardinality(u.positions)"
            " + %s * (1 - %s + %s * hit.dl / %s))) AS r "
            "FROM hit CROSS JOIN LATERAL unnest(hit.fts) u JOIN idf ON idf.lexeme = u.lexeme "
            "GROUP BY hit.vid ORDER BY r DESC, hit.vid LIMIT %s",
            (lexemes, idf, " | ".join(tsq), *params,
             _BM25_K1 + 1, _BM25_K1, _BM25_B, _BM25_B, avgdl, limit))
        return [(r[0], float(r[1])) for r in rows]

    def _lexemes(self, terms: Sequence[str]) -> list[str]:
        """The distinct stemmed lexemes Postgres indexes for ``terms``."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms:
            return []
        row = self._exec("SELECT " + ", ".join(
            [f"tsvector_to_array(to_tsvector('{self.s}.keywords'::regconfig, %s))"]
            * len(terms)), terms)[0]
        return list(dict.fromkeys(x for lexemes in row for x in lexemes))

    def _length_stats(self, version: str) -> tuple[int, float]:
        """(chunks, mean chunk length in tokens) at ``version``, computed once per version.

        The mean is exact up to ``_LENGTH_SAMPLE`` chunks and taken over that many beyond
        (BM25 barely moves with a small error in it), so the first search after a sync of a
        huge knowledge base does not scan every chunk's lexemes."""
        if self._counted is None or self._counted[0] != version:
            n, avgdl = self._exec(
                f"SELECT (SELECT count(*) FROM {self.s}.chunks), "
                f"(SELECT avg(dl) FROM (SELECT {_LAST_POSITION} AS dl FROM {self.s}.chunks c "
                f"LIMIT {_LENGTH_SAMPLE}) x)")[0]
            self._counted = (version, (int(n), float(avgdl or 1.0)))
        return self._counted[1]

    # -- embedding cache ---------------------------------------------------------------------
    def _cached(self, embedder: str, hashes: Iterable[str], columns: str) -> list[tuple]:
        unique = list(dict.fromkeys(hashes))
        rows: list[tuple] = []
        for i in range(0, len(unique), 5000):
            rows += self._exec(
                f"SELECT {columns} FROM {self.s}.embeddings WHERE embedder = %s "
                "AND hash = ANY(%s)", (embedder, unique[i : i + 5000]))
        return rows

    def cached_hashes(self, embedder: str, hashes: Iterable[str]) -> set[str]:
        return {r[0] for r in self._cached(embedder, hashes, "hash")}

    def put_embeddings(self, embedder: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction() as cur:
            cur.executemany(
                f"INSERT INTO {self.s}.embeddings VALUES (%s, %s, %s) ON CONFLICT "
                "(hash, embedder) DO UPDATE SET vector = EXCLUDED.vector",
                [(h, embedder, v) for h, v in zip(hashes, vectors, strict=True)])

    def get_vectors(self, embedder: str, hashes: Sequence[str]) -> np.ndarray:
        """Cached vectors for ``hashes``, in order; every hash must be cached."""
        found = {h: _array(v) for h, v in self._cached(embedder, hashes, "hash, vector")}
        missing = [h for h in dict.fromkeys(hashes) if h not in found]
        if missing:
            raise KnowledgeBaseError(f"{len(missing)} embeddings missing from the cache")
        if not hashes:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[h] for h in hashes])

    def prune_embeddings(self, embedder: str) -> int:
        """Drop cached vectors no chunk uses any more."""
        with self.transaction() as cur:
            cur.execute(f"DELETE FROM {self.s}.embeddings e WHERE embedder = %s AND NOT EXISTS "
                        f"(SELECT 1 FROM {self.s}.chunks c WHERE c.embed_hash = e.hash)",
                        (embedder,))
            return cur.rowcount

    # -- runs --------------------------------------------------------------------------------
    def start_run(self) -> int:
        """Record a run by this process. Call it holding the write lock: any run still marked
        'running' then belongs to a process that died or lost its connection."""
        with self.transaction() as cur:
            cur.execute(f"UPDATE {self.s}.runs SET status = 'interrupted' "
                        "WHERE status = 'running'")
            row = cur.execute(
                f"INSERT INTO {self.s}.runs (started_at, status, report) "
                "VALUES (%s, 'running', %s) RETURNING id",
                (time.time(), json.dumps(runs.this_process()))).fetchone()
        return int(row[0])

    def finish_run(self, run_id: int, status: str, report: dict) -> None:
        self._exec(f"UPDATE {self.s}.runs SET finished_at = %s, status = %s, report = %s "
                   "WHERE id = %s",
                   (time.time(), status, json.dumps(report, ensure_ascii=False), run_id))

    def last_runs(self, n: int = 5) -> list[dict]:
        return run_rows(self._exec(
            f"SELECT {RUN_COLUMNS} FROM {self.s}.runs ORDER BY id DESC LIMIT %s", (n,)))
