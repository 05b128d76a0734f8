"""A real PostgreSQL 16 + pgvector server for tests, from the ``pgserver`` wheel."""

from __future__ import annotations

import uuid
from pathlib import Path


def start(folder: Path):
    """Start (or attach to) a server whose data lives in ``folder``; ``.cleanup()`` stops it."""
    import pgserver

    return pgserver.get_server(folder, cleanup_mode="stop")


def url(server, schema: str | None = None) -> str:
    """A ``--kb`` URL for a fresh schema (or ``schema``) on ``server``."""
    uri = server.get_uri()
    schema = schema or f"t_{uuid.uuid4().hex[:12]}"
    return f"{uri}{'&' if '?' in uri else '?'}schema={schema}"
