"""A knowledge base on disk: create/open, incremental sync, search, status.

Layout of a knowledge base directory::

    DIR/ragkit.json     settings fixed at creation (embedder, chunking, index type)
    DIR/kb.sqlite       documents, chunks, FTS, embedding cache, runs (the source of truth)
    DIR/index/          FAISS index + manifest, derived from kb.sqlite and rebuilt when stale
    DIR/.lock           held by the one process allowed to write

Owns: running a sync (survey: read and hash every file found; plan: ``ragkit.syncplan``
decides what to add, update, remove, purely; prepare: parse and chunk what changed; apply:
embed and write), write locking, keeping the vector index consistent with the database after
crashes. Parsing, chunking, embedding, indexing and ranking are delegated to their modules.

A knowledge base may instead live in PostgreSQL + pgvector (``ragkit.pgstore``), selected by
opening a ``postgresql://`` URL instead of a directory: the settings are a row of its ``meta``
table, vectors are stored beside their chunks (no FAISS files), and writers are serialised by
an advisory lock on the server. Side files that stay per machine (answer cache, conversations,
audit trail) then live in ``RAGKIT_HOME/postgres/HOST-PORT-DB-SCHEMA/``.

Crash safety: each document is replaced in one SQLite transaction that also bumps
``kb_version``; embeddings are committed to the cache batch by batch before any document is
replaced. The index manifest records the ``kb_version`` it reflects, so an index left behind by
a killed run is detected on open and rebuilt from stored vectors (no re-embedding).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ragkit import budget, chunking, ingest, pgstore, sqlite_file
from ragkit.config import (
    IndexConfig,
    KnowledgeBaseConfig,
    SearchConfig,
    SearchMode,
    parse,
)
from ragkit.embedder import Embedder, index_vectors
from ragkit.errors import (
    ConfigError,
    IndexMismatchError,
    IngestError,
    KnowledgeBaseError,
    KnowledgeBaseLockedError,
)
from ragkit.guard import Guard, Verdict
from ragkit.index import FaissIndex, read_manifest
from ragkit.ingest.decode import decode_text
from ragkit.retriever import Filter, Retriever
from ragkit.store import DocumentRow, KnowledgeStore, Store, vector_id
from ragkit.syncplan import FileState, SyncPlan, plan_sync, under
from ragkit.text import detect_language, segment_for_search
from ragkit.types import Chunk, Hit, ParsedDocument

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
EMBED_BATCH = 64
PG_LOCK_WAIT_S = 3600.0  # how long a sync into Postgres waits for another writer
NO_TEXT = "no text to index (only headings or markup); add body text or remove it from the paths"

# progress(stage, done, total): stage is "scan" (every file read and hashed), "load" (the
# embedder loading before the first file is chunked: 0 of 1, then 1 of 1), "parse" (the new
# and changed files parsed and chunked), "embed" or "write".
ProgressFn = Callable[[str, int, int], None]


@functools.cache
def _ingest_guard() -> Guard:
    """One guard for indexing (only its injection rules decide there: list terms in a
    document are recorded, never acted on)."""
    return Guard().load()


def _screened(doc: ParsedDocument, data: bytes) -> Verdict:
    """The guard's verdict on a whole document (an HTML page with its hidden text)."""
    if doc.kind == "html":
        return _ingest_guard().check_html(decode_text(data, doc.path))
    return _ingest_guard().check_chunk(doc.text)


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0
    failed: list[dict] = field(default_factory=list)
    # documents not indexed because they give the assistant instructions: path, rule, excerpt
    quarantined: list[dict] = field(default_factory=list)
    dry_run: bool = False
    elapsed_s: float = 0.0
    estimated_embed_s: float | None = None  # from the rate the last run measured
    changes: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Pending:
    row: DocumentRow
    chunks: list[Chunk]
    hashes: list[str]
    change: str  # "added" | "updated"


@dataclass
class _Survey:
    """Every file found, read and hashed: states by key, and (source, reason) if unreadable."""

    max_bytes: int
    files: int
    states: dict[str, FileState] = field(default_factory=dict)
    unreadable: dict[str, tuple[str, str]] = field(default_factory=dict)


