"""``ragkit guard ...``: the moderation word lists of a knowledge base (list, add, remove),
checking a text the way the assistant would (test), and the audit trail (audit)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ragkit.cli.kb import DEFAULT_KB, JsonOpt, KbDirOpt, out  # --kb is parsed to a folder
from ragkit.errors import ConfigError

guard_app = typer.Typer(help="Guardrails: moderation word lists, checks and the audit trail. "
                        "A knowledge base gets its own copy of the lists on its first edit "
                        "(KB/guard/words.yaml); until then ragkit's defaults apply.",
                        no_args_is_help=True)
CategoryOpt = Annotated[str, typer.Option("--category", "-c", help="Category name, e.g. "
                                          "profanity (see `ragkit guard list`).")]
Channel = Annotated[str, typer.Option("--channel", help="What the text is: input (a user's "
                                      "message), document (a chunk), html (a page), output "
                                      "(a model's answer).")]


def register(app: typer.Typer) -> None:
    app.add_typer(guard_app, name="guard")


@guard_app.command("list")
def list_cmd(kb: KbDirOpt = DEFAULT_KB,
             category: Annotated[str | None, typer.Option("--category", "-c",
                                                          help="Only this category.")] = None,
             as_json: JsonOpt = False) -> None:
    """The categories in force, their actions and terms."""
    from ragkit import sdk

    cats = [c for c in sdk.guard_lists(kb if kb.is_dir() else None).categories
            if category is None or c.name == category]
    if category is not None and not cats:
        raise ConfigError(f"no category {category!r}; `ragkit guard list` shows them")
    if as_json:
        print(json.dumps({c.name: {"action": c.action, "terms": list(c.terms),
                                   "patterns": list(c.patterns), "allow": list(c.allow)}
                          for c in cats}, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"guard lists for {kb}" if (kb / 'guard').is_dir() else
                  "guard lists (ragkit's defaults)")
    for col in ("category", "action", "entries", "terms"):
        table.add_column(col)
    for c in cats:
        shown = ", ".join(c.terms) if category else ", ".join(c.terms[:8]) + (
            f" … (+{len(c.terms) - 8})" if len(c.terms) > 8 else "")
        table.add_row(c.name, c.action, str(len(c.terms) + len(c.patterns)), shown)
    out.print(table)


@guard_app.command("add")
def add_cmd(terms: Annotated[list[str], typer.Argument(help="Words or phrases to add.")],
            category: CategoryOpt, kb: KbDirOpt = DEFAULT_KB,
            action: Annotated[str | None, typer.Option(
                "--action", help="block, mask, warn or handoff; needed for a new category, "
                "changes an existing one's")] = None) -> None:
    """Add terms to a category (created when --action is given)."""
    from ragkit import sdk

    new = sdk.edit_guard_lists(kb, category, add=terms, action=action).by_name()[category]
    out.print(f"{category} ({new.action}): {len(new.terms)} terms; saved to "
              f"{sdk.kb_guard_lists(kb)}")


@guard_app.command("remove")
def remove_cmd(terms: Annotated[list[str], typer.Argument(help="Words or phrases to remove.")],
               category: CategoryOpt, kb: KbDirOpt = DEFAULT_KB) -> None:
    """Remove terms from a category."""
    from ragkit import sdk

    new = sdk.edit_guard_lists(kb, category, remove=terms).by_name()[category]
    out.print(f"{category} ({new.action}): {len(new.terms)} terms; saved to "
              f"{sdk.kb_guard_lists(kb)}")


@guard_app.command("test")
def test_cmd(text: Annotated[str | None, typer.Argument(help="The text; - or nothing reads "
                                                        "stdin.")] = None,
             channel: Channel = "input", kb: KbDirOpt = DEFAULT_KB,
             evidence: Annotated[str, typer.Option(
                 "--evidence", help="output: the source text the answer came from")] = "",
             as_json: JsonOpt = False) -> None:
    """What the guard does with a text. Exit code 0: passes; 1: stopped; 2: masked or warned."""
    from ragkit import sdk

    if text is None or text == "-":
        text = sys.stdin.read()
    guard = sdk.load_guard(kb_dir=kb if kb.is_dir() else None)
    assert guard is not None
    v = guard.check(channel, text, evidence)  # type: ignore[arg-type]
    if as_json:
        print(json.dumps({"action": v.action, "text": v.text, "findings": [
            {"category": f.category, "rule": f.rule, "action": f.action, "excerpt": f.excerpt}
            for f in v.findings]}, ensure_ascii=False, indent=2))
    else:
        out.print(f"[bold]{v.action}[/bold]" + (f": {v.text}" if v.text != text else ""))
        for f in v.findings:
            out.print(f"  {f.action:<10} {f.category:<28} {f.rule}  «{f.excerpt}»",
                      markup=False)
    raise typer.Exit(1 if v.stops else 2 if v.findings else 0)


@guard_app.command("audit")
def audit_cmd(kb: KbDirOpt = DEFAULT_KB,
              days: Annotated[float, typer.Option("--days", help="How far back.")] = 7.0,
              limit: Annotated[int, typer.Option("--limit", "-n")] = 50,
              export: Annotated[Path | None, typer.Option(
                  "--export", help="Write every record to FILE (.csv, else JSON Lines).")] = None,
              as_json: JsonOpt = False) -> None:
    """What the guard blocked, masked, quarantined or warned about (newest first)."""
    import time

    from ragkit import sdk

    if not kb.is_dir():
        raise ConfigError(f"no knowledge base at {kb}; pass --kb")
    log = sdk.guard_audit(kb)
    try:
        if export is not None:
            n = log.export(export)
            out.print(f"{n} records written to {export}")
            return
        rows = log.events(since=time.time() - days * 86400, limit=limit)
    finally:
        log.close()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"guard audit, last {days:g} days ({len(rows)} shown)")
    for col in ("time", "conversation", "channel", "action", "category", "excerpt"):
        table.add_column(col)
    for r in rows:
        when = dt.datetime.fromtimestamp(r["at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, r["conversation"][:12], r["channel"], r["action"], r["category"],
                      r["excerpt"][:80])
    out.print(table)
