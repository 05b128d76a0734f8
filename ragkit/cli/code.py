"""`ragkit code`, `ragkit code test` and `ragkit eval humaneval` (owner: codeagent)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the owner lands the commands."""
