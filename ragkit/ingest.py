"""Files -> :class:`~ragkit.types.ParsedDocument`: the only place ragkit parses files.

Owns: decoding and parsing Markdown, plain text, HTML, PDF (pypdf), DOCX (python-docx) and FAQ
files (JSON / JSON Lines question-answer pairs) into a document text plus sections that tile it,
and reporting every bad file as an :class:`~ragkit.errors.IngestError` whose message says what
to do. Finding and opening files (:func:`discover`, :func:`scan`, regular files only, the
symlink policy) is ``ragkit.sources``', re-exported here. Untrusted input is bounded: a DOCX's
zip and a PDF's page content may unpack to at most ``sources.expansion_limit`` bytes (checked
before unpacking), and no parser returns more than ``sources.text_limit`` characters.

Invariant for every format: ``doc.text[s.start:s.start + len(s.text)] == s.text`` for each
section, and the sections cover ``doc.text`` end to end. Markdown keeps its text as written
except a leading front-matter block, which is metadata and is left out of ``doc.text``; line
endings are normalised to ``\\n`` for every text format. Markdown headings are ATX only
(``#`` lines; setext underlines are body text). HTML text is rendered plainly: blocks on their
own lines, list items as ``- item``, table cells joined with `` | ``. PDF text is one section per
page that has text, pages joined by a blank line.

Does not own chunking (``ragkit.chunking``), storage, or change detection beyond
:func:`content_hash`.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragkit import sources
from ragkit.errors import IngestError
from ragkit.sources import read_source
from ragkit.types import DocKind, ParsedDocument, Section

log = logging.getLogger(__name__)

PARSER_VERSION = "1"  # bump when parsing output changes, so knowledge bases re-parse files
_KINDS: dict[str, DocKind] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".json": "faq",
    ".jsonl": "faq",
}
SUPPORTED_SUFFIXES = frozenset(_KINDS)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Discovery


def discover(
    paths: Sequence[Path], ignore: Sequence[str], root: Path | None = None, *,
    follow_links: bool = False,
) -> list[Path]:
    """Files to ingest: each file given as is, each folder walked recursively.

    Inside folders, files with a supported suffix are kept and entries matching an ``ignore``
    pattern are skipped: a pattern without ``/`` is matched against every name on the way down
    (``*.log``, ``.*``), one ending in ``/`` only against folders (``drafts/``), one containing
    ``/`` against the path relative to ``root`` (default: the folder being walked). Files named
    explicitly are always returned, so that :func:`parse_file` can report them if unsupported.
    Symlinks (files or folders) out of ``paths`` are left out unless ``follow_links``; linked
    folders inside them are not walked twice. The result is sorted and free of duplicates.
    :func:`scan` also says what was left out and why.
    """
    return scan(paths, ignore, root, follow_links=follow_links).files


def scan(
    paths: Sequence[Path], ignore: Sequence[str], root: Path | None = None, *,
    follow_links: bool = False,
) -> sources.Scan:
    """:func:`discover`, plus ``(path, reason)`` for each symlink it did not follow."""
    return sources.scan(paths, ignore, root, suffixes=SUPPORTED_SUFFIXES,
                        follow_links=follow_links)


# ---------------------------------------------------------------------------------------------
# Reading and decoding

_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\b\x1b")


def _control_ratio(sample: str) -> float:
    if not sample:
        return 0.0
    bad = sum(1 for c in sample if c < " " and c not in _ALLOWED_CONTROLS)
    return bad / len(sample)


def decode_text(data: bytes, display_path: str) -> str:
    """Bytes of a text file -> str with ``\\n`` line endings, or IngestError if binary/undecodable.

    Tries a UTF-8 or UTF-16 byte order mark, then UTF-8, then GB18030 (legacy Chinese files).
    """
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        if b"\x00" in data:
            raise IngestError(
                display_path,
                "looks binary (contains NUL bytes), not text; "
                "check the file type or remove it from the paths",
            )
        candidates = ["utf-8", "gb18030"]
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "gb18030" and re.search("[\ue000-\uf8ff]", text):
            continue  # decoded into private-use characters: not really GB18030
        text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        if "\x00" in text or _control_ratio(text[:8192]) > 0.05:
            raise IngestError(
                display_path,
                "looks binary (many control characters), not text; "
                "check the file type or remove it from the paths",
            )
        return text
    raise IngestError(
        display_path,
        "cannot decode the text (tried UTF-8, UTF-16 with BOM, GB18030); re-save it as UTF-8",
    )


def _require_text(
    text: str, display_path: str, what: str = "file is empty or only whitespace"
) -> None:
    if not text.strip():
        raise IngestError(display_path, f"{what}; add content or remove it from the paths")


def parse_file(
    path: Path, display_path: str, max_bytes: int, *, confine: Sequence[Path] | None = None
) -> ParsedDocument:
    """Parse one file. Raises IngestError (with the fix in its message) for a bad file.

    Only regular files are read (see :func:`ragkit.sources.read_source`, which also applies
    ``confine``); the result holds at most :func:`ragkit.sources.text_limit` characters.
    """
    _kind(path, display_path)
    data, _ = read_source(path, display_path, max_bytes, confine=confine)
    return parse_bytes(data, path, display_path, max_bytes)


def _kind(path: Path, display_path: str) -> DocKind:
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise IngestError(
            display_path,
            f"unsupported file type {path.suffix.lower() or '(no suffix)'!r}; supported: "
            f"{', '.join(sorted(SUPPORTED_SUFFIXES))}. Convert it or leave it out",
        )
    return kind


def parse_bytes(data: bytes, path: Path, display_path: str, max_bytes: int) -> ParsedDocument:
    """Parse the bytes of ``path`` (already read); ``max_bytes`` sets the expansion and text
    limits. Raises IngestError for a bad file."""
    doc = _parse(data, path, display_path, max_bytes)
    limit = sources.text_limit(max_bytes)
    if len(doc.text) > limit:
        raise _text_over(display_path, limit)
    return doc


def _text_over(display_path: str, limit: int) -> IngestError:
    return IngestError(
        display_path,
        f"text is over {limit} characters (one per byte of ingest.max_file_mb); "
        "split the file or raise ingest.max_file_mb",
    )


def _parse(data: bytes, path: Path, display_path: str, max_bytes: int) -> ParsedDocument:
    kind = _kind(path, display_path)
    if not data.strip():
        raise IngestError(
            display_path, "file is empty or only whitespace; add content or remove it"
        )
    if kind == "pdf":
        return _parse_pdf(data, display_path, path.stem, max_bytes)
    if kind == "docx":
        sources.check_zip(data, display_path, max_bytes)
        return _parse_docx(data, display_path, path.stem, max_bytes)
    if kind == "html":
        return _parse_html(data, display_path, path.stem)
    text = decode_text(data, display_path)
    _require_text(text, display_path)
    if kind == "markdown":
        return _parse_markdown(text, display_path, path.stem)
    if kind == "faq":
        return _parse_faq(text, display_path, path.stem, jsonl=path.suffix.lower() == ".jsonl")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    title = first if len(first) <= 80 else path.stem
    return ParsedDocument(display_path, "text", title, text, (Section(text, 0),))


# ---------------------------------------------------------------------------------------------
# Shared section building


class _Builder:
    """Accumulates sections from start offsets and heading paths over a finished text."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, tuple[str, ...], int | None]] = []
        self.stack: list[tuple[int, str]] = []

    def heading(self, offset: int, level: int, title: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        self.mark(offset)

    def mark(self, offset: int, page: int | None = None) -> None:
        self.marks.append((offset, tuple(t for _, t in self.stack), page))

    def sections(self, text: str) -> tuple[Section, ...]:
        marks = [(0, (), None), *self.marks]
        out: list[Section] = []
        for i, (start, path, page) in enumerate(marks):
            end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
            if end > start:
                out.append(Section(text[start:end], start, path, page))
        return tuple(out)


_INLINE_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|[*_`~]+")


def _clean_heading(s: str) -> str:
    return " ".join(_INLINE_RE.sub(lambda m: m.group(1) or "", s).split())


# ---------------------------------------------------------------------------------------------
# Markdown

_FRONT_RE = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_ATX_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})")


def _parse_markdown(raw: str, display_path: str, stem: str) -> ParsedDocument:
    title = ""
    text = raw
    m = _FRONT_RE.match(raw)
    if m:
        for line in (m.group(1) or "").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "title" and value.strip():
                title = value.strip().strip("'\"")
        text = raw[m.end() :]
        _require_text(text, display_path, "has front matter but no content")
    b = _Builder()
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
            name = _clean_heading(h.group(2) or "")
            if name:
                b.heading(offset, len(h.group(1)), name)
                if not title and len(h.group(1)) == 1:
                    title = name
        offset += len(line)
    return ParsedDocument(display_path, "markdown", title or stem, text, b.sections(text))


# ---------------------------------------------------------------------------------------------
# HTML

_DROP_TAGS = ("script", "style", "nav", "footer", "noscript", "template", "svg", "head", "iframe")
_BLOCK_TAGS = frozenset(
    str.split(
        "address article aside blockquote body dd details div dl dt fieldset figcaption figure form "
        "header hr li main ol p pre section summary table tbody thead tfoot tr ul caption"
    )
)
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
        self.builder = _Builder()
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
                self.block(2 if name in ("p", "table", "section", "article", "pre") else 1)
                self.walk(child)
                self.block(2 if name in ("p", "table", "section", "article", "pre") else 1)
            else:
                self.walk(child)


def _parse_html(data: bytes, display_path: str, stem: str) -> ParsedDocument:
    from bs4 import BeautifulSoup

    try:
        markup = decode_text(data, display_path)
    except IngestError as e:
        if "decode" not in e.reason:
            raise
        from bs4.dammit import UnicodeDammit  # honours <meta charset=...>

        markup = UnicodeDammit(data, is_html=True).unicode_markup
        if markup is None:
            raise
    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    page_title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    out = _HtmlText()
    try:
        out.walk(soup.body or soup)
    except RecursionError:
        raise IngestError(display_path, "HTML is nested too deeply to read; simplify it") from None
    text = "".join(out.parts).rstrip()
    _require_text(text, display_path, "HTML has no visible text")
    title = page_title or out.first_h1 or stem
    return ParsedDocument(display_path, "html", title, text, out.builder.sections(text))


# ---------------------------------------------------------------------------------------------
# PDF and DOCX (third-party parsers on untrusted bytes: any exception they raise means the file
# is corrupt or unsupported, so it is reported for that file instead of stopping the run)


def _pdf_limits(budget: int) -> contextlib.AbstractContextManager[Any]:
    """pypdf's per-stream decoding limits lowered to ``budget`` (pypdf >= 6 has them)."""
    import pypdf

    apply = getattr(pypdf, "apply_configuration", None)
    if apply is None:
        return contextlib.nullcontext()
    names = ("zlib", "lzw", "run_length", "brotli", "jbig2")
    return apply(**{f"{n}_maximum_output_length": min(budget, getattr(
        pypdf.get_configuration(), f"{n}_maximum_output_length")) for n in names})


def _parse_pdf(data: bytes, display_path: str, stem: str, max_bytes: int) -> ParsedDocument:
    """Text per page. Page content streams together may unpack to at most the expansion limit
    (a page that reuses a stream counts it again, as it is parsed again), and extraction stops
    at the text limit. Not bounded: form XObjects drawn from a page (pypdf caps them at 5,000
    per page and each at its stream limit)."""
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # recoverable-damage warnings are noise
    budget, text_max = sources.expansion_limit(len(data), max_bytes), sources.text_limit(max_bytes)
    pages: list[str] = []
    try:
        with _pdf_limits(budget + 1):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise IngestError(display_path, "PDF is password-protected; decrypt it first")
            unpacked = chars = 0
            for page in reader.pages:
                contents = page.get_contents()
                unpacked += len(contents.get_data()) if contents is not None else 0
                if unpacked > budget:
                    raise sources.bomb_error(display_path, "PDF content", None, budget)
                pages.append(page.extract_text() or "")
                chars += len(pages[-1])
                if chars > text_max:
                    raise _text_over(display_path, text_max)
            meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except IngestError:
        raise
    except LimitReachedError:
        raise sources.bomb_error(display_path, "PDF content", None, budget) from None
    except Exception as e:  # noqa: BLE001 - see the section comment
        raise IngestError(
            display_path,
            f"corrupt or unsupported PDF ({type(e).__name__}: {e}); re-export or repair it",
        ) from None
    b, chunks, offset = _Builder(), [], 0
    for number, raw in enumerate(pages, 1):
        page = "\n".join(ln.rstrip() for ln in raw.replace("\x00", "").splitlines()).strip()
        if not page:
            continue
        if chunks:
            chunks.append("\n\n")
            offset += 2
        b.mark(offset, number)
        chunks.append(page)
        offset += len(page)
    text = "".join(chunks)
    _require_text(
        text, display_path, "PDF has no extractable text (scanned images?); run OCR on it first"
    )
    first = text.strip().splitlines()[0].strip()
    title = str(meta_title).strip() or (first if len(first) <= 120 else stem)
    return ParsedDocument(display_path, "pdf", title, text, b.sections(text))


_HEADING_STYLE_RE = re.compile(r"heading\s*([1-9])$", re.I)


def _parse_docx(data: bytes, display_path: str, stem: str, max_bytes: int) -> ParsedDocument:
    """Call only after :func:`ragkit.sources.check_zip` bounded what the zip unpacks to."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
        core_title = (document.core_properties.title or "").strip()
    except Exception as e:  # noqa: BLE001 - see the section comment
        raise IngestError(
            display_path,
            f"corrupt or unsupported DOCX ({type(e).__name__}: {e}); re-save it from Word",
        ) from None
    b, parts, offset, style_title = _Builder(), [], 0, ""

    text_max = sources.text_limit(max_bytes)

    def add(s: str) -> int:
        nonlocal offset
        if offset + len(s) > text_max:
            raise _text_over(display_path, text_max)
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(s)
        offset += len(s)
        return offset - len(s)

    for block in blocks:
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells, seen = [], set()
                for cell in row.cells:  # merged cells repeat: keep each once
                    if id(cell._tc) not in seen:
                        seen.add(id(cell._tc))
                        cells.append(" ".join(cell.text.split()))
                if any(cells):
                    rows.append(" | ".join(cells))
            if rows:
                add("\n".join(rows))
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
    _require_text(text, display_path, "DOCX has no text")
    title = core_title or style_title or stem
    return ParsedDocument(display_path, "docx", title, text, b.sections(text))


# ---------------------------------------------------------------------------------------------
# FAQ files


def _faq_pair(obj: object) -> tuple[str, str, str] | None:
    if not isinstance(obj, dict):
        return None
    q, a = obj.get("question", obj.get("q")), obj.get("answer", obj.get("a"))
    if not isinstance(q, str) or not isinstance(a, str) or not q.strip() or not a.strip():
        return None
    cat = obj.get("category")
    return " ".join(q.split()), a.strip(), str(cat).strip() if cat is not None else ""


def _parse_faq(text: str, display_path: str, stem: str, *, jsonl: bool) -> ParsedDocument:
    title = stem
    if jsonl:
        items: list[object] = []
        for line in text.splitlines():
            if line.strip():
                try:
                    items.append(json.loads(line))
                except (json.JSONDecodeError, RecursionError):
                    items.append(None)  # a broken or absurdly nested line is skipped
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise IngestError(
                display_path, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}; fix it"
            ) from None
        except RecursionError:  # json.loads recurses once per level of nesting
            raise IngestError(display_path, "JSON is nested too deeply to be an FAQ file; "
                              "reshape it as a list of question/answer objects") from None
        if isinstance(data, dict) and isinstance(data.get("faqs"), list):
            title = str(data.get("title") or stem)
            data = data["faqs"]
        if not isinstance(data, list):
            raise IngestError(
                display_path,
                'expected a list of {"question": ..., "answer": ...} objects or '
                '{"faqs": [...]}; reshape the file',
            )
        items = data
    pairs = [p for p in map(_faq_pair, items) if p is not None]
    if not pairs:
        raise IngestError(
            display_path,
            'no valid FAQ pairs: each entry needs non-empty "question" and "answer" '
            '(or "q" and "a") strings',
        )
    if len(pairs) < len(items):
        log.warning("%s: skipped %d invalid FAQ entries", display_path, len(items) - len(pairs))
    parts = [f"Q: {q}\nA: {a}" for q, a, _ in pairs]
    text_out = "\n\n".join(parts)
    sections, offset = [], 0
    for i, ((q, _, cat), body) in enumerate(zip(pairs, parts, strict=True)):
        s = body + ("\n\n" if i + 1 < len(parts) else "")
        sections.append(Section(s, offset, (cat, q) if cat else (q,), None, atomic=True))
        offset += len(s)
    return ParsedDocument(display_path, "faq", title, text_out, tuple(sections))
