"""Errors ragkit raises on purpose.

A shallow hierarchy under :class:`RagkitError`. Every message says what to do next; the CLI
prints it without a traceback and exits non-zero. A bug in ragkit is never wrapped in these:
it propagates as the original exception.
"""

from __future__ import annotations


class RagkitError(Exception):
    """Base class. ``str(err)`` is a complete, user-facing message."""

    exit_code = 1


class ConfigError(RagkitError):
    """A setting is invalid or two settings cannot be combined."""

    exit_code = 2


class ModelError(RagkitError):
    """A model is unknown, missing, corrupt, or could not be fetched or loaded."""


class IngestError(RagkitError):
    """One input file could not be parsed. Reported per file; the run goes on."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class KnowledgeBaseError(RagkitError):
    """A knowledge base is missing, incompatible, or in use."""


class KnowledgeBaseLockedError(KnowledgeBaseError):
    """Another process is writing to the knowledge base."""


class KnowledgeBaseCorruptError(KnowledgeBaseError):
    """``kb.sqlite`` is damaged, truncated, empty, or not a ragkit database."""


class KnowledgeBaseReadOnlyError(KnowledgeBaseError):
    """The knowledge base cannot be written here (read-only mount or no permission)."""


class DiskFullError(KnowledgeBaseError):
    """A write failed for lack of disk space; nothing already stored was lost."""


class IndexMismatchError(KnowledgeBaseError):
    """A stored vector index does not match the knowledge base's settings."""


class GenerationError(RagkitError):
    """Generation failed for a reason the caller can fix (bad request, unsupported setting)."""


class BusyError(GenerationError):
    """Every generation slot and queue place is taken: retry later (HTTP 429)."""
