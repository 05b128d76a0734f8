"""An evaluation you can look at: a RAG evaluation report as one self-contained HTML page.

Owns :func:`rag_html` (pure: the report ``ragkit eval rag`` writes -> an HTML page with inline
CSS and SVG charts, no script and nothing fetched): the run's settings, the summary per group,
answer correctness by question type and by language, refusal accuracy as a confusion matrix,
the distribution of seconds per question with each stage's share, and every failure with its
answer, its citations and the best retrieved passage. Every text from the report is escaped.

Does not run or score anything (``ragkit.evals.rag`` / ``rag_run``) or write files (the CLI).
"""

from __future__ import annotations

import html
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2430;
line-height:1.45;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #dde;padding-bottom:.2rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #dde;padding:.25rem .6rem;text-align:right}th{background:#f3f4f8}
td:first-child,th:first-child{text-align:left}.meta td{text-align:left}
.fail{border:1px solid #e3e3ea;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}
.why{color:#a1262a;font-weight:600}.q{font-weight:600}.muted{color:#667}
blockquote{margin:.3rem 0;padding:.2rem .6rem;border-left:3px solid #c9cbe0;background:#fafafe}
svg text{font-size:12px;fill:#1f2430}
"""

METRICS = (("n", "questions"), ("hit@1", "hit@1"), ("correct", "correct"),
           ("citation_precision", "citation precision"), ("refusal_accuracy", "refusal acc."),
           ("answered_answerable", "answered answerable"),
           ("refused_unanswerable", "refused unanswerable"))


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return _e(value)


def bars(rows: Sequence[tuple[str, float, str]], width: int = 560) -> str:
    """A horizontal bar chart (SVG) of ``(label, value in [0, 1], note)`` rows."""
    h, label_w = 22, 150
    out = [f'<svg width="{width}" height="{h * len(rows) + 6}" role="img">']
    for i, (label, value, note) in enumerate(rows):
        y = i * h + 3
        w = max(0.0, min(1.0, value)) * (width - label_w - 110)
        out.append(f'<text x="0" y="{y + 14}">{_e(label)}</text>'
                   f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{h - 6}" '
                   f'fill="#5b63d6"/><text x="{label_w + w + 6:.1f}" y="{y + 14}">'
                   f'{value:.2f} {_e(note)}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(values: Sequence[float], bins: int = 12, width: int = 560,
              height: int = 150) -> str:
    """Counts of ``values`` in equal bins (SVG), with the bins' edges under the axis."""
    if not values:
        return '<p class="muted">no timings</p>'
    lo, hi = 0.0, max(values) or 1.0
    step = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    top, pad = max(counts), 16  # room above the tallest bar for its count
    bw = width / bins
    out = [f'<svg width="{width}" height="{height + pad + 36}" role="img">']
    for i, c in enumerate(counts):
        bh = (c / top) * height if top else 0
        y = pad + height - bh
        out.append(f'<rect x="{i * bw + 1:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" '
                   f'height="{bh:.1f}" fill="#5b63d6"/>')
        if c:
            out.append(f'<text x="{i * bw + 3:.1f}" y="{y - 3:.1f}">{c}</text>')
        if i % 2 == 0:
            out.append(f'<text x="{i * bw:.1f}" y="{pad + height + 16}">'
                       f'{lo + i * step:.1f}s</text>')
    out.append(f'<text x="{width - 40}" y="{pad + height + 32}">{hi:.1f}s</text></svg>')
    return "".join(out)


def _by(results: Sequence[Mapping[str, Any]], key: str) -> list[tuple[str, float, str]]:
    """Correct answers among answerable questions, per value of ``key`` of the score."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for r in results:
        s = r["score"]
        if s.get("answerable"):
            total[str(s.get(key))] += 1
            right[str(s.get(key))] += bool(s.get("correct"))
    return [(k, right[k] / total[k], f"({right[k]}/{total[k]})") for k in sorted(total)]


def _confusion(results: Sequence[Mapping[str, Any]]) -> str:
    cells: Counter[tuple[bool, bool]] = Counter(
        (bool(r["score"].get("answerable")), bool(r["score"].get("refused"))) for r in results)
    return ("<table><tr><th>question</th><th>answered</th><th>refused</th></tr>"
            f"<tr><td>answerable</td><td>{cells[(True, False)]}</td>"
            f"<td>{cells[(True, True)]}</td></tr><tr><td>unanswerable</td>"
            f"<td>{cells[(False, False)]}</td><td>{cells[(False, True)]}</td></tr></table>")


def _stages(results: Sequence[Mapping[str, Any]]) -> str:
    total: defaultdict[str, float] = defaultdict(float)
    for r in results:
        for stage, ms in ((r.get("answer") or {}).get("diagnostics") or {}).get(
                "stages_ms", {}).items():
            total[stage] += float(ms)
    whole = sum(total.values())
    if not whole:
        return ""
    rows = sorted(((k, v / whole, f"{v / len(results) / 1000:.2f} s/question")
                   for k, v in total.items() if v / whole >= 0.005), key=lambda t: -t[1])
    return "<h3>Share of each stage</h3>" + bars(rows)


def _failure(r: Mapping[str, Any], why: Sequence[str]) -> str:
    a = r.get("answer") or {}
    cites = "".join(f"<li>[{_e(c.get('n', ''))}] {_e(c.get('source', ''))}: "
                    f"<span class=muted>{_e(str(c.get('snippet', ''))[:240])}</span></li>"
                    for c in a.get("citations") or [])
    hits = a.get("hits") or []
    best = (f"<div class=muted>best retrieved passage ({_e(hits[0].get('source', ''))}):</div>"
            f"<blockquote>{_e(str(hits[0].get('text', ''))[:500])}</blockquote>") if hits else ""
    return (f'<div class="fail"><div><span class="q">{_e(r.get("id"))}</span> '
            f'<span class=muted>{_e(r.get("type"))} · {_e(r.get("lang"))} · '
            f'{_fmt(r.get("seconds"))} s</span></div><div class="q">{_e(r.get("question"))}</div>'
            f'<div class="why">{_e("; ".join(why))}</div><blockquote>{_e(a.get("text", ""))}'
            f"</blockquote>{f'<ul>{cites}</ul>' if cites else ''}{best}</div>")


def rag_html(result: Mapping[str, Any], title: str = "RAG evaluation") -> str:
    """The whole report page for ``result`` (what ``ragkit eval rag --out`` writes)."""
    results = list(result.get("results") or [])
    meta = [(k, result.get(k)) for k in ("model", "quantization", "kb", "set", "embedder",
                                         "questions") if result.get(k) is not None]
    timing = result.get("timing") or {}
    meta += [(f"timing: {k}", v) for k, v in timing.items()]
    summary = result.get("summary") or {}
    head = "".join(f"<th>{_e(name)}</th>" for _, name in METRICS)
    body = "".join(f"<tr><td>{_e(group)}</td>"
                   + "".join(f"<td>{_fmt(row.get(k))}</td>" for k, _ in METRICS) + "</tr>"
                   for group, row in summary.items())
    seconds = [float(r["seconds"]) for r in results if r.get("seconds") is not None]
    spread = (f"median {statistics.median(seconds):.2f} s, p90 "
              f"{sorted(seconds)[int(0.9 * (len(seconds) - 1))]:.2f} s, max {max(seconds):.2f} s"
              if seconds else "")
    why = {f["id"]: f.get("why", []) for f in result.get("failures") or []}
    failed = [r for r in results if r.get("id") in why]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>",
        '<table class="meta">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>"
                                         for k, v in meta) + "</table>",
        f"<h2>Summary</h2><table><tr><th>group</th>{head}</tr>{body}</table>",
        "<h2>Correct answers by question type</h2>" + bars(_by(results, "type")),
        "<h2>Correct answers by language</h2>" + bars(_by(results, "lang")),
        "<h2>Refusals</h2>" + _confusion(results),
        f"<h2>Seconds per question</h2><p class=muted>{_e(spread)}</p>" + histogram(seconds)
        + _stages(results),
        f"<h2>Failures ({len(failed)})</h2>"
        + "".join(_failure(r, why[r["id"]]) for r in failed),
        "</body></html>",
    ]
    return "\n".join(parts)
