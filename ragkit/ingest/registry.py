"""The suffix registry: which parser turns a file's bytes into a ParsedDocument.

Owns: :func:`register_parser`, :func:`unregister_parser`, :func:`parser_for` and
:func:`supported_suffixes`; :class:`ParseContext`, what a parser is told about its file (with
helpers to decode text and report a bad file); and the dispatch every parse goes through
(:func:`parse_file`, :func:`parse_bytes`), which applies the checks common to all formats: the
suffix has a parser, the file is not empty, the result stays within the text limit.

A parser is ``fn(data: bytes, ctx: ParseContext) -> ParsedDocument``. It raises
:class:`~ragkit.errors.IngestError` (``ctx.error(reason)``) for a bad file, which is then
reported for that file and the run goes on; any other exception is a bug and stops the run. Its
sections must tile its text (see :mod:`ragkit.ingest.sections`). ``ragkit.ingest`` registers the
built-in parsers exactly as a user would, and discovery keeps every registered suffix::

    from ragkit.ingest import ParseContext, register_parser
    from ragkit.types import ParsedDocument, Section

    def parse_rst(data: bytes, ctx: ParseContext) -> ParsedDocument:
        text = ctx.decode(data)
        return ParsedDocument(ctx.display_path, "text", ctx.stem, text, (Section(text, 0),))

    register_parser(".rst", parse_rst)

Does not own reading (:mod:`ragkit.ingest.read`), walking (:mod:`ragkit.ingest.discover`) or any
format (one module each).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragkit.errors import ConfigError, IngestError
from ragkit.ingest.decode import decode_text, require_text
from ragkit.ingest.read import read_source, text_limit
from ragkit.types import ParsedDocument


@dataclass(frozen=True)
class ParseContext:
    """The file a parser is parsing: where it is, how it is shown, and its size limit."""

    path: Path
    display_path: str  # how the file is named in citations and error messages
    max_bytes: int  # ingest.max_file_mb in bytes; sets the text and expansion limits

    @property
    def stem(self) -> str:
        """The file name without its suffix: the title when the file names none."""
        return self.path.stem

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()

    @property
    def text_limit(self) -> int:
        """Most characters the document may hold."""
        return text_limit(self.max_bytes)

    def error(self, reason: str) -> IngestError:
        """The error for this file; ``reason`` says what is wrong and what to do."""
        return IngestError(self.display_path, reason)

    def text_over(self) -> IngestError:
        """The error for a document over :attr:`text_limit`."""
        return self.error(
            f"text is over {self.text_limit} characters (one per byte of ingest.max_file_mb); "
            "split the file or raise ingest.max_file_mb"
        )

    def require_text(self, text: str, what: str = "file is empty or only whitespace") -> None:
        """IngestError ("``what``; add content ...") unless ``text`` has non-blank characters."""
        require_text(text, self.display_path, what)

    def decode(self, data: bytes) -> str:
        """The bytes of a text file as text (see :func:`ragkit.ingest.decode_text`), not blank."""
        text = decode_text(data, self.display_path)
        self.require_text(text)
        return text


Parser = Callable[[bytes, ParseContext], ParsedDocument]

_PARSERS: dict[str, Parser] = {}


def _suffix(suffix: str) -> str:
    key = suffix.lower()
    if len(key) < 2 or not key.startswith(".") or "/" in key or "\\" in key or "." in key[1:]:
        raise ConfigError(f"parser suffix {suffix!r} is not a file suffix; pass it like '.csv'")
    return key


def register_parser(suffix: str, parser: Parser, *, replace: bool = False) -> Parser:
    """Parse files ending in ``suffix`` (any case) with ``parser``; returns ``parser``.

    Files with that suffix are discovered in folders from now on. A suffix that already has a
    different parser is refused unless ``replace``.
    """
    key = _suffix(suffix)
    old = _PARSERS.get(key)
    if old is not None and old is not parser and not replace:
        raise ConfigError(
            f"{key} files already have a parser ({getattr(old, '__qualname__', old)!s}); "
            "pass replace=True to use yours instead"
        )
    _PARSERS[key] = parser
    return parser


def unregister_parser(suffix: str) -> Parser | None:
    """Stop parsing (and discovering) ``suffix``; returns the parser it had, if any."""
    return _PARSERS.pop(_suffix(suffix), None)


def parser_for(suffix: str) -> Parser | None:
    """The parser registered for ``suffix`` (``".md"``, any case), or None."""
    return _PARSERS.get(suffix.lower())


def supported_suffixes() -> frozenset[str]:
    """Every suffix with a parser right now, built-in or registered by the user."""
    return frozenset(_PARSERS)


def _parser(path: Path, display_path: str) -> Parser:
    parser = parser_for(path.suffix)
    if parser is None:
        raise IngestError(
            display_path,
            f"unsupported file type {path.suffix.lower() or '(no suffix)'!r}; supported: "
            f"{', '.join(sorted(_PARSERS))}. Convert it or leave it out",
        )
    return parser


def parse_file(
    path: Path, display_path: str, max_bytes: int, *, confine: Sequence[Path] | None = None
) -> ParsedDocument:
    """Parse one file. Raises IngestError (with the fix in its message) for a bad file.

    Only regular files are read (see :func:`ragkit.ingest.read_source`, which also applies
    ``confine``); the result holds at most :func:`ragkit.ingest.text_limit` characters.
    """
    _parser(path, display_path)  # an unsupported file is reported before it is read
    data, _ = read_source(path, display_path, max_bytes, confine=confine)
    return parse_bytes(data, path, display_path, max_bytes)


def parse_bytes(data: bytes, path: Path, display_path: str, max_bytes: int) -> ParsedDocument:
    """Parse the bytes of ``path`` (already read); ``max_bytes`` sets the expansion and text
    limits. Raises IngestError for a bad file."""
    parser = _parser(path, display_path)
    ctx = ParseContext(path, display_path, max_bytes)
    if not data.strip():
        raise ctx.error("file is empty or only whitespace; add content or remove it")
    doc = parser(data, ctx)
    if len(doc.text) > ctx.text_limit:
        raise ctx.text_over()
    return doc
