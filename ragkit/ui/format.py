"""Pure translation from SDK results to what the Gradio app shows.

Owns every piece of text, HTML and table the UI renders: chat messages with expandable
citations, the dialogue-state panel, search columns, indexing reports, code-agent rounds, the
system panel and the session metrics. Inputs are plain dicts (the SDK's ``to_dict()`` output)
so these functions are testable without models, Gradio or a browser. Knows nothing about
Gradio components, threads or loading.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ragkit.errors import RagkitError

Lang = str  # "en" | "zh"

_WORDS: dict[str, dict[str, str]] = {
    "sources": {"en": "Sources", "zh": "来源"},
    "page": {"en": "p.", "zh": "第{}页"},
    "stopped": {"en": "stopped", "zh": "已停止"},
    "refused": {"en": "not found in the knowledge base", "zh": "知识库中没有找到答案"},
    "handoff": {"en": "handed off to a human agent", "zh": "已转人工客服"},
    "ticket": {"en": "ticket", "zh": "工单"},
}


def word(key: str, lang: Lang = "en") -> str:
    entry = _WORDS[key]
    return entry.get(lang, entry["en"])


def detect_lang(text: str) -> Lang:
    """"zh" when the text holds CJK characters, else "en" (for UI labels only)."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


# -- errors --------------------------------------------------------------------------------
def error_text(exc: BaseException) -> str:
    """A one-paragraph message for the user: never a traceback.

    A :class:`RagkitError` already says what to do next; anything else is a bug, reported by
    its type and message with a pointer to the server log (where the traceback goes).
    """
    if isinstance(exc, RagkitError):
        return str(exc)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return (f"Unexpected error ({name}{': ' + detail if detail else ''}). The details are in "
            "the terminal running `ragkit ui`; please report it if it happens again.")


def error_markdown(exc: BaseException) -> str:
    return f"**Error:** {_md_escape(error_text(exc))}"


def _md_escape(text: str) -> str:
    return html.escape(text, quote=False)


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]#+-!|>~"})


def md_text(text: str) -> str:
    """``text`` shown literally inside Markdown: HTML and Markdown syntax escaped."""
    return _md_escape(text).translate(_MD_SPECIAL)


# -- citations and chat --------------------------------------------------------------------
def citation_label(c: Mapping[str, Any], lang: Lang = "en") -> str:
    """"[n] source › heading, p. 3" for one citation (or hit) dict."""
    parts = [str(c.get("source") or c.get("title") or "?")]
    if c.get("heading"):
        parts.append(f" › {c['heading']}")
    page = c.get("page")
    if page:
        parts.append(f", p. {page}" if lang != "zh" else f"，{word('page', 'zh').format(page)}")
    n = c.get("n")
    return (f"[{n}] " if n is not None else "") + "".join(parts)


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
        out += "\n\n" + " · ".join(f"*{_md_escape(n)}*" for n in notes)
    return out + citations_html(citations, lang)


