"""What a sync changes, decided without touching a file: the pure half of ``KnowledgeBase.sync``.

Owns: :func:`plan_sync`, which compares what the knowledge base holds with what a scan found and
returns a :class:`SyncPlan`: files to add, to update, to delete, left unchanged (and among those,
the ones whose recorded mtime or display path only needs touching), and skipped with a reason.
The rules:

- a file found and not stored is added; a stored file whose content hash or settings hash differs
  (or every stored file, on ``rebuild``) is updated; the rest are unchanged;
- a stored document is deleted only when it lies under one of the synced roots and was not found
  there; a file that was found but could not be read is skipped *and* keeps its stored document,
  so bad input never loses what is already indexed;
- entries the scan refused (a symlink out of the roots, a name that is not UTF-8) are skipped, and
  are not "found": a document indexed through such a link earlier is deleted.

Does not own reading, hashing or parsing files (``ragkit.ingest``), or applying the plan
(embedding, writing, the vector index, crash safety: ``ragkit.kb``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileState:
    """What sync compares for one file: its display path, content hash and mtime.

    ``settings_hash`` is the chunking/parsing settings a stored document was indexed with (left
    empty for a file found on disk: those are indexed with the run's settings).
    """

    source: str
    content_hash: str
    mtime: float
    settings_hash: str = ""


@dataclass(frozen=True)
class SyncPlan:
    """Keys (absolute paths) by what happens to them; ``skipped`` holds (source, reason)."""

    add: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    touch: tuple[str, ...] = ()  # unchanged, but the stored mtime or display path is out of date
    skipped: tuple[tuple[str, str], ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # key -> display path, every key

    @property
    def changes(self) -> dict[str, list[str]]:
        """Display paths by change, as ``ragkit index --dry-run`` lists them."""
        return {"added": [self.sources[k] for k in self.add],
                "updated": [self.sources[k] for k in self.update],
                "removed": [self.sources[k] for k in self.delete]}


def under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (string comparison; nothing is resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def plan_sync(
    stored: Mapping[str, FileState],
    found: Mapping[str, FileState],
    *,
    settings_hash: str,
    roots: Sequence[str],
    unreadable: Mapping[str, tuple[str, str]] | None = None,
    refused: Sequence[tuple[str, str]] = (),
    rebuild: bool = False,
) -> SyncPlan:
    """The plan that brings ``stored`` in line with the files found under ``roots``.

    ``stored`` and ``found`` map a key (the file's absolute path) to its state; ``unreadable``
    maps the key of a file that was found but could not be read to (source, reason); ``refused``
    lists (source, reason) for entries the scan left out. ``settings_hash`` is this run's; a
    stored document indexed with other settings is updated. ``rebuild`` updates every file found.
    """
    unreadable = unreadable or {}
    add: list[str] = []
    update: list[str] = []
    unchanged: list[str] = []
    touch: list[str] = []
    for key, now in found.items():
        old = stored.get(key)
        if old is None:
            add.append(key)
        elif (rebuild or old.content_hash != now.content_hash
              or old.settings_hash != settings_hash):
            update.append(key)
        else:
            unchanged.append(key)
            if old.mtime != now.mtime or old.source != now.source:
                touch.append(key)
    delete = [key for key in stored if key not in found and key not in unreadable
              and any(under(key, r) for r in roots)]
    sources = {key: state.source for key, state in stored.items()}
    sources.update({key: state.source for key, state in found.items()})
    sources.update({key: source for key, (source, _) in unreadable.items()})
    return SyncPlan(tuple(add), tuple(update), tuple(delete), tuple(unchanged), tuple(touch),
                    (*refused, *unreadable.values()), sources)
