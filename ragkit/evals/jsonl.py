"""Reading labelled sets: one JSON object per line, each turned into a record.

Owns :func:`read_jsonl`, shared by the retrieval, RAG and dialogue sets, so a bad line is
reported the same way everywhere (file, line number, what the line needs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ragkit.errors import ConfigError

T = TypeVar("T")


def _as_is(obj: Any) -> Any:
    return obj


def read_jsonl(path: Path, build: Callable[[Any], T] = _as_is, *, bad: str = "not JSON",
               needs: str = "fix the line") -> list[T]:
    """``build`` each non-blank line's object; a line that fails becomes one ConfigError."""
    rows: list[T] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(build(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ConfigError(f"{path}:{n}: {bad} ({e}); {needs}") from None
    return rows
