"""`ragkit ask` and `ragkit chat`: grounded answers from a knowledge base (owner: rag-core).

Parses options, opens the knowledge base and the generator, and prints the streamed answer,
a numbered source list and a usage line; all the work happens in :mod:`ragkit.rag`, built
by :mod:`ragkit.sdk`. ``--json`` prints ``Answer.to_dict()`` on stdout.
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ragkit import sdk
from ragkit.cli.kb import DEFAULT_KB, JsonOpt, KbOpt
from ragkit.cli.options import QuantOpt, RelevanceOpt, TranslateOpt
from ragkit.cli.serve import GeneratorUrlOpt, ModelOpt, remote_or_local, use_service
from ragkit.config import DEFAULT_GENERATOR, Quantization, RelevanceMode, TranslateMode

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

KOpt = Annotated[int, typer.Option("-k", "--top-k", min=1, max=50,
                                   help="Chunks retrieved per question.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Do not use the answer cache.")]


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_cmd)
    app.command("chat")(chat_cmd)


def _open(kb: str, model: str, quantization: Quantization, k: int, no_cache: bool,
          quiet: bool, translate: TranslateMode = "auto", relevance: RelevanceMode = "auto",
          generator_url: str | None = None) -> tuple[Any, Any]:
    from ragkit.rag.config import RagConfig, translate_setting

    use_service(quiet)
    base = sdk.open_kb(kb)  # fails with "create one with `ragkit index`" when missing
    sdk.warm_rag(base, relevance)  # the scorers load while the generator does
    generator = remote_or_local(generator_url, model, quantization, quiet=quiet)
    rag_cfg = RagConfig(k=k, answer_cache=not no_cache,
                        translate_query=translate_setting(translate), relevance=relevance)
    return base, sdk.rag_pipeline(base, generator, rag_cfg)


def source_lines(answer: Any) -> list[str]:
    """``[n] source > heading (p. N)`` for each citation (pure)."""
    lines = []
    for c in answer.citations:
        where = c.source + (f" > {c.heading}" if c.heading else "")
        if c.page:
            where += f" (p. {c.page})"
        lines.append(f"[{c.n}] {where}")
    return lines


def usage_line(answer: Any) -> str:
    u = answer.usage
    if u.answer_cache_hit:
        return "answer cache hit"
    # the search alone: the retrieve stage below also holds the question's translation
    parts = [f"search {u.retrieval_ms:.0f} ms", f"confidence {answer.confidence:.2f}"]
    stages_ms = answer.diagnostics.get("stages_ms") or {}
    # the generator's figures only for an answer it wrote: an overview or a refusal before
    # generating had shown "first token 0.00 s · 0.0 tok/s" (the question's translation
    # counts completion tokens too)
    if u.completion_tokens and "generate" in stages_ms:
        parts += [f"first token {u.time_to_first_token_s:.2f} s",
                  f"{u.tokens_per_second:.1f} tok/s",
                  f"KV cache {100 * u.kv_cache_hit_rate:.0f}% of {u.prompt_tokens} tokens"]
    stages = {k: v for k, v in stages_ms.items() if v >= 1}
    if stages:
        parts.append("stages " + ", ".join(f"{k} {v / 1000:.1f} s" for k, v in stages.items()))
    return " · ".join(parts)


def _print_stream(stream: Any) -> Any:
    """Write an answer's verified sentences as they come; on a terminal, a spinner on stderr
    says the answer is being written and checked until the first sentence arrives (a reply
    is released sentence by sentence after its citations are checked, so the first one can
    take seconds)."""
    try:
        deltas = iter(stream)
        first = ""
        if err.is_terminal:
            with err.status("[dim]searching, then writing and checking the answer…[/]",
                            spinner="dots"):
                first = next(deltas, "")
        for delta in itertools.chain([first] if first else [], deltas):
            sys.stdout.write(delta)
            sys.stdout.flush()
    except KeyboardInterrupt:
        stream.close()
        raise
    sys.stdout.write("\n")
    answer = stream.answer
    for line in source_lines(answer):
        out.print(f"[cyan]{escape(line)}[/]")
    err.print(f"[dim]{escape(usage_line(answer))}[/]")
    return answer


def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question (English or Chinese).")],
    kb: KbOpt = DEFAULT_KB,
    model: ModelOpt = DEFAULT_GENERATOR,
    quantization: QuantOpt = "none",
    k: KOpt = 5,
    translate: TranslateOpt = "auto",
    relevance: RelevanceOpt = "auto",
    no_cache: NoCacheOpt = False,
    generator_url: GeneratorUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from the knowledge base, citing sources, or say it does not know."""
    sdk.check_question(question)  # before loading the models
    base, pipe = _open(kb, model, quantization, k, no_cache, quiet=as_json, translate=translate,
                       relevance=relevance, generator_url=generator_url)
    try:
        if as_json:
            answer = pipe.ask(question)
            print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_stream(pipe.stream(question))
    finally:
        base.close()


def chat_cmd(
    kb: KbOpt = DEFAULT_KB,
    model: ModelOpt = DEFAULT_GENERATOR,
    quantization: QuantOpt = "none",
    k: KOpt = 5,
    thread: Annotated[str | None, typer.Option(
        "--thread", help="Resume this conversation (its id is printed at the start).")] = None,
    translate: TranslateOpt = "auto",
    relevance: RelevanceOpt = "auto",
    no_cache: NoCacheOpt = False,
    generator_url: GeneratorUrlOpt = None,
) -> None:
    """A conversation with the knowledge base. Type /new for a new thread, /exit to quit."""
    base, pipe = _open(kb, model, quantization, k, no_cache, quiet=False, translate=translate,
                       relevance=relevance, generator_url=generator_url)
    conv = pipe.conversation(thread)
    err.print(f"[dim]thread {conv.thread_id} (resume with --thread {conv.thread_id}); "
              "/new starts over, /exit quits[/]")
    try:
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/new":
                conv = pipe.conversation()
                err.print(f"[dim]new thread {conv.thread_id}[/]")
                continue
            _print_stream(conv.send(text))
    except KeyboardInterrupt:
        err.print("")
    finally:
        base.close()
