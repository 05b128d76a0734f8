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
    kb: KbOpt = DEFAULT_KB,
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


@eval_app.command("guard")
def guard_cmd(
    qset: Annotated[Path, typer.Option("--set", help="Red-team cases (JSONL, see "
                                       "knowledge/eval/README.md).")] = Path(
        "knowledge/eval/guard_blind.jsonl"),
    kb: Annotated[Path | None, typer.Option(
        "--kb", help="Use this knowledge base's own word lists (default: ragkit's).")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the full report "
                                                  "(every case's outcome) as JSON.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Block rate on attacks, false positives on benign cases, and the time a check adds."""
    from ragkit import sdk
    from ragkit.evals.guard import evaluate, load_cases

    cases = load_cases(qset)
    guard = sdk.load_guard(kb_dir=kb)
    if guard is None:
        raise typer.BadParameter("the guard is disabled")
    report = evaluate(guard, cases)
    data = {"set": str(qset), **report.to_json()}
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")
    if as_json:
        print(json.dumps({k: v for k, v in data.items() if k != "outcomes"},
                         ensure_ascii=False, indent=2))
        return
    console = Console()
    console.print(f"{report.cases} cases from {qset}: attacks caught "
                  f"{report.attack_caught:.3f} of {report.attacks}, benign stopped "
                  f"{report.benign_stopped:.3f} of {report.benign}; a check takes "
                  f"{report.ms_median:.2f} ms (median), {report.ms_p99:.2f} ms (p99)")
    table = Table()
    for col in ("category", "cases", "correct"):
        table.add_column(col, justify="right")
    for name, row in {**report.by_category, **report.by_lang}.items():
        table.add_row(name, str(int(row["n"])), f"{row['correct']:.3f}")
    console.print(table)
