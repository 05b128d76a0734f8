"""`ragkit eval rag`: answer quality, citation precision and refusal accuracy (owner: rag-eval).

Parses options, picks the questions, wires a :class:`~ragkit.rag.RagPipeline` with the chosen
generator (answer cache off, so every question is really answered; no conversation) and hands
it to :mod:`ragkit.evals.rag_run`. Prints a per-language table (or JSON) and optionally writes
the full report, with every answer, under ``bench/results/``. ``--rescore`` re-scores a
written report without running a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ragkit import sdk
from ragkit.cli.eval import eval_app
from ragkit.cli.kb import DEFAULT_KB, JsonOpt, KbOpt
from ragkit.cli.options import QuantOpt
from ragkit.config import Quantization
from ragkit.errors import ConfigError

RESULTS = Path("bench/results")
err = Console(stderr=True, highlight=False)


def register(app: Any) -> None:
    """The command is attached to ``eval_app`` at import time (``ragkit eval rag``)."""


def _out_path(out: Path) -> Path:
    """A bare file name goes under bench/results/; a path is used as given."""
    return RESULTS / out if out.parent == Path(".") else out


def _sample(spec: str) -> tuple[int, int]:
    try:
        a, u = (int(x) for x in spec.split(","))
    except ValueError:
        raise ConfigError(f"--sample {spec!r}: give ANSWERABLE,UNANSWERABLE counts, "
                          "e.g. --sample 40,15") from None
    if a < 0 or u < 0:
        raise ConfigError("--sample counts must not be negative")
    return a, u


def _rag_settings(items: list[str]) -> dict[str, str]:
    """``--rag KEY=VALUE`` pairs; RagConfig validates keys and values when the run starts."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--rag {item!r}: write KEY=VALUE, e.g. --rag check_answerable=true")
        out[key.strip()] = value.strip()
    return out


