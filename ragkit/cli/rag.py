"""`ragkit ask` and `ragkit chat`: grounded answers from a knowledge base (owner: rag-core)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the owner lands the commands."""
