"""`ragkit eval dst`: dialogue state tracking on the labelled dialogue set (owner: support-data)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the owner lands the commands."""
