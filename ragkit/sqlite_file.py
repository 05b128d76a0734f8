"""Opening the knowledge base's SQLite file on storage that may be hostile.

Owns: deciding whether ``kb.sqlite`` can be written, opening it read-write (WAL) or read-only,
and turning SQLite's storage failures into one-line :class:`~ragkit.errors.RagkitError`\\ s that
name the file and the fix. Does not own the schema or any query (``ragkit.store`` does).

What is covered:

* a missing or zero-byte file is refused unless the caller is creating the database (SQLite
  would silently treat it as a new, empty database);
* random bytes, a truncated file or another program's database give
  :class:`KnowledgeBaseCorruptError`, whether found on open or by a later query;
* a read-only mount or folder (``os.access`` says so, and it accounts for ``EROFS``) is opened
  ``mode=ro``; when SQLite cannot create the WAL's ``-shm`` there either, it is opened
  ``immutable=1`` (no locks, no side files), which is safe because nobody can write there;
* a full disk: SQLite's ``SQLITE_FULL``, or a disk I/O error while the disk has no room, is
  :class:`DiskFullError`. A read-write open that fails this way falls back to read-only, so
  reading never needs free space; the reason is kept for the first attempt to write.

Not covered: a file changed underneath an ``immutable`` reader (no one can, on a read-only
mount), and I/O errors of a failing disk, which are reported as such.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ragkit.errors import (
    DiskFullError,
    KnowledgeBaseCorruptError,
    KnowledgeBaseError,
    KnowledgeBaseReadOnlyError,
)

# Below this much free space, a disk I/O error is taken to be a full disk.
NEARLY_FULL_BYTES = 64 * 1024 * 1024
_FULL, _CORRUPT, _NOTADB = sqlite3.SQLITE_FULL, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB
_READONLY, _IOERR, _CANTOPEN = sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN


def rebuild_hint(path: Path) -> str:
    return f"`ragkit index PATH --kb {path.parent}`"


def disk_is_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path if path.is_dir() else path.parent).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def full_disk_error(where: Path, what: str,
                    kept: str = "the unfinished change was rolled back") -> DiskFullError:
    return DiskFullError(
        f"the disk holding {where} is full ({what}); free space on it and run the command "
        f"again. Nothing already stored was lost: {kept}"
    )


def storage_error(path: Path, e: sqlite3.Error) -> KnowledgeBaseError | None:
    """The user-facing error for a SQLite failure caused by the file or its disk, else None."""
    code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_CORRUPT, _NOTADB):
        return KnowledgeBaseCorruptError(
            f"{path} is corrupt or not a ragkit database ({e}); restore it from a backup, or "
            f"move it aside and run {rebuild_hint(path)} to rebuild it from your documents"
        )
    if code == _FULL or (code == _IOERR and disk_is_full(path)):
        return full_disk_error(path.parent, str(e))
    if code == _READONLY:
        return read_only_error(path.parent, str(e))
    if code in (_IOERR, _CANTOPEN):
        return KnowledgeBaseError(
            f"cannot read or write {path} ({e}); check that the disk is mounted and healthy "
            "and that you may read the file"
        )
    return None


def read_only_error(directory: Path, why: str = "read-only file system or no write "
                    "permission") -> KnowledgeBaseReadOnlyError:
    return KnowledgeBaseReadOnlyError(
        f"{directory} is read-only ({why}); searching it works, but `ragkit index` must write: "
        f"copy it somewhere writable (cp -r {directory} NEW) and use --kb NEW, or remount it "
        "read-write"
    )


class _Cursor(sqlite3.Cursor):
    """A cursor whose storage failures become :func:`storage_error`\\ s."""

    def _fail(self, e: sqlite3.Error) -> None:
        err = storage_error(self.connection.path, e)  # type: ignore[attr-defined]
        if err is not None:
            raise err from None

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as e:
            self._fail(e)
            raise

    def executemany(self, sql: str, seq: Any, /) -> _Cursor:
        try:
            return super().executemany(sql, seq)
        except sqlite3.Error as e:
            self._fail(e)
            raise

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as e:
            self._fail(e)
            raise

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as e:
            self._fail(e)
            raise

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as e:
            self._fail(e)
            raise


class Connection(sqlite3.Connection):
    """A connection to ``path`` whose statements go through :class:`_Cursor`."""

    path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:  # type: ignore[override]
        return self.cursor(_Cursor).execute(sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> _Cursor:  # type: ignore[override]
        return self.cursor(_Cursor).executemany(sql, seq)


def _connect(path: Path, query: str = "") -> Connection:
    target, uri = (f"file:{quote(str(path))}?{query}", True) if query else (str(path), False)
    conn = sqlite3.connect(target, uri=uri, timeout=30, isolation_level=None,
                           check_same_thread=False, factory=Connection)
    conn.path = path
    return conn


def writable(path: Path) -> bool:
    """Whether this process may write ``path`` and create files beside it (WAL, -shm)."""
    if not os.access(path.parent, os.W_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


def check_file(path: Path, create: bool) -> None:
    """Refuse a missing (unless ``create``) or zero-byte database before SQLite opens it."""
    if not path.exists():
        if not create:
            raise KnowledgeBaseCorruptError(
                f"{path} is missing; restore it from a backup, or run {rebuild_hint(path)} "
                "to rebuild it from your documents"
            )
        return
    if path.stat().st_size == 0 and not create:
        raise KnowledgeBaseCorruptError(
            f"{path} is empty (0 bytes): it was truncated, or is not a ragkit database; "
            f"restore it from a backup, or delete it and run {rebuild_hint(path)} to rebuild "
            "it from your documents"
        )


def open_read_write(path: Path) -> Connection:
    conn = _connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    return conn


def open_read_only(path: Path) -> Connection:
    """``mode=ro``, or ``immutable=1`` where SQLite cannot make its side files either."""
    conn = _connect(path, "mode=ro")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except (DiskFullError, KnowledgeBaseReadOnlyError):
        conn.close()
    except KnowledgeBaseCorruptError:
        conn.close()
        raise
    except KnowledgeBaseError:  # cannot open: the -shm cannot be created here
        conn.close()
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise KnowledgeBaseReadOnlyError(
            f"{path} has changes still in {wal.name} that cannot be read without writing; "
            f"open it once where it is writable (e.g. `ragkit status --kb {path.parent}`) to "
            "merge them"
        )
    conn = _connect(path, "immutable=1")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn
