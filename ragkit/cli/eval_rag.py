"""`ragkit eval rag`: answer quality, citation precision and refusal accuracy (owner: rag-eval)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the owner lands the commands."""