def user_message(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant_message(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


# -- dialogue state ------------------------------------------------------------------------
def state_markdown(state: Mapping[str, Any] | None,
                   tool_calls: Sequence[Mapping[str, Any]] = ()) -> str:
    """The live dialogue-state panel: intent, slots, stack, pending confirmation, handoff,
    and the actions run on the last turn."""
    if not state:
        return "*No conversation yet.*"
    lines = [f"**Intent:** `{state.get('intent') or '—'}`"]
    stack = [f.get("intent") if isinstance(f, Mapping) else f
             for f in state.get("intent_stack") or []]
    stack = [s for s in stack if s]
    if len(stack) > 1:
        lines.append("**Stack:** " + " → ".join(f"`{s}`" for s in stack))
    slots = {k: v for k, v in (state.get("slots") or {}).items() if v not in (None, "")}
    if slots:
        lines += ["", "| slot | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in slots.items()]
    else:
        lines.append("**Slots:** —")
    lines.append("")
    lines.append(f"**Pending confirmation:** {_pending(state.get('pending_confirmation'))}  ")
    if state.get("handoff"):
        ticket = state.get("ticket_id")
        lines.append(f"**Handoff:** yes{f' (ticket `{ticket}`)' if ticket else ''}  ")
    else:
        lines.append("**Handoff:** no  ")
    for call in tool_calls:
        ok = call.get("ok")
        mark = "✓" if ok else ("✗" if ok is False else "")
        args = ", ".join(f"{k}={_cell(v)}" for k, v in (call.get("args") or {}).items())
        lines.append(f"**Action:** `{call.get('name')}`({args}) {mark}"
                     + (f" `{call['code']}`" if call.get("code") else "") + "  ")
    # A hard line break after each non-table line keeps one fact per line.
    return "\n".join(ln.rstrip() + ("  " if ln and not ln.startswith("|") else "")
                     for ln in lines).rstrip()


def qa_markdown(answer: Mapping[str, Any]) -> str:
    """The side panel for a knowledge Q&A turn (no dialogue state): how it was answered."""
    lines = ["**Mode:** knowledge Q&A"]
    if answer.get("standalone_question"):
        lines.append(f"**Searched for:** {md_text(str(answer['standalone_question']))}")
    if answer.get("confidence") is not None:
        lines.append(f"**Retrieval confidence:** {float(answer['confidence']):.2f}")
    lines.append(f"**Citations:** {len(answer.get('citations') or [])}"
                 + (" (refused: not in the knowledge base)" if answer.get("refused") else ""))
    return "  \n".join(lines)


def _pending(pending: Any) -> str:
    if not pending:
        return "—"
    if isinstance(pending, Mapping):
        name = pending.get("tool") or pending.get("name") or pending.get("action") or "action"
        args = pending.get("args") or {k: v for k, v in pending.items()
                                       if k not in ("tool", "name", "action")}
        return f"`{name}` " + ", ".join(f"{k}={_cell(v)}" for k, v in args.items())
    return _cell(pending)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _md_escape(text).replace("|", "\\|").replace("\n", " ")


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
def kb_status_markdown(status: Mapping[str, Any]) -> str:
    fresh = "" if status.get("index_up_to_date", True) else " (index will rebuild on next search)"
    return (f"**{_md_escape(str(status.get('path', '')))}** — "
            f"{status.get('documents', 0)} documents, {status.get('chunks', 0)} chunks; "
            f"embedder `{status.get('embedder', '?')}`, index `{status.get('index_type', '?')}`"
            f"{fresh}")


def sync_report_markdown(report: Mapping[str, Any]) -> str:
    """Indexing outcome with one line per failed file."""
    lines = [
        f"**Indexed** in {report.get('elapsed_s', 0.0):.1f}s: {report.get('added', 0)} added, "
        f"{report.get('updated', 0)} updated, {report.get('removed', 0)} removed, "
        f"{report.get('unchanged', 0)} unchanged; {report.get('chunks_embedded', 0)} chunks "
        "embedded."
    ]
    failed = report.get("failed") or []
    if failed:
        lines += ["", f"**{len(failed)} file(s) skipped:**", ""]
        lines += [f"- `{_md_escape(f['path'])}`: {_md_escape(f['error'])}" for f in failed]
    return "\n".join(lines)


STAGES = {"scan": "reading files", "embed": "embedding chunks", "write": "writing"}


def progress_label(stage: str, done: int, total: int) -> str:
    return f"{STAGES.get(stage, stage)} {done}/{total}"


def hits_markdown(hits: Sequence[Mapping[str, Any]], title: str, *, width: int = 220) -> str:
    """One column of the search playground."""
    if not hits:
        return f"### {title}\n\n*no matches*"
    lines = [f"### {title}", ""]
    for i, h in enumerate(hits, start=1):
        snippet = " ".join(str(h.get("text", "")).split()).lstrip("# ")
        cut = snippet[:width] + ("…" if len(snippet) > width else "")
        lines.append(f"**{i}. {_md_escape(citation_label({**h, 'n': None}))}** "
                     f"`{float(h.get('score', 0.0)):.4f}`  ")
        lines.append(md_text(cut))
        lines.append("")
    return "\n".join(lines)


# -- code agent ----------------------------------------------------------------------------
def agent_events_markdown(events: Sequence[Mapping[str, Any]]) -> str:
    """Plan, tests, then code and test results per round, from the agent's event dicts.

    Event shapes (``ragkit.codeagent.AgentEvent``): plan {plan}; code {code, syntax_error};
    tests {phase: "written", source, tests} or {phase: "run", result}; round (the round's
    summary: status, passed, total, feedback); done {result: SolveResult dict}.
    """
    out: list[str] = []
    current = 0
    for ev in events:
        kind, rnd, data = ev.get("kind"), int(ev.get("round") or 0), ev.get("data") or {}
        if kind in ("code", "tests", "round") and rnd > current:
            current = rnd
            out.append(f"### Round {rnd}")
        if kind == "plan":
            out.append("### Plan\n\n" + str(data.get("plan") or "").strip())
        elif kind == "code":
            out.append("**Code**\n\n```python\n" + str(data.get("code", "")).rstrip() + "\n```")
            if data.get("syntax_error"):
                out.append(f"✗ syntax error: {_md_escape(str(data['syntax_error']))}")
        elif kind == "tests" and data.get("phase") == "written":
            who = {"user": "your tests", "self": "tests the agent wrote"}.get(
                str(data.get("source")), "tests")
            out.append(f"**Tests** ({who})\n\n```python\n{str(data.get('tests') or '').rstrip()}"
                       "\n```")
        elif kind == "tests":
            out.append(tests_markdown(data.get("result") or data))
        elif kind == "round":
            line = (f"Round {rnd}: `{data.get('status', '?')}`, "
                    f"{data.get('passed', 0)}/{data.get('total', 0)} tests passed")
            if data.get("feedback"):
                line += " — feedback for the next round: " + _md_escape(
                    " ".join(str(data["feedback"]).split())[:300])
            out.append(f"*{line}*")
        elif kind == "done":
            res = data.get("result") or {}
            if res.get("passed"):
                head = "### Done — tests pass ✓"
            elif res.get("test_source") == "none" or not res.get("tests_total"):
                head = "### Done — no tests were run"
            else:
                head = "### Done — tests still failing ✗"
            out.append(f"{head}\n\nBest round {res.get('best_round', '?')}, "
                       f"{res.get('tests_passed', 0)}/{res.get('tests_total', 0)} tests "
                       f"passed; stopped: {res.get('stopped', '?')}, "
                       f"{float(res.get('seconds') or 0):.0f}s.")
    return "\n\n".join(out)


def tests_markdown(result: Mapping[str, Any]) -> str:
    """A sandbox result: status, passed/total, one line per test."""
    status, passed, total = result.get("status", "?"), result.get("passed", 0), result.get("total", 0)
    icon = "✓" if status == "passed" else "✗"
    lines = [f"**Tests** {icon} `{status}` — {passed}/{total} passed"]
    for t in result.get("tests") or []:
        mark = "✓" if t.get("status") == "passed" else "✗"
        msg = " ".join(str(t.get("message") or "").split())[:200]
        lines.append(f"- {mark} `{t.get('name')}`{': ' + _md_escape(msg) if msg else ''}")
    if result.get("last_error") and not result.get("tests"):
        lines.append(f"```\n{str(result['last_error'])[-800:]}\n```")
    return "\n".join(lines)


# -- system --------------------------------------------------------------------------------
def system_markdown(info: Mapping[str, Any] | None, kb: Mapping[str, Any] | None,
                    features: Mapping[str, bool]) -> str:
    lines = ["### Generator"]
    if not info:
        lines.append("*not loaded yet (loads on the first question)*")
    else:
        rope = info.get("rope_scaling")
        rope_text = (f"{rope.get('type')} ×{rope.get('factor')}" if isinstance(rope, Mapping)
                     else "none")
        params = info.get("parameters")
        rows = [
            ("model", info.get("model")), ("architecture", info.get("arch")),
            ("parameters", f"{params / 1e6:.0f} M" if isinstance(params, int | float) else None),
            ("device", info.get("device")), ("dtype", info.get("dtype")),
            ("quantization", info.get("quantization")), ("RoPE scaling", rope_text),
            ("context", f"{info.get('context_length')} tokens (native "
                        f"{info.get('native_context')})"),
            ("threads", info.get("threads")),
        ]
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in rows if v is not None]
    if kb:
        lines += ["", "### Knowledge base", kb_status_markdown(kb)]
    lines += ["", "### Components", ", ".join(
        f"{name} {'✓' if ok else '(not installed)'}" for name, ok in features.items())]
    return "\n".join(lines)


def metrics_record(turn: int, usage: Mapping[str, Any], *, kind: str = "chat") -> dict[str, Any]:
    """One row of the session's metrics from an answer's usage dict."""
    return {
        "turn": turn,
        "kind": kind,
        "ttft_s": round(float(usage.get("time_to_first_token_s") or 0.0), 3),
        "tokens_per_s": round(float(usage.get("tokens_per_second") or 0.0), 2),
        "kv_hit_rate": round(float(usage.get("kv_cache_hit_rate") or 0.0), 3),
        "answer_cache_hit": bool(usage.get("answer_cache_hit")),
    }


def metrics_long(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows reshaped to (turn, metric, value) for one line per metric on the chart."""
    out = []
    for r in rows:
        for key, name in (("ttft_s", "time to first token (s)"), ("tokens_per_s", "tokens/s"),
                          ("kv_hit_rate", "KV-cache hit rate")):
            out.append({"turn": r["turn"], "metric": name, "value": r[key]})
    return out


def metrics_markdown(rows: Sequence[Mapping[str, Any]], prefix: Mapping[str, Any] | None) -> str:
    """Live figures: the last turn, session averages, answer-cache hits, prefix-cache totals."""
    lines = ["### This session"]
    if not rows:
        lines.append("*No answers yet.*")
    else:
        last = rows[-1]
        n = len(rows)
        avg = {k: sum(float(r[k]) for r in rows) / n for k in ("ttft_s", "tokens_per_s",
                                                               "kv_hit_rate")}
        hits = sum(1 for r in rows if r["answer_cache_hit"])
        lines += [
            "| | last | average |", "|---|---|---|",
            f"| time to first token | {last['ttft_s']:.2f} s | {avg['ttft_s']:.2f} s |",
            f"| tokens/s | {last['tokens_per_s']:.1f} | {avg['tokens_per_s']:.1f} |",
            f"| KV-cache hit rate | {last['kv_hit_rate']:.0%} | {avg['kv_hit_rate']:.0%} |",
            "", f"**Answers:** {n}, answer-cache hits: {hits}",
        ]
    if prefix:
        lines.append(
            f"**Prefix cache:** {prefix.get('hits', 0)}/{prefix.get('requests', 0)} requests hit, "
            f"{prefix.get('tokens_saved', 0)} prompt tokens reused, "
            f"{float(prefix.get('bytes', 0)) / 2**20:.0f} MiB used")
    return "\n".join(lines)
