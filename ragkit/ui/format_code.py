"""Pure translation of the code agent's events and reports into Markdown (en or zh).

Owns the Code agent tab's text: plan, tests and code per round, sandbox results, the final
outcome and the quality report. Inputs are the plain dicts of ``AgentEvent``/``SolveResult``/
``QualityReport.to_dict()``; the phrases come from :mod:`ragkit.ui.i18n`. Split from
``format.py`` (the other tabs) to keep each module small; knows nothing about Gradio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ragkit.codequality import COMPLEX
from ragkit.ui.format import md_escape
from ragkit.ui.i18n import Lang, word


def agent_events_markdown(events: Sequence[Mapping[str, Any]], lang: Lang = "en") -> str:
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
            out.append(f"### {word('round', lang, n=rnd)}")
        if kind == "plan":
            out.append(f"### {word('plan', lang)}\n\n" + str(data.get("plan") or "").strip())
        elif kind == "code":
            out.append(f"**{word('code', lang)}**\n\n```python\n"
                       + str(data.get("code", "")).rstrip() + "\n```")
            if data.get("syntax_error"):
                out.append(f"✗ {word('syntax_error', lang)}: "
                           f"{md_escape(str(data['syntax_error']))}")
        elif kind == "tests" and data.get("phase") == "written":
            who = word({"user": "tests_user", "self": "tests_self"}.get(
                str(data.get("source")), "tests_other"), lang)
            out.append(f"**{word('tests', lang)}** ({who})\n\n```python\n"
                       f"{str(data.get('tests') or '').rstrip()}\n```")
        elif kind == "tests":
            out.append(tests_markdown(data.get("result") or data, lang))
        elif kind == "round":
            line = word("round_line", lang, n=rnd, status=data.get("status", "?"),
                        passed=data.get("passed", 0), total=data.get("total", 0))
            if data.get("feedback"):
                line += word("feedback", lang) + md_escape(
                    " ".join(str(data["feedback"]).split())[:300])
            out.append(f"*{line}*")
        elif kind == "done":
            out.append(_done_markdown(data.get("result") or {}, lang))
    return "\n\n".join(out)


def _done_markdown(res: Mapping[str, Any], lang: Lang) -> str:
    if res.get("passed"):
        head = word("done_pass", lang)
    elif res.get("verdict") == "passes_trusted_tests":  # only set-aside tests fail
        head = word("done_trusted", lang)
    elif res.get("test_source") == "none" or not res.get("tests_total"):
        head = word("done_none", lang)
    else:
        head = word("done_fail", lang)
    lines = [f"### {head}", word(
        "done_line", lang, best=res.get("best_round", "?"), passed=res.get("tests_passed", 0),
        total=res.get("tests_total", 0), stopped=res.get("stopped", "?"),
        s=float(res.get("seconds") or 0))]
    if res.get("verdict"):
        lines.append(f"**{word('v_' + str(res['verdict']), lang)}**")
    lines += [f"- {word('distrusted', lang)} `{md_escape(str(name))}`: {md_escape(str(why))}"
              for name, why in (res.get("distrusted") or {}).items()]
    if res.get("stopped") == "time_budget":
        lines.append(word("done_budget", lang))
    if res.get("removed"):
        lines.append(word("done_tidied", lang) + ", ".join(
            f"`{md_escape(str(r))}`" for r in res["removed"]))
    return "\n\n".join(lines)


def tests_markdown(result: Mapping[str, Any], lang: Lang = "en") -> str:
    """A sandbox result: status, passed/total, one line per test."""
    status, passed, total = result.get("status", "?"), result.get("passed", 0), result.get("total", 0)
    icon = "✓" if status == "passed" else "✗"
    lines = [f"**{word('tests', lang)}** {icon} `{status}` — "
             + word("passed_of", lang, passed=passed, total=total)]
    for t in result.get("tests") or []:
        mark = "✓" if t.get("status") == "passed" else "✗"
        msg = " ".join(str(t.get("message") or "").split())[:200]
        lines.append(f"- {mark} `{t.get('name')}`{': ' + md_escape(msg) if msg else ''}")
    if result.get("last_error") and not result.get("tests"):
        lines.append(f"```\n{str(result['last_error'])[-800:]}\n```")
    return "\n".join(lines)


def quality_markdown(report: Mapping[str, Any] | None, lang: Lang = "en") -> str:
    """The code-quality report (``QualityReport.to_dict()``): tests, ruff findings, complexity
    per function. Ruff's messages and the report's notes stay as their tools wrote them."""
    if not report:
        return ""
    lines = [f"### {word('quality', lang)}", ""]
    passed, total = report.get("passed"), report.get("total")
    if total is not None:
        mark = word("q_all" if passed == total else "q_some", lang)
        lines.append(f"- **{word('q_tests', lang)}:** "
                     f"{word('passed_of', lang, passed=passed, total=total)} ({mark})")
    else:
        lines.append(f"- **{word('q_tests', lang)}:** {word('q_not_run', lang)}")
    findings = report.get("ruff") or []
    lines.append(f"- **{word('q_style', lang, n=len(findings))}**")
    lines += [f"  - {word('q_line', lang, line=f.get('line'))}: `{f.get('code')}` "
              f"{md_escape(str(f.get('message', '')))}" for f in findings]
    funcs = report.get("complexity") or []
    top = report.get("max_complexity", max((int(c.get("complexity", 0)) for c in funcs),
                                           default=0))
    lines.append(f"- **{word('q_complexity', lang, n=top)}**")
    if funcs:
        lines += ["", f"| {word('q_function', lang)} | {word('q_line_col', lang)} "
                  f"| {word('q_complex_col', lang)} |", "|---|---:|---:|"]
        lines += [f"| `{c.get('name')}` | {c.get('line')} | {c.get('complexity')}"
                  f"{word('q_high', lang) if int(c.get('complexity', 0)) > COMPLEX else ''} |"
                  for c in funcs]
    lines += [f"- _{md_escape(str(n))}_" for n in report.get("notes") or []]
    return "\n".join(lines)
