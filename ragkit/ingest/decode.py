"""Bytes -> text: the one decoder every text format (and a user's parser) goes through.

Owns: choosing the encoding of a text file (a UTF-8 or UTF-16 byte order mark, then UTF-8, then
GB18030 for legacy Chinese files), refusing bytes that are binary rather than text, normalising
line endings to ``\\n``, and :func:`require_text`, the "nothing to index" error. HTML's
``<meta charset>`` fallback is :mod:`ragkit.ingest.html`'s; PDF and DOCX carry their own
encodings and never come here.
"""

from __future__ import annotations

import codecs
import re

from ragkit.errors import IngestError

_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\b\x1b")
_PRIVATE_USE_RE = re.compile("[\ue000-\uf8ff]")


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
        if enc == "gb18030" and _PRIVATE_USE_RE.search(text):
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


def require_text(
    text: str, display_path: str, what: str = "file is empty or only whitespace"
) -> None:
    """IngestError unless ``text`` has something besides whitespace."""
    if not text.strip():
        raise IngestError(display_path, f"{what}; add content or remove it from the paths")
