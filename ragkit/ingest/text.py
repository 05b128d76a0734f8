"""Plain text (``.txt``) -> ParsedDocument: the decoded text as one section.

Owns: the title of a plain-text file (its first non-blank line when that is at most 80
characters, else the file name). Decoding and the "is it really text" checks are
:mod:`ragkit.ingest.decode`'s; splitting the text is chunking's.
"""

from __future__ import annotations

from ragkit.ingest.registry import ParseContext
from ragkit.ingest.sections import whole
from ragkit.types import ParsedDocument

TITLE_MAX = 80


def parse(data: bytes, ctx: ParseContext) -> ParsedDocument:
    text = ctx.decode(data)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    title = first if len(first) <= TITLE_MAX else ctx.stem
    return ParsedDocument(ctx.display_path, "text", title, text, whole(text))
