"""Pure translation from SDK results to what the Gradio app shows, in English or Chinese.

Owns the text, HTML and tables of the chat, knowledge and system tabs: chat messages with
expandable citations, the dialogue-state panel, search columns, indexing reports, the system
panel and the session metrics (the code agent's are in ``format_code.py``). Inputs are plain dicts (the SDK's
``to_dict()`` output) and a language ("en" or "zh", phrases from :mod:`ragkit.ui.i18n`), so
these functions are testable without models, Gradio or a browser. Knows nothing about Gradio
components, threads or loading.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ragkit.errors import RagkitError
from ragkit.text import without_emphasis
from ragkit.ui.i18n import InputError, Lang, detect_lang, word


# -- errors --------------------------------------------------------------------------------
def error_text(exc: BaseException, lang: Lang = "en") -> str:
    """A one-paragraph message for the user: never a traceback.

    A :class:`RagkitError` already says what to do next (the app's own input checks in the
    page's language); anything else is a bug, reported by its type and first line with a
    pointer to the server log (where the traceback goes).
    """
    if isinstance(exc, InputError):
        return exc.text(lang)
    if isinstance(exc, RagkitError):
        return str(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = type(exc).__name__ + (f": {first}" if first else "")
    return word("unexpected", lang, detail=detail)


def error_markdown(exc: BaseException, lang: Lang = "en") -> str:
    # "**错误：**文" would not render bold (CommonMark: punctuation before the closing run).
    head = f"**{word('error', lang)}**：" if lang == "zh" else f"**{word('error', lang)}:** "
    return head + md_escape(error_text(exc, lang))


def md_escape(text: str) -> str:
    return html.escape(text, quote=False)


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]#+-!|>~"})


def md_text(text: str) -> str:
    """``text`` shown literally inside Markdown: HTML and Markdown syntax escaped."""
    return md_escape(text).translate(_MD_SPECIAL)


# -- citations and chat --------------------------------------------------------------------
def citation_label(c: Mapping[str, Any], lang: Lang = "en") -> str:
    """"[n] source › heading, p. 3" for one citation (or hit) dict."""
    parts = [str(c.get("source") or c.get("title") or "?")]
    if c.get("heading"):
        parts.append(f" › {c['heading']}")
    page = c.get("page")
    if page:
        parts.append(("，" if lang == "zh" else ", ") + word("page", lang, page=page))
    n = c.get("n")
    return (f"[{n}] " if n is not None else "") + "".join(parts)


def _fragments(snippet: str, words: int = 6, chars: int = 12) -> list[re.Pattern[str]]:
    """Patterns for short runs of a citation snippet: ``words`` words at a time (any
    whitespace between them), or ``chars`` characters of a long unspaced run (Chinese). The
    snippet may be the chosen sentences under a "heading:" lead rather than the chunk itself,
    so several runs are tried rather than its start."""
    toks = snippet.split()
    runs = [toks[i:i + words] for i in range(0, max(1, len(toks) - words + 1), max(1, words // 2))]
    out = [re.compile(r"\s+".join(map(re.escape, r))) for r in runs
           if sum(len(t) for t in r) >= 16]
    for t in toks:
        out += [re.compile(re.escape(t[i:i + chars])) for i in range(0, len(t) - chars + 1, chars // 2)]
    return out


def locate(text: str, start: int, end: int, snippet: str) -> tuple[int, int] | None:
    """Where a cited passage is in a document's ``text`` today: its stored offsets when they
    still hold part of ``snippet``, else the first place a run of it is found (the file changed
    since it was indexed); None when it is not there any more."""
    pats = _fragments(snippet)
    if 0 <= start < end <= len(text) and any(p.search(text, start, end) for p in pats):
        return start, end
    for p in pats:
        if m := p.search(text):
            return m.start(), m.end()
    return None


def source_html(text: str, span: tuple[int, int] | None, c: Mapping[str, Any],
                lang: Lang = "en", context: int = 1500, before: int = 300) -> str:
    """A cited document in context: its place (title, heading path, page), then its text
    around the passage (``before`` characters ahead of it, ``context`` after) with the passage
    marked; everything escaped."""
    place = html.escape(citation_label(c, lang))
    if span is None:
        note = f"<p><em>{html.escape(word('passage_moved', lang))}</em></p>"
        shown = html.escape(text[: 2 * context])
        return f"<p><strong>{place}</strong></p>{note}<div class='rk-source'>{shown}</div>"
    s, e = span
    lo, hi = max(0, s - before), min(len(text), e + context)  # the mark near the top
    shown = _reading(text)
    ahead = ("…" if lo else "") + "".join(shown[lo:s])
    after = "".join(shown[e:hi]) + ("…" if hi < len(text) else "")
    return (f"<p><strong>{place}</strong></p><div class='rk-source' style='white-space:pre-wrap'>"
            f"{ahead}<mark id='rk-cited'>{''.join(shown[s:e])}</mark>{after}</div>")


_MD_HEADING = re.compile(r"^#{1,6}[ \t]+", re.MULTILINE)
_MD_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*\n?",
                      re.MULTILINE)
_MD_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.MULTILINE)
_MD_BULLET = re.compile(r"^[ \t]*([-*+])[ \t]+(?=\S)", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)[^\n]+?(?<=\S)\1")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\s]+\)")


def _reading(text: str) -> list[str]:
    """What each character of a Markdown document shows as, escaped (so any slice of the
    document's offsets can be shown and marked): heading ``#`` markers, table rule lines, bold
    markers and link targets show as nothing, a table row's inner bars as " · " and its outer
    bars as nothing, a list item's "-" as "•". Plain text shows as itself."""
    out = [html.escape(ch) for ch in text]

    def hide(a: int, b: int) -> None:
        out[a:b] = [""] * (b - a)

    for m in _MD_HEADING.finditer(text):
        hide(m.start(), m.end())
    for m in _MD_ROW.finditer(text):
        bars = [i for i in range(m.start(), m.end()) if text[i] == "|"]
        for i in bars:
            out[i] = "" if i in (bars[0], bars[-1]) else "·"
    for m in _MD_RULE.finditer(text):  # after the rows: a rule line is a row of dashes
        hide(m.start(), m.end())
    for m in _MD_BULLET.finditer(text):
        out[m.start(1)] = "•"
    for m in _MD_EMPHASIS.finditer(text):
        width = len(m.group(1))
        hide(m.start(), m.start() + width)
        hide(m.end() - width, m.end())
    for m in _MD_LINK.finditer(text):
        hide(m.start(), m.start() + 1)
        hide(m.end(1), m.end())
    return out


def citations_html(citations: Sequence[Mapping[str, Any]], lang: Lang = "en") -> str:
    """One ``<details>`` per citation: the label as summary, the source snippet inside."""
    if not citations:
        return ""
    items = []
    for c in citations:
        snippet = " ".join(str(c.get("snippet") or c.get("text") or "").split())
        items.append(
            '<details class="rk-cite"><summary>'
            f"{html.escape(citation_label(c, lang))}</summary>"
            f"<blockquote>{html.escape(snippet)}</blockquote></details>"
        )
    return f"\n\n**{word('sources', lang)}**\n\n" + "\n".join(items)


def answer_content(text: str, citations: Sequence[Mapping[str, Any]] = (), *,
                   lang: Lang | None = None, refused: bool = False, stopped: bool = False,
                   handoff: bool = False, ticket_id: str | None = None) -> str:
    """The assistant message: answer text, status notes, then expandable citations."""
    lang = lang or detect_lang(text)
    out = text.rstrip() or ("…" if not stopped else "")
    notes = []
    if stopped:
        notes.append(word("stopped", lang))
    if refused:
        notes.append(word("refused", lang))
    if handoff:
        ticket = f" ({word('ticket', lang)} {ticket_id})" if ticket_id else ""
        notes.append(word("handoff", lang) + ticket)
    if notes:
        out += "\n\n" + " · ".join(f"*{md_escape(n)}*" for n in notes)
    return out + citations_html(citations, lang)


def plain_answer(text: str, citations: Sequence[Mapping[str, Any]] = (),
                 lang: Lang | None = None) -> str:
    """An answer with its sources as plain text, for the clipboard: the answer, then one
    line per citation (its place) with the cited passage quoted under it."""
    lang = lang or detect_lang(text)
    out = text.strip()
    if citations:
        out += f"\n\n{word('sources', lang)}{'：' if lang == 'zh' else ':'}"
        for c in citations:
            out += f"\n{citation_label(c, lang)}"
            snippet = " ".join(str(c.get("snippet") or "").split())
            if snippet:
                out += f"\n    “{snippet}”"
    return out


def user_message(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant_message(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message as the page sends it back: a string, or Gradio's list of
    ``{"type": "text", "text": ...}`` parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content
                       if isinstance(p, Mapping) and p.get("type", "text") == "text")
    return ""


# -- dialogue state ------------------------------------------------------------------------
def state_markdown(state: Mapping[str, Any] | None,
                   tool_calls: Sequence[Mapping[str, Any]] = (), lang: Lang = "en") -> str:
    """The live dialogue-state panel: intent, slots, stack, pending confirmation, handoff,
    and the actions run on the last turn. Intent and slot names stay as the domain spells
    them (they are identifiers); the headings follow ``lang``."""
    if not state:
        return f"*{word('no_conversation', lang)}*"
    lines = [f"**{word('intent', lang)}:** `{state.get('intent') or '—'}`"]
    stack = [f.get("intent") if isinstance(f, Mapping) else f
             for f in state.get("intent_stack") or []]
    stack = [s for s in stack if s]
    if len(stack) > 1:
        lines.append(f"**{word('stack', lang)}:** " + " → ".join(f"`{s}`" for s in stack))
    slots = {k: v for k, v in (state.get("slots") or {}).items() if v not in (None, "")}
    if slots:
        lines += ["", f"| {word('slot', lang)} | {word('value', lang)} |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in slots.items()]
    else:
        lines.append(f"**{word('slots', lang)}:** —")
    lines.append("")
    lines.append(f"**{word('pending', lang)}:** "
                 f"{_pending(state.get('pending_confirmation'), lang)}")
    lines.append(f"**{word('verified', lang)}:** "
                 f"{word('yes' if state.get('customer_id') else 'no', lang)}")
    ticket = state.get("ticket_id")
    if state.get("handoff"):
        note = f" ({word('ticket', lang)} `{ticket}`)" if ticket else ""
        lines.append(f"**{word('handoff_label', lang)}:** {word('waiting_agent', lang)}{note}")
    elif ticket:  # an agent answered and the conversation came back to the assistant
        lines.append(f"**{word('handoff_label', lang)}:** {word('handoff_returned', lang)} "
                     f"({word('ticket', lang)} `{ticket}`)")
    else:
        lines.append(f"**{word('handoff_label', lang)}:** {word('no', lang)}")
    for call in tool_calls:
        ok = call.get("ok")
        mark = "✓" if ok else ("✗" if ok is False else "")
        args = ", ".join(f"{k}={_cell(v)}" for k, v in (call.get("args") or {}).items())
        lines.append(f"**{word('action', lang)}:** `{call.get('name')}`({args}) {mark}"
                     + (f" `{call['code']}`" if call.get("code") else ""))
    # A hard line break after each non-table line keeps one fact per line.
    return "\n".join(ln.rstrip() + ("  " if ln and not ln.startswith("|") else "")
                     for ln in lines).rstrip()


def qa_markdown(answer: Mapping[str, Any], lang: Lang = "en", *, support: bool = False) -> str:
    """The side panel for a knowledge Q&A turn (no dialogue state): how it was answered;
    ``support``: a support reply's knowledge answer, shown under the dialogue state."""
    lines = [f"**{word('kb_answer' if support else 'mode', lang)}:**"
             + ("" if support else f" {word('qa_mode', lang)}")]
    if answer.get("standalone_question"):
        lines.append(f"**{word('searched_for', lang)}:** "
                     f"{md_text(str(answer['standalone_question']))}")
    if answer.get("confidence") is not None:
        lines.append(f"**{word('confidence', lang)}:** {float(answer['confidence']):.2f}")
    if float(answer.get("relevance", -1.0)) >= 0:
        lines.append(f"**{word('relevance', lang)}:** {float(answer['relevance']):.2f}")
    # the evidence by source, under the number the answer cites it with (the prompt's own
    # numbering differs once the answer's markers are renumbered; "Evidence [1]" repeated
    # per sentence read as a stutter in a walk)
    cited = {c.get("chunk_id"): c.get("n") for c in answer.get("citations") or []}
    by_source: dict[Any, list[Mapping[str, Any]]] = {}
    for e in answer.get("evidence") or []:
        by_source.setdefault(e.get("chunk_id"), []).append(e)
    for chunk_id, said in by_source.items():
        mark = f"[{cited[chunk_id]}]" if chunk_id in cited else word("not_cited", lang)
        # a table row read with its header ("Method: PayPal; Time: 1 to 3 business days"),
        # not its raw pipes
        parts = " · ".join(
            f"{md_text(without_emphasis(str(e.get('shown') or e.get('text', '')))[:160])} "
            f"({float(e.get('score', 0)):.2f})" for e in said)
        sep = "" if mark.startswith("（") else " "
        lines.append(f"**{word('evidence', lang)}{sep}{mark}:** {parts}")
    if answer.get("quoted"):
        # quoted from the start (evidence in the other language, a follow-up's new subject):
        # the model was never asked, so it did not fail to answer
        asked = "generate" in (answer.get("stages_ms") or {})
        lines.append(word("quoted_note" if asked else "quoted_first_note", lang))
    lines.append(f"**{word('citations', lang)}:** {len(answer.get('citations') or [])}"
                 + (word("refused_note", lang) if answer.get("refused") else ""))
    stages = answer.get("stages_ms") or {}
    total = sum(float(v) for v in stages.values())
    if total > 0:
        parts = ", ".join(f"{_stage(k, lang)} {float(v) / 1000:.2f}s "
                          f"({100 * float(v) / total:.0f}%)" for k, v in stages.items())
        lines.append(f"**{word('stages', lang)}:** {parts}")
    return "  \n".join(lines)


def _stage(name: str, lang: Lang) -> str:
    """A stage's name in the page's language (an unknown stage keeps its own name)."""
    shown = word(f"stage_{name}", lang)
    return name if shown == f"stage_{name}" else shown


def _pending(pending: Any, lang: Lang = "en") -> str:
    if not pending:
        return "—"
    if isinstance(pending, Mapping) and pending.get("tool") == "_offer_person":
        return word("offer_person", lang)
    if isinstance(pending, Mapping):
        name = pending.get("tool") or pending.get("name") or pending.get("action") or "action"
        args = pending.get("args") or {k: v for k, v in pending.items()
                                       if k not in ("tool", "name", "action")}
        return f"`{name}` " + ", ".join(f"{k}={_cell(v)}" for k, v in args.items())
    return _cell(pending)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return md_escape(text).replace("|", "\\|").replace("\n", " ")


def handoff_choices(handoffs: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(label, thread_id) pairs for the agent view's picker: ticket, reason, last message."""
    out = []
    for h in handoffs:
        tid = str(h.get("thread_id"))
        said = [t.get("content", "") for t in h.get("transcript") or []
                if isinstance(t, Mapping) and t.get("role") == "user"]
        last = " ".join(str(said[-1] if said else h.get("last_message") or "").split())[:60]
        parts = [tid, h.get("ticket_id"), h.get("reason"), last]
        out.append((" · ".join(str(p) for p in parts if p), tid))
    return out


# -- knowledge base ------------------------------------------------------------------------
def kb_status_markdown(status: Mapping[str, Any], lang: Lang = "en") -> str:
    fresh = "" if status.get("index_up_to_date", True) else word("kb_stale", lang)
    head = (f"**{md_escape(str(status.get('path', '')))}** — " + word(
        "kb_status", lang, documents=status.get("documents", 0), chunks=status.get("chunks", 0),
        embedder=status.get("embedder", "?"), index=status.get("index_type", "?")) + fresh)
    settings = status.get("settings")
    if not isinstance(settings, Mapping):
        return head
    rows = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in _flat(settings))
    return (f"{head}\n\n<details class='rk-kb-settings'><summary>{word('kb_settings', lang)}"
            f"</summary><table>{rows}</table></details>")


def _flat(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``a.b`` = value pairs of a nested settings dict."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, Mapping):
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", ", ".join(map(str, v)) if isinstance(v, list) else v))
    return out


def sync_report_markdown(report: Mapping[str, Any], lang: Lang = "en") -> str:
    """Indexing outcome with one line per failed file (the reason as the SDK gives it)."""
    lines = [word("indexed", lang, s=float(report.get("elapsed_s") or 0.0),
                  added=report.get("added", 0), updated=report.get("updated", 0),
                  removed=report.get("removed", 0), unchanged=report.get("unchanged", 0),
                  chunks=report.get("chunks_embedded", 0))]
    failed = report.get("failed") or []
    if failed:
        lines += ["", f"**{word('skipped', lang, n=len(failed))}**", ""]
        lines += [f"- `{md_escape(f['path'])}`: {md_escape(f['error'])}" for f in failed]
    return "\n".join(lines)


DOC_HEADERS = {"en": ["source", "type", "language", "chunks", "size", "indexed", "status"],
               "zh": ["来源", "类型", "语言", "片段数", "大小", "索引时间", "状态"]}


def documents_table(docs: Sequence[Mapping[str, Any]], lang: Lang = "en") -> dict[str, Any]:
    """The Knowledge tab's documents table (a Dataframe value): one row per document."""
    import datetime as dt

    def size(n: int) -> str:
        return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB" if n >= 1e3 else f"{n} B"

    def when(t: Any) -> str:
        return dt.datetime.fromtimestamp(float(t)).strftime("%Y-%m-%d %H:%M") if t else "—"

    def language(code: Any) -> str:
        return word(f"language_{code}", lang) if code in ("en", "zh") else "—"

    def status(s: Any) -> str:
        return word(f"doc_{s if s in ('changed', 'missing') else 'indexed'}", lang)

    rows = [[str(d["source"]), str(d["kind"]), language(d.get("language")), int(d["chunks"]),
             size(int(d["size"])), when(d.get("indexed") or d.get("modified")),
             status(d.get("status"))]
            for d in docs]
    return {"headers": DOC_HEADERS.get(lang, DOC_HEADERS["en"]), "data": rows}


def progress_label(stage: str, done: int, total: int, lang: Lang = "en") -> str:
    return f"{word('stage_' + stage, lang) if stage in STAGES else stage} {done}/{total}"


STAGES = ("scan", "load", "parse", "embed", "write")


def hits_markdown(hits: Sequence[Mapping[str, Any]], mode: str, lang: Lang = "en", *,
                  width: int = 220) -> str:
    """One column of the search playground; ``mode`` (dense, keyword, hybrid) is its title."""
    title = word(mode, lang)
    if not hits:
        return f"### {title}\n\n*{word('no_matches', lang)}*"
    lines = [f"### {title}", ""]
    for i, h in enumerate(hits, start=1):
        snippet = " ".join(str(h.get("text", "")).split()).lstrip("# ")
        cut = snippet[:width] + ("…" if len(snippet) > width else "")
        lines.append(f"**{i}. {md_escape(citation_label({**h, 'n': None}, lang))}** "
                     f"`{float(h.get('score', 0.0)):.4f}`  ")
        lines.append(md_text(cut))
        lines.append("")
    return "\n".join(lines)


# -- system --------------------------------------------------------------------------------
def system_markdown(info: Mapping[str, Any] | None, kb: Mapping[str, Any] | None,
                    features: Mapping[str, bool], lang: Lang = "en") -> str:
    lines = [f"### {word('generator', lang)}"]
    if not info:
        lines.append(f"*{word('not_loaded', lang)}*")
    else:
        rope = info.get("rope_scaling")
        rope_text = (f"{rope.get('type')} ×{rope.get('factor')}" if isinstance(rope, Mapping)
                     else word("none", lang))
        params = info.get("parameters")
        rows = [
            ("s_model", info.get("model")), ("s_arch", info.get("arch")),
            ("s_params", f"{params / 1e6:.0f} M" if isinstance(params, int | float) else None),
            ("s_device", info.get("device")), ("s_dtype", info.get("dtype")),
            ("s_quant", word("none", lang) if str(info.get("quantization")).lower()
             in ("none", "") else info.get("quantization")), ("s_rope", rope_text),
            ("s_context", word("context_value", lang, n=info.get("context_length"),
                               native=info.get("native_context"))),
            ("s_threads", info.get("threads")),
        ]
        lines += [f"| {word('setting', lang)} | {word('value', lang)} |", "|---|---|"]
        lines += [f"| {word(k, lang)} | {_cell(v)} |" for k, v in rows if v is not None]
    if kb:
        lines += ["", f"### {word('kb', lang)}", kb_status_markdown(kb, lang)]
    lines += ["", f"### {word('components', lang)}", ("、" if lang == "zh" else ", ").join(
        f"{word(name, lang)} {'✓' if ok else word('not_installed', lang)}"
        for name, ok in features.items())]
    return "\n".join(lines)


def metrics_record(turn: int, usage: Mapping[str, Any], *, kind: str = "chat") -> dict[str, Any]:
    """One row of the session's metrics from an answer's usage dict.

    ``tokens_per_s`` is None when nothing was decoded (a refusal before generating, a reply
    that arrived in one piece) and ``kv_hit_rate`` None for an answer-cache hit: such turns
    say nothing about decoding speed or the prefix cache, so they stay out of those figures.
    ``ttft_s`` is None when the usage has no time to first token (a code-agent round).
    """
    cached = bool(usage.get("answer_cache_hit"))
    tps = float(usage.get("tokens_per_second") or 0.0)
    ttft = usage.get("time_to_first_token_s")
    return {
        "turn": turn,
        "kind": kind,
        "ttft_s": None if ttft is None else round(float(ttft), 3),
        "tokens_per_s": round(tps, 2) if tps > 0 and not cached else None,
        "kv_hit_rate": None if cached else round(float(usage.get("kv_cache_hit_rate") or 0.0),
                                                 3),
        "answer_cache_hit": cached,
    }


def code_round_usage(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """Usage figures of one code-agent round (its ``round`` event): decoding speed over the
    round's generation time (prefill included) and the share of prompt tokens served from the
    prefix cache; None when the round generated nothing."""
    usage = data.get("usage") or {}
    done, secs = int(usage.get("completion_tokens") or 0), float(usage.get("seconds") or 0.0)
    if done <= 0 or secs <= 0:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    return {"time_to_first_token_s": None, "tokens_per_second": done / secs,
            "kv_cache_hit_rate": int(usage.get("cached_tokens") or 0) / prompt if prompt else 0.0}


def metrics_long(rows: Sequence[Mapping[str, Any]], lang: Lang = "en") -> list[dict[str, Any]]:
    """Rows reshaped to (turn, metric, value) for one line per metric on the chart (figures a
    turn did not measure are left out); the hit rate in percent, so that it is not flattened
    against seconds and tokens/s."""
    out = []
    for r in rows:
        for key, name, scale in (("ttft_s", "m_ttft", 1), ("tokens_per_s", "m_tps", 1),
                                 ("kv_hit_rate", "m_kv", 100)):
            if r.get(key) is not None:
                out.append({"turn": r["turn"], "metric": word(name, lang),
                            "value": round(float(r[key]) * scale, 3)})
    return out


def metrics_markdown(rows: Sequence[Mapping[str, Any]], prefix: Mapping[str, Any] | None,
                     lang: Lang = "en") -> str:
    """Live figures: the last turn, session averages, answer-cache hits, prefix-cache totals.
    A figure a turn did not measure shows as "—" and stays out of the average."""
    lines = [f"### {word('session', lang)}"]
    if not rows:
        lines.append(f"*{word('no_answers', lang)}*")
    else:
        last = rows[-1]
        hits = sum(1 for r in rows if r["answer_cache_hit"])
        rounds = sum(1 for r in rows if r.get("kind") == "code")
        s = " 秒" if lang == "zh" else " s"
        lines += [f"| | {word('last', lang)} | {word('average', lang)} |", "|---|---|---|"]
        for key, label, form in (("ttft_s", "ttft", "{:.2f}" + s), ("tokens_per_s", "tps",
                                 "{:.1f}"), ("kv_hit_rate", "kv_rate", "{:.0%}")):
            avg = _mean(rows, key)
            lines.append(f"| {word(label, lang)} | {_fig(form, last.get(key))} | "
                         f"{_fig(form, avg)} |")
        lines += ["", word("answers", lang, n=len(rows) - rounds, hits=hits, rounds=rounds)]
    if prefix:
        lines += ["", word("prefix", lang, hits=prefix.get("hits", 0),
                          requests=prefix.get("requests", 0),
                          saved=prefix.get("tokens_saved", 0),
                          mib=float(prefix.get("bytes", 0)) / 2**20)]
    return "\n".join(lines)


def _mean(rows: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def _fig(form: str, value: float | None) -> str:
    return "—" if value is None else form.format(value)


# -- guardrails ---------------------------------------------------------------------------
def guard_lists_markdown(cats: list[dict[str, Any]], own: bool, path: str, lang: Lang) -> str:
    """The categories as a table: action, how many entries, the first terms."""
    head = word("guard_own", lang, path=path) if own else word("guard_default", lang)
    rows = [f"| {word('guard_category', lang)} | {word('guard_action', lang)} | # | |",
            "|---|---|---|---|"]
    for c in cats:
        terms = ", ".join(c["terms"][:10]) + (" …" if len(c["terms"]) > 10 else "")
        rows.append(f"| {c['category']} | {c['action']} | "
                    f"{len(c['terms']) + len(c['patterns'])} | {_cell(terms)} |")
    return head + "\n\n" + "\n".join(rows)


def guard_verdict_markdown(v: dict[str, Any], lang: Lang) -> str:
    if not v["findings"]:
        return word("guard_pass", lang)
    lines = [word("guard_result", lang, action=v["action"])]
    if v["changed"]:
        lines.append(f"> {_cell(v['text'])}")
    lines += [f"- {f['action']} · {f['category']} · «{_cell(f['excerpt'])}»"
              for f in v["findings"]]
    return "\n".join(lines)


def guard_audit_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Audit records as table rows: time, conversation, channel, action, category, excerpt."""
    import datetime as dt

    return [[dt.datetime.fromtimestamp(r["at"]).strftime("%Y-%m-%d %H:%M:%S"),
             r["conversation"][:12], r["channel"], r["action"], r["category"],
             r["excerpt"][:120]] for r in rows]
