"""Reading one untrusted input file, and the bounds on what its bytes may unpack to.

Owns: :func:`read_source` (the bytes of one regular file, at most ``max_bytes``, with its
``fstat``), :func:`content_hash`, the symlink-confinement check shared with discovery
(:func:`within`, :func:`outside_reason`), and the limits every parser works under:
:func:`text_limit` (characters one file may yield), :func:`expansion_limit` (bytes a zip or
PDF stream may unpack to) and :func:`check_zip`, which enforces it on a zip before anything is
unpacked. Walking folders is :mod:`ragkit.ingest.discover`'s job, parsing the formats'.

What is checked, and what is not:

- Only regular files are read. Named pipes, sockets and devices (``notes.md`` as a FIFO, a link
  to ``/dev/zero``) are refused after ``stat``, and the file is opened with ``O_NONBLOCK`` and
  checked again with ``fstat``, so a file swapped for a pipe in between cannot block the run.
- Size is bounded before reading (``stat``) and while reading (at most ``max_bytes + 1``).
- With ``confine``, the resolved path must lie inside those folders, and the opened file's inode
  must be the one resolved, so a link switched after discovery is refused rather than followed.
- Not covered: hard links (a hard link to a file outside the roots is an ordinary file of the
  folder), bind mounts, and files replaced inside the roots while a run reads them.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from ragkit.errors import IngestError

FOLLOW_HINT = "pass --follow-links (or set ingest.follow_links) to index it"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def outside_reason(target: Path, folder: bool = False) -> str:
    """Why a symlink to ``target`` outside the roots was not followed (one line, with the fix)."""
    what = "a folder" if folder else "a file"
    return f"symlink to {what} outside the indexed folders ({target}); not followed, {FOLLOW_HINT}"


# ---------------------------------------------------------------------------------------------
# Reading one file

_FILE_TYPES = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_regular(display_path: str, mode: int) -> IngestError:
    kind = next((name for test, name in _FILE_TYPES if test(mode)), "a special file")
    return IngestError(
        display_path,
        f"not a regular file ({kind}); only regular files are indexed, remove it or --ignore it",
    )


def check_size(display_path: str, size: int, max_bytes: int) -> None:
    """Raise an IngestError naming the limit when ``size`` bytes is over ``max_bytes``."""
    if size > max_bytes:
        raise IngestError(
            display_path,
            f"file is {size / 2**20:.1f} MB, over the limit of {max_bytes / 2**20:.1f} MB; "
            "raise ingest.max_file_mb or split the file",
        )


def read_source(
    path: Path, display_path: str, max_bytes: int, *, confine: Sequence[Path] | None = None
) -> tuple[bytes, os.stat_result]:
    """The bytes of one regular file (at most ``max_bytes``) and its ``fstat``.

    With ``confine``, the file's resolved path must lie inside one of those folders (a symlink
    out of them is refused). Raises IngestError, with the fix in its message, for anything else
    than a readable regular file within the limits.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        real = Path(os.path.realpath(path))
        if confine is not None and not within(real, [Path(r).resolve() for r in confine]):
            raise IngestError(display_path, outside_reason(real))
        try:
            st = os.stat(real)
        except FileNotFoundError:
            if os.path.islink(path):
                raise IngestError(
                    display_path, f"broken symlink (its target {real} is missing); fix or remove it"
                ) from None
            raise
        if stat.S_ISDIR(st.st_mode):
            raise IngestError(display_path, "is a folder, not a file; pass the folder to walk it")
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(display_path, st.st_mode)
        check_size(display_path, st.st_size, max_bytes)
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as f:
            fst = os.fstat(f.fileno())
            if not stat.S_ISREG(fst.st_mode):  # swapped for a pipe or device since the stat
                raise _not_regular(display_path, fst.st_mode)
            if confine is not None and (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                raise IngestError(
                    display_path, "changed while it was being read (a moved symlink?); run again"
                )
            check_size(display_path, fst.st_size, max_bytes)
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise IngestError(display_path, "file not found; check the path") from None
    except PermissionError:
        raise IngestError(
            display_path, "permission denied; make the file readable (chmod +r) or remove it"
        ) from None
    except OSError as e:
        raise IngestError(display_path, f"cannot read the file ({e.strerror}); check it") from None
    if len(data) > max_bytes:  # grew since the stat
        raise IngestError(display_path, "file is over the size limit; raise ingest.max_file_mb")
    return data, fst


# ---------------------------------------------------------------------------------------------
# Bounds on what a file may expand to

EXPANSION_FACTOR = 10  # an archive may unpack to at most 10x ingest.max_file_mb ...
EXPANSION_RATIO = 100  # ... and, past the first 16 MB, to at most 100x its own size
_SMALL_EXPANSION = 16 * 2**20
_MAX_MEMBERS = 10_000
_READ_BLOCK = 1 << 20


def expansion_limit(compressed: int, max_bytes: int) -> int:
    """Most bytes a file of ``compressed`` bytes may unpack to (zip members, PDF streams)."""
    return min(EXPANSION_FACTOR * max_bytes, max(_SMALL_EXPANSION, EXPANSION_RATIO * compressed))


def text_limit(max_bytes: int) -> int:
    """Most characters of text one file may yield: one per byte of ``max_bytes``."""
    return max_bytes


def bomb_error(display_path: str, what: str, size: int | None, limit: int) -> IngestError:
    """``what`` unpacks to ``size`` bytes (None: to more than ``limit``)."""
    allowed = f"{limit / 2**20:.1f} MB allowed"
    how = f"to {size / 2**20:.1f} MB, over the {allowed}" if size is not None else (
        f"to more than the {allowed}")
    return IngestError(
        display_path,
        f"{what} unpacks {how} (a compression bomb?): at most {EXPANSION_RATIO}x the file "
        f"size and {EXPANSION_FACTOR}x ingest.max_file_mb; split the file or raise "
        "ingest.max_file_mb",
    )


def _member_size(data: bytes, info: zipfile.ZipInfo, limit: int, display_path: str) -> int:
    """Bytes ``info`` really unpacks to, decompressing at most ``limit`` + 1 MB of it."""
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    raw = data[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        return len(raw)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise IngestError(display_path, f"uses zip compression method {info.compress_type}, "
                          "which Word does not write; re-save it from Word")
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    while raw and total <= limit:
        total += len(d.decompress(raw, _READ_BLOCK))
        raw = d.unconsumed_tail
    if total <= limit:
        total += len(d.flush())  # output still held back: at most one 32 kB window
    return total


def check_zip(data: bytes, display_path: str, max_bytes: int, what: str = "DOCX") -> None:
    """Refuse a zip whose members unpack to more than :func:`expansion_limit` allows.

    Checks the central directory's declared sizes first (no decompression), then decompresses
    each member in bounded blocks to check that its real size is the declared one: Python's
    ``zipfile`` trusts the declared size only to truncate, after inflating a whole block.
    """
    limit = expansion_limit(len(data), max_bytes)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > _MAX_MEMBERS:
                raise IngestError(display_path, f"{what} holds {len(infos)} parts, over "
                                  f"{_MAX_MEMBERS}; re-save it from Word")
            declared = sum(i.file_size for i in infos)
            if declared > limit:
                raise bomb_error(display_path, what, declared, limit)
            used = 0
            for info in infos:
                if info.flag_bits & 0x1:
                    raise IngestError(display_path, f"{what} is encrypted; decrypt it first")
                real = _member_size(data, info, limit - used, display_path)
                used += real
                if used > limit:
                    raise bomb_error(display_path, what, None, limit)
                if real != info.file_size:
                    raise IngestError(display_path, f"{what} part {info.filename} does not match "
                                      "its size in the zip directory (damaged, or a zip bomb); "
                                      "re-save it from Word")
    except (zipfile.BadZipFile, zlib.error, struct.error, ValueError, EOFError) as e:
        raise IngestError(
            display_path, f"corrupt or unsupported {what} ({type(e).__name__}: {e}); re-save it"
        ) from None
