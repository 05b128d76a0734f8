"""`ragkit support`: the customer-service assistant in a terminal (owner: support-logic)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the owner lands the commands."""
