"""`ragkit eval dst`: dialogue state tracking on the labelled dialogue set (owner: support-data).

Parses options, opens one :class:`ragkit.support.SupportAssistant` over a private copy of the
orders database, runs the chosen dialogues (fresh thread and freshly restored database per
dialogue, see :mod:`ragkit.evals.dst_runner`), scores them with :mod:`ragkit.evals.dst`, and
prints a table (or JSON with ``--json``); ``--out FILE`` also writes the full JSON report.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ragkit.cli.eval import eval_app
from ragkit.cli.kb import DEFAULT_KB, JsonOpt, KbOpt
from ragkit.errors import ConfigError

DEFAULT_SET = Path("knowledge/eval/dialogues.jsonl")
METRICS = ("intent_accuracy", "slot_precision", "slot_recall", "slot_f1", "joint_goal_accuracy",
           "task_success", "wrong_action_rate", "handoff_precision", "handoff_recall")


def register(app: typer.Typer) -> None:
    """`eval dst` is attached to the shared `eval` group at import time (see below)."""


def _select(dialogues: list[Any], start: int, limit: int | None, lang: str | None) -> list[Any]:
    if lang:
        dialogues = [d for d in dialogues if d.lang == lang]
    end = None if limit is None else start + limit
    return dialogues[start:end]


@eval_app.command("dst")
def dst_cmd(
    kb: KbOpt = DEFAULT_KB,
    domain: Annotated[Path | None, typer.Option(
        "--domain", help="Domain file (YAML). [default: the assistant's default]")] = None,
    dset: Annotated[Path, typer.Option("--set", help="Labelled dialogues (JSONL).")] = DEFAULT_SET,
    split: Annotated[str, typer.Option(
        help="dev (for tuning), test (held out: run once), blind (with --set "
             "knowledge/eval/dialogues_blind.jsonl: report only, never tune), or all.")] = "dev",
    lang: Annotated[str | None, typer.Option(help="Only dialogues in this language: en or zh.")] = None,
    start: Annotated[int, typer.Option(help="Skip this many dialogues first.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Run at most this many dialogues.")] = None,
    model: Annotated[str | None, typer.Option(
        help="Generator: a catalogue name or local model path. [default: the default model]")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        "--data", help="Folder of orders data (JSON). [default: the bundled sample]")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the JSON report here, e.g. bench/results/dst_eval.json.")] = None,
    failures: Annotated[int, typer.Option(help="Failed turns to list in the table view.")] = 15,
    rescore: Annotated[Path | None, typer.Option(
        help="Re-score the predictions saved in a report written by --out (runs no model).")
        ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Intent accuracy, slot F1, joint goal accuracy, task success and handoff precision/recall.

    Each dialogue runs turn by turn on a fresh thread with a fresh copy of the orders database.
    The test split is held out: tune on dev and run test once.
    """
    from ragkit.evals.dst import load_dialogues, predictions_to_jsonable, score, turn_latency
    from ragkit.evals.dst_runner import prepare_databases, run_dialogues

    if lang not in (None, "en", "zh"):
        raise ConfigError(f"unknown --lang {lang!r}; use en or zh")
    if start < 0 or (limit is not None and limit < 1):
        raise ConfigError("--start must be >= 0 and --limit >= 1")
    dialogues = _select(load_dialogues(dset, split=split), start, limit, lang)
    if not dialogues:
        raise ConfigError(f"no dialogues selected from {dset} (split={split}, lang={lang}, "
                          f"start={start}, limit={limit}); widen the selection")
    if rescore is not None:
        result = _rescore(rescore, dset)
        _emit(result, out, as_json, failures)
        return
    err = Console(stderr=True, highlight=False)
    with tempfile.TemporaryDirectory(prefix="ragkit-dst-") as tmp:
        pristine, live = prepare_databases(Path(tmp), data_dir)
        bot, model_name = _open_assistant(kb, domain, model, live)
        run_id = time.strftime("%Y%m%d%H%M%S") + f"-{os.getpid()}"
        done: dict[str, Any] = {}

        def checkpoint(d: Any, p: list[Any]) -> None:
            """Advance the bar; keep a partial report at --out so a killed run loses little."""
            if tick is not None:
                tick(d, p)
            if out is not None:
                done[d.id] = predictions_to_jsonable([p])[0]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps({"set": str(dset), "split": split, "complete": False,
                                           "dialogues": len(done), "predictions": done},
                                          ensure_ascii=False) + "\n", encoding="utf-8")

        with _progress(err, len(dialogues), enabled=sys.stderr.isatty() and not as_json) as tick:
            preds, stats = run_dialogues(bot, dialogues, live_db=live, pristine_db=pristine,
                                         run_id=run_id, on_dialogue=checkpoint)
        model_name = _model_label(bot, model_name)
        close = getattr(bot, "close", None)
        if callable(close):
            close()
    report = score(dialogues, preds)
    result = {
        "set": str(dset), "split": split, "complete": True, "lang": lang or "all", "start": start,
        "dialogues": len(dialogues), "turns": stats.turns, "model": model_name,
        "wall_s": stats.wall_s, "s_per_turn": round(stats.s_per_turn, 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (timings contended if shared)",
        "metrics": report.overall, "by_lang": report.by_lang,
        "by_scenario": report.by_scenario,
        "latency": turn_latency(dialogues, preds, _kb_intents(domain)),
        "failures": report.failures,
        "predictions": dict(zip([d.id for d in dialogues], predictions_to_jsonable(preds),
                                strict=True)),
    }
    _emit(result, out, as_json, failures)


def _kb_intents(domain: Path | None) -> list[str]:
    """The intents the assistant answers from the knowledge base (kind: question)."""
    from ragkit.support.domain import load_domain

    spec = load_domain(domain).spec
    return [n for n, i in spec.intents.items() if i.kind == "question"]


def _rescore(path: Path, dset: Path) -> dict[str, Any]:
    from ragkit.evals.dst import load_dialogues, predictions_from_jsonable, score, turn_latency

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        preds_by_id = saved["predictions"]
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise ConfigError(f"cannot re-score {path} ({e}); pass a report written by "
                          "`ragkit eval dst --out FILE`") from None
    gold = {d.id: d for d in load_dialogues(dset)}
    missing = [i for i in preds_by_id if i not in gold]
    if missing:
        raise ConfigError(f"{len(missing)} dialogues of {path} are not in {dset} (e.g. "
                          f"{missing[0]}); pass the --set the report was made with")
    dialogues = [gold[i] for i in preds_by_id]
    preds = predictions_from_jsonable(preds_by_id.values())
    report = score(dialogues, preds)
    return {**saved, "dialogues": report.overall["dialogues"], "turns": report.overall["turns"],
            "metrics": report.overall, "by_lang": report.by_lang,
            "by_scenario": report.by_scenario,
            "latency": turn_latency(dialogues, preds, _kb_intents(None)),
            "failures": report.failures}


def _emit(result: dict[str, Any], out: Path | None, as_json: bool, failures: int) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k != "predictions"},
                         ensure_ascii=False, indent=2))
        return
    _print_table(result, failures)


