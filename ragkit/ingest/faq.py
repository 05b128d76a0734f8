"""FAQ files (``.json``, ``.jsonl``) -> ParsedDocument: one atomic section per question.

Owns: the FAQ shapes ragkit reads (a JSON list of ``{"question", "answer"}`` objects, ``q``/``a``
accepted, an optional ``category``; or ``{"title": ..., "faqs": [...]}``; or JSON Lines with one
object per line), skipping invalid entries with a warning, and rendering each pair as
``Q: ...\\nA: ...`` in a section of its own (atomic: chunking never splits it), headed by its
category and question. A JSON file that is invalid, nested too deeply or shaped otherwise is one
file's error; a broken JSON Lines line is one skipped entry.
"""

from __future__ import annotations

import json
import logging

from ragkit.ingest.registry import ParseContext
from ragkit.types import ParsedDocument, Section

log = logging.getLogger("ragkit.ingest")


def _pair(obj: object) -> tuple[str, str, str] | None:
    if not isinstance(obj, dict):
        return None
    q, a = obj.get("question", obj.get("q")), obj.get("answer", obj.get("a"))
    if not isinstance(q, str) or not isinstance(a, str) or not q.strip() or not a.strip():
        return None
    cat = obj.get("category")
    return " ".join(q.split()), a.strip(), str(cat).strip() if cat is not None else ""


def _json_items(text: str, ctx: ParseContext) -> tuple[list[object], str]:
    """The entries of a JSON FAQ file and its title."""
    title = ctx.stem
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ctx.error(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}; fix it") \
            from None
    except RecursionError:  # json.loads recurses once per level of nesting
        raise ctx.error("JSON is nested too deeply to be an FAQ file; "
                        "reshape it as a list of question/answer objects") from None
    if isinstance(data, dict) and isinstance(data.get("faqs"), list):
        title = str(data.get("title") or ctx.stem)
        data = data["faqs"]
    if not isinstance(data, list):
        raise ctx.error('expected a list of {"question": ..., "answer": ...} objects or '
                        '{"faqs": [...]}; reshape the file')
    return data, title


def _jsonl_items(text: str) -> list[object]:
    items: list[object] = []
    for line in text.splitlines():
        if line.strip():
            try:
                items.append(json.loads(line))
            except (json.JSONDecodeError, RecursionError):
                items.append(None)  # a broken or absurdly nested line is skipped
    return items


def _document(items: list[object], title: str, ctx: ParseContext) -> ParsedDocument:
    pairs = [p for p in map(_pair, items) if p is not None]
    if not pairs:
        raise ctx.error('no valid FAQ pairs: each entry needs non-empty "question" and "answer" '
                        '(or "q" and "a") strings')
    if len(pairs) < len(items):
        log.warning("%s: skipped %d invalid FAQ entries", ctx.display_path, len(items) - len(pairs))
    parts = [f"Q: {q}\nA: {a}" for q, a, _ in pairs]
    text = "\n\n".join(parts)
    sections, offset = [], 0
    for i, ((q, _, cat), body) in enumerate(zip(pairs, parts, strict=True)):
        s = body + ("\n\n" if i + 1 < len(parts) else "")
        sections.append(Section(s, offset, (cat, q) if cat else (q,), None, atomic=True))
        offset += len(s)
    return ParsedDocument(ctx.display_path, "faq", title, text, tuple(sections))


def parse_json(data: bytes, ctx: ParseContext) -> ParsedDocument:
    items, title = _json_items(ctx.decode(data), ctx)
    return _document(items, title, ctx)


def parse_jsonl(data: bytes, ctx: ParseContext) -> ParsedDocument:
    return _document(_jsonl_items(ctx.decode(data)), ctx.stem, ctx)
