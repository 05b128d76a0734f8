"""HTML (``.html``, ``.htm``) -> ParsedDocument, rendered as plain visible text.

Owns: decoding markup (the shared decoder first, then BeautifulSoup's, which honours
``<meta charset=...>``), dropping what is not content (scripts, styles, navigation, footers,
``<head>``), and rendering the rest plainly: blocks on their own lines, list items as
``- item``, table cells joined with `` | ``, ``<pre>`` kept as written, ``<h1>``-``<h6>`` as
the sections' heading paths. The title is ``<title>``, else the first ``<h1>``, else the file
name. Markup nested too deeply to walk is one file's error.
"""

from __future__ import annotations

from typing import Any

from ragkit.errors import IngestError
from ragkit.ingest.decode import decode_text
from ragkit.ingest.registry import ParseContext
from ragkit.ingest.sections import SectionBuilder
from ragkit.types import ParsedDocument

_DROP_TAGS = ("script", "style", "nav", "footer", "noscript", "template", "svg", "head", "iframe")
_BLOCK_TAGS = frozenset(
    str.split(
        "address article aside blockquote body dd details div dl dt fieldset figcaption figure form "
        "header hr li main ol p pre section summary table tbody thead tfoot tr ul caption"
    )
)
_PARAGRAPH_TAGS = ("p", "table", "section", "article", "pre")  # a blank line around them
_HEADINGS = {f"h{i}": i for i in range(1, 7)}


class _HtmlText:
    """Visible text with block elements on their own lines, and heading offsets recorded.

    Separators are owed, not written: a space or newlines go out only before the next text, so
    the text never ends with, or doubles, whitespace.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.newlines = 0  # newlines owed before the next text
        self.space = False  # a space owed before the next text
        self.builder = SectionBuilder()
        self.first_h1 = ""

    def emit(self, s: str) -> int:
        """Append ``s`` after any owed separator; return the offset where ``s`` starts."""
        if self.length and self.newlines:
            self.parts.append("\n" * self.newlines)
            self.length += self.newlines
        elif self.length and self.space:
            self.parts.append(" ")
            self.length += 1
        self.newlines, self.space = 0, False
        start = self.length
        self.parts.append(s)
        self.length += len(s)
        return start

    def inline(self, s: str) -> None:
        words = s.split()
        if s[:1].isspace():
            self.space = True
        if words:
            self.emit(" ".join(words))
            self.space = s[-1].isspace()

    def block(self, n: int = 1) -> None:
        self.newlines = max(self.newlines, n)
        self.space = False

    def walk(self, node: Any) -> None:
        from bs4 import NavigableString, Tag

        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # skips comments, doctype, CDATA
                    self.inline(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _HEADINGS:
                heading = " ".join(child.get_text(" ").split())
                if heading:
                    self.block(2)
                    self.builder.heading(self.emit(heading), _HEADINGS[name], heading)
                    if name == "h1" and not self.first_h1:
                        self.first_h1 = heading
                    self.block(1)
            elif name == "br":
                self.block(1)
            elif name == "pre":
                self.block(2)
                self.emit(child.get_text().strip("\n") or " ")
                self.block(2)
            elif name == "li":
                self.block(1)
                self.emit("-")
                self.space = True
                self.walk(child)
                self.block(1)
            elif name in ("td", "th"):
                if child.find_previous_sibling(("td", "th")) is not None:
                    self.inline(" | ")
                self.walk(child)
            elif name in _BLOCK_TAGS:
                self.block(2 if name in _PARAGRAPH_TAGS else 1)
                self.walk(child)
                self.block(2 if name in _PARAGRAPH_TAGS else 1)
            else:
                self.walk(child)


def _markup(data: bytes, display_path: str) -> str:
    try:
        return decode_text(data, display_path)
    except IngestError as e:
        if "decode" not in e.reason:
            raise
        from bs4.dammit import UnicodeDammit  # honours <meta charset=...>

        markup = UnicodeDammit(data, is_html=True).unicode_markup
        if markup is None:
            raise
        return markup


def parse(data: bytes, ctx: ParseContext) -> ParsedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_markup(data, ctx.display_path), "html.parser")
    title_tag = soup.find("title")
    page_title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    out = _HtmlText()
    try:
        out.walk(soup.body or soup)
    except RecursionError:
        raise ctx.error("HTML is nested too deeply to read; simplify it") from None
    text = "".join(out.parts).rstrip()
    ctx.require_text(text, "HTML has no visible text")
    title = page_title or out.first_h1 or ctx.stem
    return ParsedDocument(ctx.display_path, "html", title, text, out.builder.sections(text))