def _open_assistant(kb: Path, domain: Path | None, model: str | None, live: Path) -> tuple[Any, str]:
    from ragkit import sdk

    generator = None
    name = "default"
    if model is not None:
        generator, name = sdk.load_generator(model), model
    bot = sdk.support_assistant(kb, domain, generator=generator, db_path=live)
    return bot, name


def _model_label(bot: Any, default: str) -> str:
    """The generator's name from its ``info()`` (after the run, when it is loaded)."""
    from ragkit import sdk

    with contextlib.suppress(Exception):
        d = sdk.describe(getattr(bot, "generator", None))
        if d is not None:
            return str(d.get("name") or d.get("model") or d.get("id") or default)
    return default


class _progress:
    """A rich progress bar on stderr advanced once per dialogue (or a no-op)."""

    def __init__(self, console: Console, total: int, *, enabled: bool) -> None:
        self.console, self.total, self.enabled = console, total, enabled
        self.bar: Any = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress("dialogues", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=self.console)
        self.bar.start()
        task = self.bar.add_task("dst", total=self.total)
        return lambda d, preds: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_table(result: dict[str, Any], n_failures: int) -> None:
    console = Console(highlight=False)
    table = Table(title=f"{result['dialogues']} dialogues, {result['turns']} turns "
                        f"({result['split']} split), {result.get('wall_s', 0):.0f} s")
    table.add_column("metric")
    langs = list(result["by_lang"])
    for col in ("all", *langs):
        table.add_column(col, justify="right")
    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for m in METRICS:
        table.add_row(m, cell(result["metrics"][m]), *(cell(result["by_lang"][k][m]) for k in langs))
    console.print(table)
    for f in result["failures"][:n_failures]:
        console.print(f"[bold]{f['dialogue']}#{f['turn']}[/] {escape(repr(f['user'][:70]))}: "
                      + escape("; ".join(f["problems"])), soft_wrap=True)
    hidden = len(result["failures"]) - n_failures
    if hidden > 0:
        console.print(f"... {hidden} more failed turns (see --json or --out)")
