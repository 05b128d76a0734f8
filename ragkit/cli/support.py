"""`ragkit support`: the customer-service assistant in a terminal (owner: support-logic).

Parses options and calls the SDK (:class:`ragkit.support.SupportAssistant`) only. Without
``--json`` it runs a terminal conversation with streamed replies (``/state`` shows the
tracked state, ``/quit`` ends); with ``--json --thread ID --message TEXT`` it sends one message
to a stored conversation and prints ``Reply.to_dict()``; ``--agent-reply`` answers a thread
that was handed to a human.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ragkit.cli.kb import DEFAULT_KB, JsonOpt, KbOpt
from ragkit.errors import ConfigError

err = Console(stderr=True, highlight=False)

DomainOpt = Annotated[Path | None, typer.Option(
    "--domain", help="Domain YAML (default: the bundled sample store's store_domain.yaml).")]
DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="Orders database file (built from the bundled sample data on first use).")]
ThreadOpt = Annotated[str | None, typer.Option("--thread", help="Conversation id.")]
MessageOpt = Annotated[str | None, typer.Option("--message", "-m", help="One customer message.")]
AgentOpt = Annotated[str | None, typer.Option(
    "--agent-reply", help="Answer a handed-off thread as a human agent (needs --thread).")]
NoKbOpt = Annotated[bool, typer.Option(
    "--no-kb", help="Run without a knowledge base (policy questions go to a human).")]


def register(app: typer.Typer) -> None:
    app.command("support")(support_cmd)


def _open(kb: Path, domain: Path | None, db: Path | None, no_kb: bool) -> Any:
    from ragkit import sdk

    return sdk.support_assistant(None if no_kb else kb, domain, db_path=db)


def support_cmd(
    kb: KbOpt = Path(DEFAULT_KB),
    domain: DomainOpt = None,
    db: DbOpt = None,
    thread: ThreadOpt = None,
    message: MessageOpt = None,
    agent_reply: AgentOpt = None,
    no_kb: NoKbOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Talk to the customer-service assistant (terminal chat, or one turn with --json)."""
    if agent_reply is not None:
        if not thread:
            raise ConfigError("--agent-reply needs --thread ID (see the handoff list)")
        bot = _open(kb, domain, db, no_kb)
        reply = bot.resume(thread, agent_reply)
        print(json.dumps(reply.to_dict(), ensure_ascii=False, default=str))
        return
    if as_json:
        if message is None or not thread:
            raise ConfigError("--json needs --thread ID and --message TEXT")
        bot = _open(kb, domain, db, no_kb)
        reply = bot.send(thread, message).collect()
        print(json.dumps({"thread_id": thread, **reply.to_dict()}, ensure_ascii=False,
                         default=str))
        return
    bot = _open(kb, domain, db, no_kb)
    thread = thread or uuid.uuid4().hex[:12]
    err.print(f"[dim]conversation {thread}; /state shows the tracked state, /quit ends[/]")
    first = message
    while True:
        if first is not None:
            text, first = first, None
        else:
            try:
                text = input("you> ")
            except (EOFError, KeyboardInterrupt):
                break
        if text.strip() in ("/quit", "/exit"):
            break
        if text.strip() == "/state":
            print(json.dumps(bot.state(thread).to_dict(), ensure_ascii=False, indent=1))
            continue
        sys.stdout.write("bot> ")
        stream = bot.send(thread, text)
        for delta in stream:
            sys.stdout.write(delta)
            sys.stdout.flush()
        sys.stdout.write("\n")
        reply = stream.reply
        if reply is not None and reply.citations:
            for c in reply.citations:
                d = c.to_dict() if hasattr(c, "to_dict") else c
                err.print(f"[dim][{d.get('n')}] {d.get('source')}[/]")
        if reply is not None and reply.handoff:
            err.print(f"[yellow]handed over to a human (ticket {reply.ticket_id}); answer with "
                      f"`ragkit support --thread {thread} --agent-reply TEXT`[/]")
            break
