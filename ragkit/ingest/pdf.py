"""PDF (``.pdf``, read with pypdf) -> ParsedDocument: one section per page that has text.

Owns: bounding what an untrusted PDF may cost before and while it is read (page content
streams together may unpack to at most :func:`ragkit.ingest.read.expansion_limit` bytes, pypdf's
own per-stream limits are lowered to that budget, and extraction stops at the text limit),
refusing password-protected files, and joining page texts with a blank line, each section
carrying its page number. The title is the PDF's metadata title, else its first line (up to 120
characters), else the file name.

pypdf parses untrusted bytes: any exception it raises means the file is corrupt or unsupported,
so it is reported for that file instead of stopping the run. Not bounded: form XObjects drawn
from a page (pypdf caps them at 5,000 per page and each at its stream limit).
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

from ragkit.errors import IngestError
from ragkit.ingest.read import bomb_error, expansion_limit
from ragkit.ingest.registry import ParseContext
from ragkit.ingest.sections import SectionBuilder
from ragkit.types import ParsedDocument

TITLE_MAX = 120


def _pdf_limits(budget: int) -> contextlib.AbstractContextManager[Any]:
    """pypdf's per-stream decoding limits lowered to ``budget`` (pypdf >= 6 has them)."""
    import pypdf

    apply = getattr(pypdf, "apply_configuration", None)
    if apply is None:
        return contextlib.nullcontext()
    names = ("zlib", "lzw", "run_length", "brotli", "jbig2")
    return apply(**{f"{n}_maximum_output_length": min(budget, getattr(
        pypdf.get_configuration(), f"{n}_maximum_output_length")) for n in names})


def _pages(data: bytes, ctx: ParseContext) -> tuple[list[str], str]:
    """The raw text of every page and the metadata title, within the budgets."""
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # recoverable-damage warnings are noise
    budget, text_max = expansion_limit(len(data), ctx.max_bytes), ctx.text_limit
    pages: list[str] = []
    try:
        with _pdf_limits(budget + 1):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise ctx.error("PDF is password-protected; decrypt it first")
            unpacked = chars = 0
            for page in reader.pages:
                contents = page.get_contents()
                unpacked += len(contents.get_data()) if contents is not None else 0
                if unpacked > budget:
                    raise bomb_error(ctx.display_path, "PDF content", None, budget)
                pages.append(page.extract_text() or "")
                chars += len(pages[-1])
                if chars > text_max:
                    raise ctx.text_over()
            meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except IngestError:
        raise
    except LimitReachedError:
        raise bomb_error(ctx.display_path, "PDF content", None, budget) from None
    except Exception as e:  # noqa: BLE001 - see the module docstring
        raise ctx.error(
            f"corrupt or unsupported PDF ({type(e).__name__}: {e}); re-export or repair it"
        ) from None
    return pages, str(meta_title)


def parse(data: bytes, ctx: ParseContext) -> ParsedDocument:
    pages, meta_title = _pages(data, ctx)
    b, chunks, offset = SectionBuilder(), [], 0
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
    ctx.require_text(text, "PDF has no extractable text (scanned images?); run OCR on it first")
    first = text.strip().splitlines()[0].strip()
    title = meta_title.strip() or (first if len(first) <= TITLE_MAX else ctx.stem)
    return ParsedDocument(ctx.display_path, "pdf", title, text, b.sections(text))
