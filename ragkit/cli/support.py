"""`ragkit support`: the customer-service assistant in a terminal (owner: support-logic).

Parses options and calls the SDK (:class:`ragkit.support.SupportAssistant`) only. With
neither ``--message`` nor ``--json`` it runs a terminal conversation with streamed replies
(``/state`` shows the tracked state, ``/quit`` ends); ``--message TEXT`` sends one message
(to ``--thread ID``, or a new conversation it names), streams the reply and exits; with
``--json`` it prints ``Reply.to_dict()`` instead; ``--agent-reply`` answers a thread
that was handed to a human.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import Callable, Iterator
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


support_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                          help="The customer-service assistant: a terminal chat, one turn "
                          "with --json, an agent's reply with --agent-reply, or `train`.")


def register(app: typer.Typer) -> None:
    app.add_typer(support_app, name="support")


def _open(kb: str, domain: Path | None, db: Path | None, no_kb: bool) -> Any:
    from ragkit import sdk
    from ragkit.cli.serve import use_service

    use_service()
    bot = sdk.support_assistant(None if no_kb else kb, domain, db_path=db)
    with _training_bar() as progress:  # the intent model, trained here on first use
        bot.warm(progress)
    return bot


@contextlib.contextmanager
def _training_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar for training the intent model (shown only when one is trained, and only
    on a terminal)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"
                  "/{task.total} steps"), TimeRemainingColumn(), console=err,
                  disable=not err.is_terminal, transient=True) as bar:
        task = bar.add_task("intent model", total=None, visible=False)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=f"intent model: {what}", completed=done, total=total,
                       visible=True)

        yield progress


@support_app.command("train")
def train_cmd(
    ctx: typer.Context,
    domain: DomainOpt = None,
    kb: KbOpt = DEFAULT_KB,
    retrain: Annotated[bool, typer.Option(help="Train again even if a model for this domain "
                                          "exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the intent model from the domain file's examples (augmented), hold out a
    slice, report per-intent precision/recall, and store it (content-addressed by the domain
    and encoder) where the assistant loads it. About 100 s on 2 idle CPU cores for the sample
    domain; the assistant trains it on first use when it is missing."""
    from ragkit import sdk

    # `ragkit support --domain F train` means the same as `ragkit support train --domain F`
    outer = ctx.obj or {}
    domain = domain if domain is not None else outer.get("domain")
    kb = kb if kb != DEFAULT_KB else outer.get("kb", kb)
    with _training_bar() as progress:
        manifest = sdk.support_intents(domain, kb=kb, retrain=retrain, progress=progress)
    if as_json:
        print(json.dumps(manifest, ensure_ascii=False, indent=1))
        return
    held = manifest.get("metrics", {}).get("held_out", {})
    ex = manifest.get("examples", {})
    err.print(f"intent model for domain {manifest.get('domain')!r}: {ex.get('domain')} domain "
              f"examples -> {ex.get('augmented')} augmented ({ex.get('held_out')} held out); "
              f"trained in {manifest.get('train_seconds')} s on {manifest.get('threads')} "
              f"threads; stored in {manifest.get('folder')}")
    for label, row in held.items():
        if label == "_all":
            continue
        print(f"{label:18s} precision {row['precision']:.2f}  recall {row['recall']:.2f}  "
              f"(n={row['support']})")
    if "_all" in held:
        print(f"held-out accuracy {held['_all']['accuracy']:.3f} (n={held['_all']['support']})")


@support_app.callback()
def support_cmd(
    ctx: typer.Context,
    kb: KbOpt = DEFAULT_KB,
    domain: DomainOpt = None,
    db: DbOpt = None,
    thread: ThreadOpt = None,
    message: MessageOpt = None,
    agent_reply: AgentOpt = None,
    no_kb: NoKbOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Talk to the customer-service assistant: a terminal chat, or one turn with --message
    (streamed; --json prints it as JSON)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"domain": domain, "kb": kb}
        return
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
    if message is not None:  # one turn, then back to the shell (a script's or a person's)
        reply = _turn(bot, thread, message)
        if reply is None or not reply.handoff:
            err.print(f"[dim]conversation {thread}; continue it with `ragkit support --thread "
                      f"{thread} --message TEXT`[/]")
        return
    err.print(f"[dim]conversation {thread}; /state shows the tracked state, /quit ends[/]")
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            break
        if text.strip() in ("/quit", "/exit"):
            break
        if text.strip() == "/state":
            print(json.dumps(bot.state(thread).to_dict(), ensure_ascii=False, indent=1))
            continue
        reply = _turn(bot, thread, text)
        if reply is not None and reply.handoff:
            break


def _turn(bot: Any, thread: str, text: str) -> Any:
    """Send one customer message, stream the reply to stdout, name its sources and a handoff
    on stderr; the reply (None when the stream ended without one)."""
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
    return reply
