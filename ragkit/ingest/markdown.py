"""Markdown (``.md``, ``.markdown``) -> ParsedDocument.

Owns: reading a front-matter block (its ``title:`` names the document; the block itself is
metadata and is left out of ``doc.text``), ATX headings (``#`` lines, outside fenced code; setext
underlines are body text) as the sections' heading paths, and heading text cleaned of links and
emphasis. Everything else is kept as written, with line endings normalised by
:mod:`ragkit.ingest.decode`. The title is the front matter's, else the first level-1 heading,
else the file name.
"""

from __future__ import annotations

import re

from ragkit.ingest.registry import ParseContext
from ragkit.ingest.sections import SectionBuilder
from ragkit.types import ParsedDocument

_FRONT_RE = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_ATX_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})")
_INLINE_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|[*_`~]+")


def clean_heading(s: str) -> str:
    """Heading text without link targets, emphasis markers or repeated whitespace."""
    return " ".join(_INLINE_RE.sub(lambda m: m.group(1) or "", s).split())


def parse(data: bytes, ctx: ParseContext) -> ParsedDocument:
    raw = ctx.decode(data)
    title = ""
    text = raw
    m = _FRONT_RE.match(raw)
    if m:
        for line in (m.group(1) or "").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "title" and value.strip():
                title = value.strip().strip("'\"")
        text = raw[m.end() :]
        ctx.require_text(text, "has front matter but no content")
    b = SectionBuilder()
    fence: str | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        f = _FENCE_RE.match(body)
        if fence is not None:
            closes = f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence)
            if closes and not body.strip().lstrip(fence[0]):
                fence = None
        elif f:
            fence = f.group(1)
        elif h := _ATX_RE.match(body):
            name = clean_heading(h.group(2) or "")
            if name:
                b.heading(offset, len(h.group(1)), name)
                if not title and len(h.group(1)) == 1:
                    title = name
        offset += len(line)
    return ParsedDocument(ctx.display_path, "markdown", title or ctx.stem, text, b.sections(text))
