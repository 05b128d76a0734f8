"""Writing small document trees for knowledge-base tests."""

from __future__ import annotations

from pathlib import Path


def write_docs(root: Path, docs: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (UTF-8) and return ``root``."""
    for rel, text in docs.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root
