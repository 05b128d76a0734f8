"""Files -> :class:`~ragkit.types.ParsedDocument`: the only place ragkit reads and parses files.

This package owns ingestion from the filesystem to a parsed document; each module says what it
owns:

- :mod:`~ragkit.ingest.discover`: which files under the given paths are read (ignore patterns,
  symlink policy, registered suffixes);
- :mod:`~ragkit.ingest.read`: reading one untrusted file (regular files only, bounded size,
  confinement) and the limits on what it may unpack to (zip and PDF bombs, text length);
- :mod:`~ragkit.ingest.decode`: bytes -> text for every text format;
- :mod:`~ragkit.ingest.registry`: the suffix registry and the dispatch every parse goes through;
- :mod:`~ragkit.ingest.sections`: the section builder the formats share;
- one module per format: :mod:`~ragkit.ingest.markdown`, :mod:`~ragkit.ingest.text`,
  :mod:`~ragkit.ingest.html`, :mod:`~ragkit.ingest.pdf`, :mod:`~ragkit.ingest.docx`,
  :mod:`~ragkit.ingest.faq` (JSON / JSON Lines question-answer pairs).

The built-in parsers are registered below with :func:`register_parser`, the call a user makes
for a format of their own; a registered suffix is discovered in folders and indexed like the
built-in ones. Every bad file is an :class:`~ragkit.errors.IngestError` whose message says what
to do. Untrusted input is bounded: a DOCX's zip and a PDF's page content may unpack to at most
``expansion_limit`` bytes (checked before unpacking), and no parser returns more than
``text_limit`` characters.

Invariant for every format: ``doc.text[s.start:s.start + len(s.text)] == s.text`` for each
section, and the sections cover ``doc.text`` end to end. Line endings are normalised to ``\\n``
for every text format.

Does not own chunking (``ragkit.chunking``), storage, or change detection beyond
:func:`content_hash` (what a sync adds, updates and removes is ``ragkit.syncplan``'s).
"""

from __future__ import annotations

from ragkit.ingest import docx, faq, html, markdown, pdf, text
from ragkit.ingest.decode import decode_text, require_text
from ragkit.ingest.discover import Scan, discover, scan
from ragkit.ingest.read import (
    check_size,
    check_zip,
    content_hash,
    expansion_limit,
    read_source,
    text_limit,
)
from ragkit.ingest.registry import (
    ParseContext,
    Parser,
    parse_bytes,
    parse_file,
    parser_for,
    register_parser,
    supported_suffixes,
    unregister_parser,
)
from ragkit.ingest.sections import SectionBuilder

PARSER_VERSION = "1"  # bump when built-in parsing output changes, so knowledge bases re-parse

for _suffix, _parser in (
    (".md", markdown.parse),
    (".markdown", markdown.parse),
    (".txt", text.parse),
    (".html", html.parse),
    (".htm", html.parse),
    (".pdf", pdf.parse),
    (".docx", docx.parse),
    (".json", faq.parse_json),
    (".jsonl", faq.parse_jsonl),
):
    register_parser(_suffix, _parser)
del _suffix, _parser

#: The built-in suffixes. :func:`supported_suffixes` also holds those a user registered.
SUPPORTED_SUFFIXES = supported_suffixes()

__all__ = [
    "PARSER_VERSION",
    "SUPPORTED_SUFFIXES",
    "ParseContext",
    "Parser",
    "Scan",
    "SectionBuilder",
    "check_zip",
    "check_size",
    "content_hash",
    "decode_text",
    "discover",
    "expansion_limit",
    "parse_bytes",
    "parse_file",
    "parser_for",
    "read_source",
    "register_parser",
    "require_text",
    "scan",
    "supported_suffixes",
    "text_limit",
    "unregister_parser",
]
