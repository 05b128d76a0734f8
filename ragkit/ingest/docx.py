"""DOCX (``.docx``, read with python-docx) -> ParsedDocument.

Owns: bounding the zip before anything is unpacked (:func:`ragkit.ingest.read.check_zip`), then
paragraphs and tables in document order, separated by blank lines: a table as one block of rows,
its cells joined with `` | `` (a merged cell once); paragraphs styled "Title" or "Heading N" as
the sections' heading paths. Stops at the text limit. The title is the core properties' title,
else the first "Title" paragraph, else the file name.

python-docx parses untrusted bytes: any exception it raises means the file is corrupt or
unsupported, so it is reported for that file instead of stopping the run.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ragkit.ingest.read import check_zip
from ragkit.ingest.registry import ParseContext
from ragkit.ingest.sections import SectionBuilder
from ragkit.types import ParsedDocument

_HEADING_STYLE_RE = re.compile(r"heading\s*([1-9])$", re.I)


def _open(data: bytes, ctx: ParseContext) -> tuple[list[Any], str]:
    """The document's blocks (paragraphs and tables) and its core title."""
    import docx

    check_zip(data, ctx.display_path, ctx.max_bytes)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
        core_title = (document.core_properties.title or "").strip()
    except Exception as e:  # noqa: BLE001 - see the module docstring
        raise ctx.error(
            f"corrupt or unsupported DOCX ({type(e).__name__}: {e}); re-save it from Word"
        ) from None
    return blocks, core_title


def _table_text(table: Any) -> str:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # merged cells repeat: keep each once
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def parse(data: bytes, ctx: ParseContext) -> ParsedDocument:
    from docx.table import Table

    blocks, core_title = _open(data, ctx)
    b, parts, offset, style_title = SectionBuilder(), [], 0, ""
    text_max = ctx.text_limit

    def add(s: str) -> int:
        nonlocal offset
        if offset + len(s) > text_max:
            raise ctx.text_over()
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(s)
        offset += len(s)
        return offset - len(s)

    for block in blocks:
        if isinstance(block, Table):
            if table := _table_text(block):
                add(table)
            continue
        para = block.text.strip()
        if not para:
            continue
        style = block.style.name if block.style is not None else ""
        level = 0 if style == "Title" else None
        if m := _HEADING_STYLE_RE.match(style or ""):
            level = int(m.group(1))
        start = add(para)
        if level is not None:
            b.heading(start, level, " ".join(para.split()))
            if level == 0 and not style_title:
                style_title = para
    text = "".join(parts)
    ctx.require_text(text, "DOCX has no text")
    title = core_title or style_title or ctx.stem
    return ParsedDocument(ctx.display_path, "docx", title, text, b.sections(text))