def _atomic_write(path: Path, data: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _embed_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class KnowledgeBase:
    """One knowledge base directory. Cheap to open; the embedder and index load on first use."""

    def __init__(self, directory: Path, config: KnowledgeBaseConfig,
                 store: KnowledgeStore, embedder: Embedder | None = None) -> None:
        # the knowledge base's folder, or for one in Postgres the folder of its per-machine
        # side files; ``location`` is what messages name (the folder, or the masked URL)
        self.dir = directory
        self.config = config
        self.store = store
        self.location = store.location if isinstance(store, pgstore.PgStore) else str(directory)
        self._embedder = embedder
        self._embedder_loader: Callable[[str], Embedder] | None = None
        self._index: FaissIndex | None = None
        self._index_version = -1
        self._saved_version: int | None = None  # kb_version of the index files on disk
        # (max chunks per file, warn) for the sync in progress
        self._limits: tuple[int, Callable[[str], None]] = (budget.MAX_CHUNKS_PER_FILE,
                                                           log.warning)
        self._quarantine = self.config.ingest.quarantine  # for the sync in progress
        self._on_close: list[Callable[[], None]] = []  # e.g. the SDK's RAG pipelines

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | Path, *, create: bool = False,
             config: KnowledgeBaseConfig | None = None,
             embedder: Embedder | None = None) -> KnowledgeBase:
        """Open ``directory``; with ``create=True`` make it first if it is not a knowledge base.

        ``embedder`` is an already-loaded model to use instead of loading ``config.embedder``.
        Stored vectors and the index manifest are keyed by ``embedder.id``, so vectors from a
        different model are never mixed in.

        ``directory`` may be a ``postgresql://USER@HOST:PORT/DB?schema=NAME`` URL: the
        knowledge base then lives in that schema (see ``ragkit.pgstore``).
        """
        if pgstore.is_url(directory):
            return cls._open_pg(str(directory), create=create, config=config,
                                embedder=embedder)
        d = Path(directory).expanduser().resolve()
        settings = d / "ragkit.json"
        fresh = False
        if settings.exists():
            try:
                raw = json.loads(settings.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise KnowledgeBaseError(f"{settings} is unreadable ({e}); restore it or "
                                         "re-create the knowledge base") from None
            stored = parse(KnowledgeBaseConfig, raw.get("config", {}), f"{settings}")
            if config is not None and config != stored:
                raise ConfigError(
                    f"{d} was created with different settings ({_diff(stored, config)}); "
                    "open it without overriding them, or index into a new --kb directory"
                )
            config = stored
        elif create:
            if d.exists() and any(d.iterdir()):
                raise KnowledgeBaseError(
                    f"{d} exists and is not a ragkit knowledge base (no ragkit.json); "
                    "choose an empty or new directory for --kb"
                )
            config = config or KnowledgeBaseConfig()
            try:
                d.mkdir(parents=True, exist_ok=True)
                _atomic_write(settings, json.dumps(
                    {"format": FORMAT_VERSION, "config": config.model_dump(mode="json")},
                    indent=2))
            except OSError as e:
                raise _write_error(e, d, "creating the knowledge base") from None
            fresh = True
        else:
            raise KnowledgeBaseError(
                f"no knowledge base at {d}; create one with `ragkit index PATH --kb {directory}`"
            )
        db = d / "kb.sqlite"
        # A missing kb.sqlite is made anew only by a writer (`ragkit index` rebuilds it from
        # the documents); an existing one is never taken for new, even when it is empty.
        return cls(d, config, Store.open(db, create=fresh or (create and not db.exists())),
                   embedder)

    @staticmethod
    def exists(location: str | Path) -> bool:
        """Whether ``location`` (a directory or a ``postgresql://`` URL) holds a knowledge
        base; a server that cannot be reached is an error, not a no."""
        if not pgstore.is_url(location):
            return (Path(location).expanduser() / "ragkit.json").exists()
        store = pgstore.PgStore.open(pgstore.PgUrl.parse(str(location)), create=False,
                                     missing_ok=True)
        try:
            return store.settings() is not None
        finally:
            store.close()

    @classmethod
    def _open_pg(cls, url: str, *, create: bool, config: KnowledgeBaseConfig | None,
                 embedder: Embedder | None) -> KnowledgeBase:
        where = pgstore.PgUrl.parse(url)
        if config is not None and config.index.type == "ivfpq":
            raise ConfigError("pgvector has no IVF-PQ index; on PostgreSQL use --index-type "
                              "hnsw (the default there), ivf or flat (exact)")
        store = pgstore.PgStore.open(where, create=create)
        try:
            raw = store.settings()
            if raw is None and create:
                wanted = config or KnowledgeBaseConfig()
                if wanted.index == IndexConfig():  # HNSW is the default on a server
                    wanted = wanted.model_copy(update={"index": IndexConfig(type="hnsw")})
                store.save_settings({"format": FORMAT_VERSION,
                                     "config": wanted.model_dump(mode="json")})
                raw = store.settings()
            if raw is None:
                raise KnowledgeBaseError(
                    f"no knowledge base at {where.shown}; create one with "
                    f"`ragkit index PATH --kb '{where.shown}'`")
            stored = parse(KnowledgeBaseConfig, raw.get("config", {}), where.shown)
            if config is not None and config != stored and not (
                    config.model_copy(update={"index": stored.index}) == stored
                    and config.index == IndexConfig()):
                raise ConfigError(
                    f"{where.shown} was created with different settings "
                    f"({_diff(stored, config)}); open it without overriding them, or index "
                    "into a new ?schema=")
            side = pgstore.side_folder(where)
            side.mkdir(parents=True, exist_ok=True)
        except BaseException:
            store.close()
            raise
        return cls(side, stored, store, embedder)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when this knowledge base closes (before its database does)."""
        self._on_close.append(callback)

    def close(self) -> None:
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()
        self.store.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            load = self._embedder_loader
            if load is None:
                from ragkit.embedder import load_embedder as load
            self._embedder = load(self.config.embedder)
        return self._embedder

    def set_embedder_loader(self, load: Callable[[str], Embedder]) -> None:
        """How the embedder named in the settings is made on first use (default: loaded in
        this process; the SDK passes the model service's client when one runs)."""
        self._embedder_loader = load

    # -- index -------------------------------------------------------------------------------
    @property
    def index_dir(self) -> Path:
        return self.dir / "index"

    def _save_index(self, index: FaissIndex) -> None:
        version = self.store.kb_version
        try:
            index.save(self.index_dir, index.manifest(self.embedder.id, version))
            self._saved_version = version
        except OSError as e:
            raise _write_error(e, self.index_dir, "saving the vector index") from None

    def index(self) -> FaissIndex:
        """The vector index, loaded or rebuilt from stored vectors if it is stale or missing."""
        if isinstance(self.store, pgstore.PgStore):
            raise KnowledgeBaseError(f"{self.location} keeps its vectors in PostgreSQL and has "
                                     "no FAISS index; search it with kb.search()")
        version = self.store.kb_version
        if self._index is not None and self._index_version == version:
            return self._index
        emb = self.embedder
        index: FaissIndex | None = None
        try:
            index, manifest = FaissIndex.load(
                self.index_dir, expect_embedder_id=self.embedder.id, expect_dim=emb.dim,
                expect_type=self.config.index.type, config=self.config.index,
            )
            self._saved_version = manifest.kb_version
            if manifest.kb_version != version:
                index = None  # stale: a run was killed between commit and save
        except IndexMismatchError:
            # Missing, corrupt, or built with other settings: the database is the source of
            # truth, so rebuild from its stored vectors (which fails clearly if the vectors
            # were made by another embedder).
            index = None
        if index is None:
            index = self._index_from_store()
            self._save_index_if_unlocked(index)
        self._index, self._index_version = index, version
        return index

    def _index_from_store(self) -> FaissIndex:
        """A new index holding every chunk's stored vector (no embedding)."""
        index = FaissIndex(self.embedder.dim, self.config.index)
        vids, vecs = self.store.stored_vectors(self.embedder.id, self.embedder.dim)
        if len(vids):
            index.add(vids, vecs)
        return index

    def _save_index_if_unlocked(self, index: FaissIndex) -> None:
        """Persist a rebuilt index unless another process is writing right now.

        Only a cache: where it cannot be written (read-only, disk full) the index stays in
        memory and reading goes on.
        """
        if self.store.read_only is not None:
            return
        lock = FileLock(str(self.dir / ".lock"), timeout=0)
        try:
            with lock:
                self._save_index(index)
        except Timeout:
            pass
        except (OSError, KnowledgeBaseError) as e:
            log.warning("searching with an index rebuilt in memory; it could not be saved: %s", e)

    # -- sync --------------------------------------------------------------------------------
    def sync(self, paths: Sequence[str | Path], *, dry_run: bool = False, rebuild: bool = False,
             progress: ProgressFn | None = None,
             follow_links: bool | None = None,
             max_chunks_per_file: int = budget.MAX_CHUNKS_PER_FILE,
             warn: Callable[[str], None] | None = None,
             allow_quarantined: bool = False) -> SyncReport:
        """Bring the knowledge base in line with ``paths`` (files and folders).

        A file that makes more than ``max_chunks_per_file`` chunks is reported and skipped.
        Before embedding for longer than ``budget.LONG_RUN_S`` (estimated from the rate the
        last run measured, or else from the first batch), ``warn`` gets a message saying so
        (default: logged as a warning).

        Only regular files are read. Symlinks out of ``paths`` are reported and skipped (and
        documents indexed through them earlier are removed) unless ``follow_links``
        (default: ``config.ingest.follow_links``).

        A document that gives the assistant instructions (``ragkit.guard``: "note to the AI:
        tell users...", also in text an HTML page hides) is reported in ``quarantined`` and
        not indexed (an earlier version stays), unless ``allow_quarantined`` or
        ``config.ingest.quarantine`` is off.
        """
        t0 = time.perf_counter()
        self._limits = (max_chunks_per_file, warn or log.warning)
        self._quarantine = self.config.ingest.quarantine and not allow_quarantined
        follow = self.config.ingest.follow_links if follow_links is None else follow_links
        roots = [Path(p).expanduser().resolve() for p in paths]
        for r in roots:
            if not r.exists():
                raise KnowledgeBaseError(f"{r} does not exist; check the path you passed")
        if not dry_run:
            self.store.require_writable()
        elif self.store.read_only is not None:  # a dry run writes nothing: no lock to take
            return self._sync_locked(roots, dry_run, rebuild, progress, t0, follow)
        with self._writing():
            return self._sync_locked(roots, dry_run, rebuild, progress, t0, follow)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the one-writer lock: a file lock beside a directory's database (refused at
        once when taken), or the server's advisory lock (waited for, with a notice)."""
        if isinstance(self.store, pgstore.PgStore):
            notice = self._limits[1]
            with self.store.write_lock(PG_LOCK_WAIT_S, waiting=lambda: notice(
                    f"another process is writing to {self.location}; waiting for it")):
                yield
            return
        lock = FileLock(str(self.dir / ".lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise KnowledgeBaseLockedError(
                f"another `ragkit index` is writing to {self.dir}; wait for it to finish "
                "(the lock is released automatically when that process exits)"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def add(self, paths: Sequence[str | Path], *, progress: ProgressFn | None = None) -> SyncReport:
        """Index ``paths``: new files are added, changed ones re-indexed, deleted ones removed."""
        return self.sync(paths, progress=progress)

    def _sync_locked(self, roots: list[Path], dry_run: bool, rebuild: bool,
                     progress: ProgressFn | None, t0: float, follow: bool) -> SyncReport:
        """Survey (read and hash), plan (pure: ``syncplan.plan_sync``), prepare (parse and
        chunk what changed), then apply it, unless ``dry_run``."""
        report = SyncReport(dry_run=dry_run)
        tick = progress or (lambda *a: None)
        cfg = self.config
        settings_hash = f"{cfg.chunker_hash()}-{ingest.PARSER_VERSION}"
        existing = self.store.documents()
        found = ingest.scan(roots, cfg.ingest.ignore, follow_links=follow)
        refused = [(_display(f, roots), why) for f, why in found.skipped]
        confine = None if follow else roots
        run_id = None if dry_run else self.store.start_run()
        survey = self._survey(found.files, roots, existing, confine, tick)
        plan = plan_sync(
            {k: FileState(r.source, r.content_hash, r.mtime, r.settings_hash)
             for k, r in existing.items()},
            survey.states, settings_hash=settings_hash, roots=[str(r) for r in roots],
            unreadable=survey.unreadable, refused=refused, rebuild=rebuild)
        pending, bad, held = self._prepare(plan, survey, settings_hash, confine, tick)
        report.quarantined = [{"path": s, "rule": v.findings[0].category,
                               "excerpt": v.findings[0].excerpt} for s, v in held.values()]
        if held and not dry_run:
            self._audit_quarantine([v for _, v in held.values()])
        order = {str(f): i for i, f in enumerate(found.files)}
        per_file = sorted([*survey.unreadable.items(), *bad.items()], key=lambda kv: order[kv[0]])
        report.failed.extend({"path": s, "error": why} for s, why in refused)
        report.failed.extend({"path": s, "error": why} for _, (s, why) in per_file)
        report.changes = {
            "added": [p.row.source for p in pending if p.change == "added"],
            "updated": [p.row.source for p in pending if p.change == "updated"],
            "removed": [plan.sources[k] for k in plan.delete],
        }
        report.added, report.updated = len(report.changes["added"]), len(report.changes["updated"])
        report.removed, report.unchanged = len(plan.delete), len(plan.unchanged)
        report.chunks_total = sum(len(p.chunks) for p in pending)
        if dry_run:
            todo = {h for p in pending for h in p.hashes}
            report.chunks_embedded = len(todo - self.store.cached_hashes(self.embedder.id, todo))
            report.estimated_embed_s = budget.estimate(
                report.chunks_embedded, budget.stored_rate(self.store, self.embedder.id))
            report.elapsed_s = time.perf_counter() - t0
            return report
        self._apply(plan, survey, pending, rebuild, report, tick, run_id, t0)
        return report

    def _survey(self, files: list[Path], roots: list[Path], existing: dict[str, DocumentRow],
                confine: list[Path] | None, tick: ProgressFn) -> _Survey:
        """Read and hash every file found (parsing nothing): what the plan compares."""
        max_bytes = int(self.config.ingest.max_file_mb * 1024 * 1024)
        survey = _Survey(max_bytes, len(files))
        names = {row.source: p for p, row in existing.items()}
        for i, f in enumerate(files):
            tick("scan", i, len(files))
            key = str(f)
            source = _display(f, roots)
            if f in roots and key in existing:  # one file named again keeps its citation name
                source = existing[key].source
            if names.get(source, key) != key:  # same display path from another root
                source = key
            names[source] = key
            try:
                data, st = ingest.read_source(f, source, max_bytes, confine=confine)
            except IngestError as e:
                survey.unreadable[key] = (source, e.reason)
                continue
            except OSError as e:  # vanished or unreadable between discovery and reading
                survey.unreadable[key] = (source, f"cannot read: {e.strerror}")
                continue
            survey.states[key] = FileState(source, ingest.content_hash(data), st.st_mtime)
        return survey

    def _prepare(self, plan: SyncPlan, survey: _Survey, settings_hash: str,
                 confine: list[Path] | None, tick: ProgressFn,
                 ) -> tuple[list[_Pending], dict[str, tuple[str, str]],
                            dict[str, tuple[str, Verdict]]]:
        """Parse and chunk the files to add or update, in the order found; writes nothing.

        A file is read again here (the survey keeps no bytes), and its row records the hash of
        the bytes parsed. Returns what to write, per key (source, reason) for bad files, and
        per key (source, guard verdict) for quarantined ones.
        """
        cfg, max_bytes = self.config, survey.max_bytes
        added, changed = set(plan.add), set(plan.add) | set(plan.update)
        todo = [k for k in survey.states if k in changed]
        pending: list[_Pending] = []
        bad: dict[str, tuple[str, str]] = {}
        held: dict[str, tuple[str, Verdict]] = {}
        if todo and self._embedder is None:  # loading takes seconds: say so, not a stall
            tick("load", 0, 1)
            self.embedder.count_tokens("")
            tick("load", 1, 1)
        for j, key in enumerate(todo):
            tick("parse", j, len(todo))
            f, source = Path(key), plan.sources[key]
            try:
                data, st = ingest.read_source(f, source, max_bytes, confine=confine)
                doc = ingest.parse_bytes(data, f, source, max_bytes)
                chunks = chunking.chunk_document(
                    doc, self.embedder.count_tokens, min(cfg.chunking.max_tokens,
                                                        self.embedder.max_tokens),
                    cfg.chunking.overlap_tokens,
                )
                if not chunks:  # e.g. Markdown holding only headings
                    raise IngestError(source, NO_TEXT)
                if len(chunks) > self._limits[0]:
                    raise IngestError(source, budget.over_cap_reason(
                        len(chunks), self._limits[0],
                        budget.stored_rate(self.store, self.embedder.id)))
                verdict = _screened(doc, data) if self._quarantine else None
                if verdict is not None and verdict.stops:
                    held[key] = (source, verdict)
                    continue
            except IngestError as e:
                bad[key] = (source, e.reason)
                continue
            except OSError as e:  # vanished or unreadable since the survey
                bad[key] = (source, f"cannot read: {e.strerror}")
                continue
            row = DocumentRow(key, source, doc.kind, doc.title, ingest.content_hash(data),
                              settings_hash, st.st_mtime, st.st_size, len(chunks))
            hashes = [_embed_hash(chunking.embedding_text(c)) for c in chunks]
            pending.append(_Pending(row, chunks, hashes, "added" if key in added else "updated"))
        tick("parse", len(todo), len(todo))
        return pending, bad, held

    def _audit_quarantine(self, verdicts: list[Verdict]) -> None:
        from ragkit.guard.audit import AuditLog

        audit = AuditLog.for_dir(self.dir)
        try:
            for v in verdicts:
                audit.record(v)
        finally:
            audit.close()

    def _apply(self, plan: SyncPlan, survey: _Survey, pending: list[_Pending], rebuild: bool,
               report: SyncReport, tick: ProgressFn, run_id: int | None, t0: float) -> None:
        """Write the plan: touch, embed, replace and delete documents, save the index, and
        record the run. Each document is replaced in its own transaction (see the module
        docstring for what a crash leaves)."""
        status = "failed"
        pg = isinstance(self.store, pgstore.PgStore)
        try:
            if pg:  # vectors are written with their chunks: fix their space first
                self.store.set_space(self.embedder.id, self.embedder.dim, self.config.index,
                                     rebuild=rebuild)
            for key in plan.touch:
                self.store.touch_document(key, survey.states[key].mtime, plan.sources[key])
            # A rebuild writes the database first and builds the index once at the end;
            # otherwise the loaded index is updated document by document.
            index = None if rebuild or pg else self.index()
            report.chunks_embedded = self._embed_missing(pending, tick, report)
            for i, p in enumerate(pending):
                tick("write", i, len(pending))
                bodies = [segment_for_search(chunking.embedding_text(c)) for c in p.chunks]
                old_vids = self.store.replace_document(p.row, p.chunks, p.hashes, bodies)
                if index is not None:
                    index.remove(np.asarray(old_vids, dtype=np.int64))
                    vecs = self.store.get_vectors(self.embedder.id, p.hashes)
                    index.add(np.asarray([vector_id(c.id) for c in p.chunks], dtype=np.int64),
                              vecs)
            tick("write", len(pending), len(pending))
            for path in plan.delete:
                vids = self.store.delete_document(path)
                if index is not None:
                    index.remove(np.asarray(vids, dtype=np.int64))
            if pg:
                if pending or plan.delete or rebuild:
                    self.store.prune_embeddings(self.embedder.id)
                self.store.ensure_ivf(self.config.index)
            else:
                if index is None:  # documents outside `paths` keep their stored vectors
                    index = self._index_from_store()
                if (pending or plan.delete or rebuild
                        or self._saved_version != self.store.kb_version):
                    self.store.prune_embeddings(self.embedder.id)
                    self._save_index(index)
                self._index, self._index_version = index, self.store.kb_version
            status = "ok"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            report.elapsed_s = time.perf_counter() - t0
            if run_id is not None:
                try:
                    self.store.finish_run(run_id, status, report.to_dict())
                except KnowledgeBaseError:
                    if status == "ok":
                        raise
                    # else the error that stopped the run (a full disk, say) is the one to show

    def _embed_missing(self, pending: list[_Pending], tick: ProgressFn,
                       report: SyncReport) -> int:
        texts: dict[str, str] = {}
        for p in pending:
            for c, h in zip(p.chunks, p.hashes, strict=True):
                texts.setdefault(h, chunking.embedding_text(c))
        cached = self.store.cached_hashes(self.embedder.id, texts)
        todo = [h for h in texts if h not in cached]
        emb_id, warn = self.embedder.id, self._limits[1]
        rate = budget.stored_rate(self.store, emb_id)
        report.estimated_embed_s = budget.estimate(len(todo), rate)
        if rate and len(todo) / rate > budget.LONG_RUN_S:
            warn(budget.long_run_notice(len(todo), rate, measured_now=False))
        embed = index_vectors(self.embedder)  # may be faster than query-time passages
        t0 = time.perf_counter()
        for i in range(0, len(todo), EMBED_BATCH):
            tick("embed", i, len(todo))
            part = todo[i : i + EMBED_BATCH]
            vecs = embed([texts[h] for h in part])
            self.store.put_embeddings(self.embedder.id, part, vecs)
            if rate is None and len(todo) > len(part):  # no earlier measure: use this batch
                rate = len(part) / max(time.perf_counter() - t0, 1e-6)
                if len(todo) / rate > budget.LONG_RUN_S:
                    warn(budget.long_run_notice(len(todo), rate, measured_now=True))
        tick("embed", len(todo), len(todo))
        budget.save_rate(self.store, emb_id, len(todo), time.perf_counter() - t0)
        return len(todo)

    # -- search ------------------------------------------------------------------------------
    def retriever(self, config: SearchConfig | None = None) -> Retriever:
        return Retriever(
            self.store,
            embed_query=lambda q: self.embedder.embed_queries([q])[0],
            dense_search=self._dense_search,
            config=config,
            filters_in_store=isinstance(self.store, pgstore.PgStore),
        )

    def _dense_search(self, vectors: np.ndarray, k: int,
                      filters: Sequence[Filter] = ()) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.store, pgstore.PgStore):
            return self.store.vector_search(vectors, k, self.embedder.id, self.config.index,
                                            filters)
        return self.index().search(vectors, k)

    def search(self, query: str, k: int = 5, mode: SearchMode = "hybrid",
               filters: Sequence[str | Filter] = ()) -> list[Hit]:
        parsed = [f if isinstance(f, Filter) else Filter.parse(f) for f in filters]
        return self.retriever().search(query, k=k, mode=mode, filters=parsed)

    # -- documents ---------------------------------------------------------------------------
    def documents(self) -> list[dict]:
        """The indexed documents, by source: ``source``, ``path`` (where it was read from),
        ``kind``, ``title``, ``language`` ("en", "zh", from its first chunk), ``chunks``,
        ``size`` (bytes), ``modified`` (the file's mtime when indexed), ``indexed`` (when its
        content was last indexed) and ``status``: "indexed", "changed" (the file on this
        machine is newer: sync to take it in) or "missing" (the file is gone from this
        machine; its chunks stay until a sync of its folder or a remove)."""
        rows = sorted(self.store.documents().values(), key=lambda r: r.source)
        firsts = self.store.first_chunks()
        out = []
        for r in rows:
            try:
                status = "changed" if Path(r.path).stat().st_mtime > r.mtime + 1e-3 else "indexed"
            except OSError:
                status = "missing"
            first = firsts.get(r.path, "")
            out.append({"source": r.source, "path": r.path, "kind": r.kind, "title": r.title,
                        "language": detect_language(first) if first.strip() else "",
                        "chunks": r.n_chunks, "size": r.size, "modified": r.mtime,
                        "indexed": r.indexed_at, "status": status})
        return out

    def passages(self, source: str) -> list[Hit]:
        """The chunks of the document cited as ``source``, in the document's order, as hits
        (score 0); empty when no document has that source."""
        for r in self.store.documents().values():
            if r.source == source:
                return [Hit(chunk_id=c.id, source=r.source, heading=c.heading, page=c.page,
                            text=c.text, score=0.0, start=c.start, end=c.end,
                            title=c.title or r.title)
                        for c, _ in self.store.document_chunks(r.path)]
        return []

    def remove(self, sources: Sequence[str]) -> list[str]:
        """Take the documents cited as ``sources`` out of the knowledge base (their chunks,
        vectors and keyword entries; the files are not touched, so a later sync of a folder
        holding them adds them again). One transaction per document, under the writer lock;
        the removed sources, in order. An unknown source is an error naming the known ones,
        raised before anything is removed."""
        by_source = {r.source: r.path for r in self.store.documents().values()}
        unknown = [s for s in sources if s not in by_source]
        if unknown:
            near = ", ".join(sorted(by_source)[:5]) or "none"
            raise KnowledgeBaseError(f"{unknown[0]} is not in {self.location} (it holds "
                                     f"{len(by_source)} documents, e.g. {near}); see "
                                     f"`ragkit status --kb {self.location}`")
        self.store.require_writable()
        with self._writing():
            pg = isinstance(self.store, pgstore.PgStore)
            index = None if pg else self.index()
            for source in sources:
                vids = self.store.delete_document(by_source[source])
                if index is not None:
                    index.remove(np.asarray(vids, dtype=np.int64))
            # the embedding cache keeps their vectors: adding them back embeds nothing
            if sources and index is not None:
                self._save_index(index)
                self._index, self._index_version = index, self.store.kb_version
        return list(sources)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict:
        """Counts and settings, read without loading the embedder or the index."""
        if isinstance(self.store, pgstore.PgStore):
            counts = self.store.counts()
            return {"path": self.location, "embedder": self.config.embedder,
                    "index_type": self.config.index.type, "kb_version": self.store.kb_version,
                    **counts, "index_up_to_date": counts["vectors"] == counts["chunks"],
                    "last_runs": self.store.last_runs(3),
                    "settings": self.config.model_dump(mode="json")}
        try:
            manifest = read_manifest(self.index_dir)
            vectors, index_version = manifest.count, manifest.kb_version
        except IndexMismatchError:
            vectors, index_version = 0, None
        return {
            "path": str(self.dir),
            "embedder": self.config.embedder,
            "index_type": self.config.index.type,
            "kb_version": self.store.kb_version,
            **self.store.counts(),
            "vectors": vectors,
            "index_up_to_date": index_version == self.store.kb_version,
            "last_runs": self.store.last_runs(3),
            "settings": self.config.model_dump(mode="json"),  # fixed when it was created
        }


def copy_knowledge_base(src: KnowledgeBase, dst: KnowledgeBase,
                        progress: ProgressFn | None = None) -> dict:
    """Copy every document of ``src`` into the empty ``dst`` (a directory or Postgres, either
    way) with its chunks and stored vectors: nothing is parsed or embedded again. Each
    document is copied in one transaction; a copy that stops part way is finished by running
    it again (documents already copied are skipped). Returns counts."""
    tick = progress or (lambda *a: None)
    space = src.store.vector_space()
    docs = src.store.documents()
    if space is None and docs:
        raise KnowledgeBaseError(f"{src.location} has no stored vectors to copy; run "
                                 f"`ragkit index PATH --kb {src.location} --rebuild` first")
    t0 = time.perf_counter()
    with dst._writing():
        have = dst.store.documents()
        if have and not set(have) <= set(docs):
            raise KnowledgeBaseError(
                f"{dst.location} already holds other documents; copy into a new, empty "
                "knowledge base (another directory or ?schema=)")
        run_id = dst.store.start_run()
        status, copied, chunks = "failed", 0, 0
        try:
            if space is not None and isinstance(dst.store, pgstore.PgStore):
                dst.store.set_space(*space, dst.config.index)
            todo = [p for p in sorted(docs) if have.get(p) != docs[p]]
            for i, path in enumerate(todo):
                tick("write", i, len(todo))
                pairs = src.store.document_chunks(path)
                parts = [c for c, _ in pairs]
                hashes = [h for _, h in pairs]
                if space is not None and hashes:
                    dst.store.put_embeddings(space[0], hashes,
                                             src.store.get_vectors(space[0], hashes))
                bodies = [segment_for_search(chunking.embedding_text(c)) for c in parts]
                dst.store.replace_document(docs[path], parts, hashes, bodies)
                copied, chunks = copied + 1, chunks + len(parts)
            tick("write", len(todo), len(todo))
            status = "ok"
        finally:
            report = {"copied_from": src.location, "documents": copied, "chunks": chunks,
                      "skipped": len(docs) - copied if status == "ok" else None,
                      "elapsed_s": time.perf_counter() - t0}
            dst.store.finish_run(run_id, status, report)
    dst._index = None  # a directory's FAISS index is rebuilt from the copied vectors
    return report


def _display(f: Path, roots: list[Path]) -> str:
    """Citation path: relative to the root folder it was found under, prefixed by its name."""
    shown = f.name
    for r in roots:
        if r.is_dir() and under(str(f), str(r)):
            rel = f.relative_to(r).as_posix()
            shown = f"{r.name}/{rel}" if r.name else rel
            break
    # bytes that are not UTF-8 in a name (lone surrogates in Python) are shown as \x escapes
    return shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _write_error(e: OSError, where: Path, doing: str) -> KnowledgeBaseError:
    """A one-line error for a failed file write (FAISS files, settings)."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return sqlite_file.full_disk_error(
            where, f"no space left while {doing}",
            kept="kb.sqlite holds every committed change and the index is rebuilt from it")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return sqlite_file.read_only_error(where, f"{e.strerror} while {doing}")
    return KnowledgeBaseError(f"cannot write {e.filename or where} while {doing} "
                              f"({e.strerror}); check the disk and its permissions")


def _diff(a: KnowledgeBaseConfig, b: KnowledgeBaseConfig) -> str:
    da, db = a.model_dump(), b.model_dump()
    return ", ".join(f"{k}: {da[k]} vs {db[k]}" for k in da if da[k] != db[k])
