"""Finding input files: which files under the given paths an indexing run reads.

Owns: walking folders (:func:`scan`, :func:`discover`) with ignore patterns, the symlink policy
and the names that cannot be stored, keeping the files whose suffix has a registered parser
(:func:`ragkit.ingest.supported_suffixes`, so a suffix a user registers is discovered too).
Opening and reading a file, with the checks that keep a hostile folder from hanging a run, is
:mod:`ragkit.ingest.read`'s job; parsing is the format modules'.

Symlinks (to files or folders) that resolve outside the roots being indexed are not followed
unless the caller opts in (``follow_links``); they are reported per file. Links that stay inside
the roots work as before; a linked folder inside the roots is not walked twice, and with
``follow_links`` each real folder is walked once, so link cycles end. A name whose bytes are not
UTF-8 is reported, not returned: no database, hash or terminal accepts it.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragkit.ingest.read import outside_reason, within
from ragkit.ingest.registry import supported_suffixes

_BAD_NAME = ("its name is not valid UTF-8 (shown with \\x escapes); rename it, e.g. with "
             "`convmv`, to index it")


def _ignored(rel_parts: tuple[str, ...], is_dir: bool, patterns: Sequence[str]) -> bool:
    rel = "/".join(rel_parts)
    for pat in patterns:
        dir_only = pat.endswith("/")
        pat = pat.rstrip("/")
        if not pat or (dir_only and not is_dir):
            continue
        if "/" in pat:  # anchored to the root, like .gitignore
            if fnmatch.fnmatchcase(rel, pat.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(rel_parts[-1], pat):
            return True
    return False


def _utf8_name(path: Path) -> bool:
    """False for a name with bytes that are not UTF-8 (decoded by Python as lone surrogates,
    which no database, hash or terminal accepts)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Scan:
    """What a walk found: files to read, and ``(path, reason)`` for entries it refused."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def discover(
    paths: Sequence[Path], ignore: Sequence[str], root: Path | None = None, *,
    follow_links: bool = False,
) -> list[Path]:
    """Files to ingest: each file given as is, each folder walked recursively.

    Inside folders, files with a supported suffix are kept and entries matching an ``ignore``
    pattern are skipped: a pattern without ``/`` is matched against every name on the way down
    (``*.log``, ``.*``), one ending in ``/`` only against folders (``drafts/``), one containing
    ``/`` against the path relative to ``root`` (default: the folder being walked). Files named
    explicitly are always returned, so that :func:`ragkit.ingest.parse_file` can report them if
    unsupported. Symlinks (files or folders) out of ``paths`` are left out unless
    ``follow_links``; linked folders inside them are not walked twice. The result is sorted and
    free of duplicates. :func:`scan` also says what was left out and why.
    """
    return scan(paths, ignore, root, follow_links=follow_links).files


def scan(
    paths: Sequence[Path],
    ignore: Sequence[str],
    root: Path | None = None,
    *,
    suffixes: frozenset[str] | None = None,
    follow_links: bool = False,
) -> Scan:
    """:func:`discover`, plus ``(path, reason)`` for each entry it refused.

    ``suffixes`` defaults to every suffix with a registered parser. Paths given explicitly are
    trusted (the caller named them). Inside folders, a symlink whose target is outside every
    given path is skipped with a reason unless ``follow_links``; a linked folder whose target is
    inside them is not walked (its files are found at their own path).
    """
    wanted = supported_suffixes() if suffixes is None else suffixes
    roots = [Path(p).resolve() for p in paths]
    found: set[Path] = set()
    skipped: dict[Path, str] = {}
    for p in map(Path, paths):
        if not p.is_dir():
            if _utf8_name(p):
                found.add(p)
            else:
                skipped[p] = _BAD_NAME
            continue
        prefix: tuple[str, ...] = ()
        if root is not None and p.resolve().is_relative_to(root.resolve()):
            prefix = p.resolve().relative_to(root.resolve()).parts
        walked = {p.resolve()}
        for dirpath, dirnames, filenames in os.walk(p, followlinks=follow_links):
            d = Path(dirpath)
            rel = prefix + Path(os.path.relpath(d, p)).parts
            keep = []
            for name in sorted(dirnames):
                if _ignored((*rel, name), True, ignore):
                    continue
                sub = d / name
                if sub.is_symlink():
                    target = sub.resolve()
                    if within(target, roots):
                        continue
                    if not follow_links:
                        skipped[sub] = outside_reason(target, folder=True)
                        continue
                if follow_links:  # each real folder once, whatever links lead to it
                    real = sub.resolve()
                    if real in walked:
                        continue
                    walked.add(real)
                keep.append(name)
            dirnames[:] = keep
            for name in filenames:
                f = d / name
                if Path(name).suffix.lower() not in wanted or _ignored((*rel, name), False, ignore):
                    continue
                if not _utf8_name(f):
                    skipped[f] = _BAD_NAME
                    continue
                if not follow_links and f.is_symlink():
                    target = f.resolve()
                    if not within(target, roots):
                        skipped[f] = outside_reason(target)
                        continue
                found.add(f)
    return Scan(sorted(found, key=str), sorted(skipped.items(), key=lambda kv: str(kv[0])))
