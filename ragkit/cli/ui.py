"""`ragkit ui`: the Gradio app (owner: ui)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the owner lands the commands."""
