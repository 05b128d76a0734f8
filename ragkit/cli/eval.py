"""``ragkit eval ...``: evaluations on labelled sets, printing a table or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ragkit.cli.kb import DEFAULT_KB, JsonOpt, KbOpt

eval_app = typer.Typer(help="Measure ragkit on labelled evaluation sets.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def retrieval_cmd(
    kb: KbOpt = Path(DEFAULT_KB),
    qset: Annotated[Path, typer.Option("--set", help="Labelled questions (JSONL).")] = Path(
        "knowledge/eval/retrieval.jsonl"),
    k: Annotated[int, typer.Option("-k", help="Ranking depth used for MRR.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """hit@1, hit@5 and MRR of dense, keyword and hybrid search on a labelled set."""
    from ragkit import sdk
    from ragkit.evals.retrieval import evaluate_kb, load_questions

    questions = load_questions(qset)
    with sdk.open_kb(kb) as base:
        results = evaluate_kb(base, questions, k=k)
        embedder = base.config.embedder
    if as_json:
        print(json.dumps({"embedder": embedder, "questions": len(questions),
                          "modes": [asdict(r) for r in results]}, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(questions)} questions, embedder {embedder}")
    for col in ("mode", "hit@1", "hit@5", "MRR", "ms/query"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(r.mode, f"{r.hit1:.3f}", f"{r.hit5:.3f}", f"{r.mrr:.3f}",
                      f"{r.ms_per_query:.1f}")
    Console().print(table)