def _select_ids(questions: list, spec: str) -> list:
    """The questions named by ``--ids`` (a comma list or a report file), in the given order."""
    path = Path(spec)
    try:
        is_file = path.is_file()
    except OSError:  # a long comma list is no file name ("File name too long")
        is_file = False
    if path.suffix == ".json" or is_file:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"--ids {spec}: cannot read it as a report ({e}); pass a file "
                              "written by --out or a comma list of ids") from None
        if not isinstance(old, dict):
            raise ConfigError(f"--ids {spec}: not a report (expected a JSON object written by "
                              "--out); pass a report or a comma list of ids")
        wanted = old.get("sample_ids") or [r["id"] for r in old.get("results", [])
                                           if isinstance(r, dict) and "id" in r]
    else:
        wanted = [x.strip() for x in spec.split(",") if x.strip()]
    by_id = {q.id: q for q in questions}
    missing = [i for i in wanted if i not in by_id]
    if missing or not wanted:
        raise ConfigError(f"--ids: unknown question ids {', '.join(missing) or '(none given)'}; "
                          "ids are the `id` fields of the --set files (q001, u005, ...)")
    return [by_id[i] for i in wanted]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_table(summary: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    cols = [("group", None), ("n", "n"), ("hit@k", "hit@k"), ("correct", "correct"),
            ("cite prec", "citation_precision"), ("cites", "citations"),
            ("refusal acc", "refusal_accuracy"), ("refused unans", "refused_unanswerable"),
            ("answered ans", "answered_answerable")]
    for name, _ in cols:
        table.add_column(name, justify="right")
    for group, m in summary.items():
        cells = [group]
        for _, key in cols[1:]:
            v = m[key]
            cells.append(str(v) if isinstance(v, int) else _fmt(v))
        table.add_row(*cells)
    Console().print(table)


@eval_app.command("rag")
def rag_cmd(
    kb: KbOpt = DEFAULT_KB,
    qset: Annotated[Path, typer.Option(
        "--set", help="Gold facts (JSONL); retrieval.jsonl and unanswerable.jsonl are read "
        "from the same folder.")] = Path("knowledge/eval/rag.jsonl"),
    model: Annotated[str | None, typer.Option(
        help="Generator: a catalogue name (`ragkit models list`) or a local folder. "
        "[default: the default generator]")] = None,
    quantization: QuantOpt = "none",
    start: Annotated[int, typer.Option(min=0, help="Skip the first N questions.")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="Ask at most N questions.")] = None,
    sample: Annotated[str | None, typer.Option(
        help="Stratified subset ANSWERABLE,UNANSWERABLE (both languages and every question "
        "type), e.g. 40,15; applied before --start/--limit.")] = None,
    ids: Annotated[str | None, typer.Option(
        help="Ask only these question ids: a comma list (q027,u005) or a report written by "
        "--out, whose sample ids (or answered ids) are asked again, e.g. to run another model "
        "on the same questions.")] = None,
    rag: Annotated[list[str] | None, typer.Option(
        "--rag", help="A RagConfig setting for this run, KEY=VALUE (repeatable), e.g. "
        "--rag check_answerable=true --rag answerable_margin=0.5.")] = None,
    cache: Annotated[bool, typer.Option(
        "--cache/--no-cache", help="Let the answer cache serve repeated questions.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Write the full report (every answer) as JSON; a bare name goes under "
        "bench/results/.")] = None,
    rescore: Annotated[Path | None, typer.Option(
        help="Re-score a report written by --out (no model runs).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Keep the answers already in --out and ask only the rest (the "
        "report is rewritten after every question, so an interrupted run can go on).")] = False,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="CPU threads for the generator (default: all cores).")] = None,
    html_path: Annotated[Path | None, typer.Option(
        "--html", help="Also write a self-contained HTML report (charts by question type "
        "and language, refusals, seconds per question and per stage, every failure with its "
        "evidence); with --rescore, from an earlier report without running a model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask every labelled question and score the answers: retrieval hit@k, answer correctness
    (gold facts present), citation precision and refusal accuracy, per language."""
    from ragkit.evals import rag_run
    from ragkit.evals.rag import load_rag_set

    questions = load_rag_set(qset)
    if rescore is not None:
        try:
            old = json.loads(rescore.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read {rescore} ({e}); pass a file written by --out") from None
        meta = {k: v for k, v in old.items()
                if k not in ("questions", "timing", "summary", "failures", "results")}
        result = rag_run.report(questions, old["results"], meta)
        result["timing"] = old.get("timing", result["timing"])
    else:
        if sample:
            questions = rag_run.stratified(questions, *_sample(sample))
        if ids:
            questions = _select_ids(questions, ids)
        questions = rag_run.window(questions, start, limit)
        if not questions:
            raise ConfigError("no questions selected; check --start/--limit/--sample")
        path = _out_path(out) if out is not None else None
        done: list[dict[str, Any]] = []
        if resume:
            if path is None or not path.is_file():
                raise ConfigError("--resume needs --out naming a report of an earlier run")
            wanted = {q.id for q in questions}
            done = [r for r in json.loads(path.read_text(encoding="utf-8"))["results"]
                    if r["id"] in wanted]
        result = _run(kb, qset, questions, model, quantization, cache, done, path, threads,
                      _rag_settings(rag or []))
    if out is not None:
        _write(_out_path(out), result)
        err.print(f"[dim]wrote {_out_path(out)}[/]")
    if html_path is not None:
        from ragkit.evals.report import rag_html

        html_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = html_path.with_name(html_path.name + ".tmp")
        tmp.write_text(rag_html(result, f"RAG evaluation: {qset.name}"), encoding="utf-8")
        tmp.replace(html_path)
        err.print(f"[dim]wrote {html_path}[/]")
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k != "results"},
                         ensure_ascii=False, indent=2))
        return
    t = result["timing"]
    print_table(result["summary"], f"{result['questions']} questions, model {result['model']}, "
                f"{t['wall_s']} s ({t['mean_s_per_question']} s/question)")


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _run(kb: Path, qset: Path, questions: list, model: str | None, quantization: Quantization,
         cache: bool, done: list[dict[str, Any]], path: Path | None,
         threads: int | None = None, rag: dict[str, str] | None = None) -> dict[str, Any]:
    from ragkit.config import DEFAULT_GENERATOR, parse
    from ragkit.evals import rag_run
    from ragkit.generation.config import GeneratorConfig
    from ragkit.rag.config import RagConfig

    options: dict[str, Any] = {"model": model or DEFAULT_GENERATOR, "quantization": quantization}
    if threads is not None:
        options["threads"] = threads
    gen_cfg = parse(GeneratorConfig, options, "generator options")
    rag_cfg = parse(RagConfig, {**(rag or {}), "answer_cache": cache}, "--rag settings")
    err.print(f"[dim]loading {gen_cfg.model} ({quantization})[/]")
    generator = sdk.load_generator(gen_cfg)
    with sdk.open_kb(kb) as base:
        pipe = sdk.rag_pipeline(base, generator, rag_cfg)
        meta = {"model": gen_cfg.model, "quantization": quantization, "kb": sdk.kb_shown(kb),
                "set": str(qset), "embedder": base.config.embedder,
                "rag_config": rag_cfg.model_dump(mode="json")}
        rows = list(done)
        have = {r["id"] for r in rows}
        todo = [q for q in questions if q.id not in have]

        def saved(row: dict[str, Any]) -> None:
            rows.append(row)
            if path is not None:
                _write(path, rag_run.report(questions, rows, meta))

        try:
            _with_progress(todo, pipe.ask, saved)
        finally:
            pipe.close()
    order = {q.id: i for i, q in enumerate(questions)}
    return rag_run.report(questions, sorted(rows, key=lambda r: order[r["id"]]), meta)


def _with_progress(questions: list, ask: Any, saved: Any) -> None:
    from ragkit.evals import rag_run

    if not sys.stderr.isatty():
        def log(row: dict[str, Any]) -> None:
            saved(row)
            s = row["score"]
            state = ("refused" if s["refused"] else
                     "correct" if s["correct"] else "answered")
            err.print(f"{row['id']} {row['lang']} {row['seconds']:.1f}s {state} "
                      f"cites {s['supported']}/{s['citations']}")

        rag_run.run(questions, ask, log)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("asking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=err) as bar:
        task = bar.add_task("", total=len(questions))

        def tick(row: dict[str, Any]) -> None:
            saved(row)
            bar.update(task, advance=1, description=row["id"])

        rag_run.run(questions, ask, tick)
