"""Knowledge-base benchmark: indexing speed, incremental re-sync, and retrieval quality.

Owns: for each catalogued embedder, timing a cold index of ``knowledge/store`` into a fresh
knowledge base (split into reading+chunking, embedding and writing), a re-sync of the unchanged
folder (which must embed nothing), a re-sync after appending a paragraph to one file, and
hit@1 / hit@5 / MRR of dense, keyword and hybrid search on the labelled questions
(``knowledge/eval/retrieval.jsonl``), overall and per language / question type.
Does not own the relevance rule or the metrics (``ragkit.evals.retrieval``) or anything the
knowledge base does; it drives the public ``KnowledgeBase`` API only. Also holds the small
helpers (machine description, table printing) that ``ingest_peer_bench.py`` reuses.

The folder is copied into a temp dir (still named ``store`` so citations read
``store/...`` as the labels expect) and the edit is made on that copy; ``knowledge/`` is never
touched. The embedder is loaded once per model, before the clock starts, and its load time is
reported separately.

Run::

    python bench/retrieval_bench.py                       # both embedders, all questions
    python bench/retrieval_bench.py --embedders all-minilm-l6-v2
    python bench/retrieval_bench.py --quick               # default embedder, 20 questions

Writes ``bench/results/retrieval.json`` (entries for embedders not run this time are kept) and
prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragkit import models  # noqa: E402
from ragkit.config import KnowledgeBaseConfig  # noqa: E402
from ragkit.evals.retrieval import LabelledQuestion, ModeResult, evaluate_kb, load_questions  # noqa: E402
from ragkit.kb import KnowledgeBase, SyncReport  # noqa: E402

STORE = ROOT / "knowledge" / "store"
QUESTIONS = ROOT / "knowledge" / "eval" / "retrieval.jsonl"
RESULTS = ROOT / "bench" / "results" / "retrieval.json"
EDIT_FILE = "policies/returns.md"  # relative to the store folder
EDIT_TEXT = (
    "\n\n## Note for this benchmark\n\nThis paragraph was appended by bench/retrieval_bench.py "
    "to measure an incremental re-index after a one-file edit. It carries no policy.\n"
)
QUICK_QUESTIONS = 20


# --------------------------------------------------------------------------- shared helpers


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(threads: int) -> dict[str, Any]:
    """What the numbers were taken on, including how busy the machine was when we started."""
    import torch

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": threads,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            d: _version(d) for d in ("torch", "transformers", "sentence-transformers",
                                     "faiss-cpu", "sqlite-utils", "numpy", "jieba", "ragkit")
        },
        "torch_build": torch.__version__,
    }


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))


def load_embedder_timed(name: str, threads: int) -> tuple[Any, float]:
    """Load embedder ``name`` and run one tiny batch; return it and the seconds that took.

    Library imports happen before the clock starts (the peer script does the same). The torch
    thread count is set again afterwards because ragkit's embedder sets it to the number of
    usable cores when it loads.
    """
    import sentence_transformers  # noqa: F401  (import time is not model load time)

    from ragkit.embedder import load_embedder

    t0 = time.perf_counter()
    emb = load_embedder(name)
    emb.embed_passages(["warm-up"])
    emb.embed_queries(["warm-up"])
    if hasattr(emb, "embed_for_index"):  # the graph a knowledge base stores vectors with
        emb.embed_for_index(["warm-up"])
    elapsed = time.perf_counter() - t0
    set_threads(threads)
    return emb, elapsed


def copy_store(src: Path, tmp: Path) -> Path:
    """Copy ``src`` to ``tmp/<name>`` so citations keep the ``store/...`` prefix."""
    dest = tmp / src.name
    shutil.copytree(src, dest)
    return dest


class StageClock:
    """A ``progress`` callback that records when each sync stage (scan, embed, write) starts."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.first.setdefault(stage, time.perf_counter())

    def split(self, end: float) -> dict[str, float]:
        marks = sorted(self.first.items(), key=lambda kv: kv[1])
        out: dict[str, float] = {}
        for i, (stage, t) in enumerate(marks):
            nxt = marks[i + 1][1] if i + 1 < len(marks) else end
            out[f"{stage}_s"] = round(nxt - t, 3)
        return out


def timed_sync(kb: KnowledgeBase, folder: Path) -> tuple[SyncReport, dict[str, Any]]:
    clock = StageClock()
    report = kb.sync([folder], progress=clock)
    end = time.perf_counter()
    row: dict[str, Any] = {
        "elapsed_s": round(report.elapsed_s, 3),
        "wall_s": round(end - clock.t0, 3),
        "files_added": report.added,
        "files_updated": report.updated,
        "files_unchanged": report.unchanged,
        "files_failed": report.failed,
        "chunks_total": report.chunks_total,
        "chunks_embedded": report.chunks_embedded,
        "stages": clock.split(end),
    }
    if report.chunks_embedded and report.elapsed_s > 0:
        row["chunks_per_s"] = round(report.chunks_embedded / report.elapsed_s, 1)
    return report, row


def mode_row(r: ModeResult) -> dict[str, Any]:
    return {
        "n": r.n,
        "hit1": round(r.hit1, 4),
        "hit5": round(r.hit5, 4),
        "mrr": round(r.mrr, 4),
        "ms_per_query": round(r.ms_per_query, 2),
        "by_group": {g: {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
                     for g, d in r.by_group.items()},
        "misses_at_5": r.misses,
    }


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for j, r in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                        enumerate(zip(r, widths, strict=True))))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"
    return "-" if x is None else str(x)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------- one embedder


def bench_embedder(name: str, store: Path, questions: list[LabelledQuestion],
                   threads: int) -> dict[str, Any]:
    print(f"[{name}] loading embedder…", file=sys.stderr)
    emb, load_s = load_embedder_timed(name, threads)
    out: dict[str, Any] = {"embedder_id": emb.id, "dim": emb.dim, "max_tokens": emb.max_tokens,
                           "model_load_s": round(load_s, 3)}
    with tempfile.TemporaryDirectory(prefix="ragkit-retrieval-bench-") as tmp:
        folder = copy_store(store, Path(tmp))
        config = KnowledgeBaseConfig(embedder=name)
        kb = KnowledgeBase.open(Path(tmp) / "kb", create=True, config=config, embedder=emb)
        try:
            print(f"[{name}] cold index…", file=sys.stderr)
            _, out["cold"] = timed_sync(kb, folder)
            _, out["resync_unchanged"] = timed_sync(kb, folder)
            out["resync_unchanged"]["embedded_nothing"] = (
                out["resync_unchanged"]["chunks_embedded"] == 0)
            print(f"[{name}] evaluating {len(questions)} questions…", file=sys.stderr)
            out["modes"] = {r.mode: mode_row(r) for r in evaluate_kb(kb, questions)}
            edited = folder / EDIT_FILE
            before = edited.read_text(encoding="utf-8")
            edited.write_text(before + EDIT_TEXT, encoding="utf-8")
            _, out["resync_one_file_edited"] = timed_sync(kb, folder)
            out["resync_one_file_edited"]["file"] = f"{store.name}/{EDIT_FILE}"
            out["resync_one_file_edited"]["edit"] = "appended one short section at the end"
            out["status"] = kb.status() | {"last_runs": None}
        finally:
            kb.close()
    return out


# --------------------------------------------------------------------------- main


def _report(results: dict[str, Any]) -> None:
    rows = []
    for name, r in results.items():
        c, u, e = r["cold"], r["resync_unchanged"], r["resync_one_file_edited"]
        rows.append([name, r["model_load_s"], c["elapsed_s"], c["chunks_embedded"],
                     c.get("chunks_per_s"), u["elapsed_s"], u["chunks_embedded"],
                     e["elapsed_s"], e["chunks_embedded"]])
    print_table("Indexing knowledge/store (seconds)",
                ["embedder", "load", "cold", "chunks", "chunks/s", "resync", "embedded",
                 "edit-1", "embedded"], rows)
    rows = []
    for name, r in results.items():
        for mode, m in r["modes"].items():
            groups = m["by_group"]
            rows.append([name, mode, m["hit1"], m["hit5"], m["mrr"], m["ms_per_query"],
                         *(groups.get(g, {}).get("hit5") for g in ("lang:en", "lang:zh"))])
    print_table("Retrieval on knowledge/eval/retrieval.jsonl",
                ["embedder", "mode", "hit@1", "hit@5", "MRR", "ms/q", "hit@5 en", "hit@5 zh"],
                rows)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedders", default=None,
                    help="comma-separated catalogue names [default: every catalogued embedder]")
    ap.add_argument("--quick", action="store_true",
                    help=f"default embedder only, first {QUICK_QUESTIONS} questions")
    ap.add_argument("--store", type=Path, default=STORE)
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--fresh", action="store_true", help="drop entries of embedders not run now")
    ap.add_argument("--note", action="append", default=[], help="extra note for the JSON")
    args = ap.parse_args(argv)

    set_threads(args.threads)
    if args.embedders:
        names = [n.strip() for n in args.embedders.split(",") if n.strip()]
    elif args.quick:
        names = [models.default_model("embedder")]
    else:
        names = [s.name for s in models.list_models("embedder")]
    questions = load_questions(args.questions)
    if args.quick:
        questions = questions[:QUICK_QUESTIONS]
    machine = machine_info(args.threads)
    results: dict[str, Any] = {}
    for name in names:
        models.resolve(name, "embedder")  # pull before any clock starts
        results[name] = bench_embedder(name, args.store.resolve(), questions, args.threads)
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    _report(results)

    previous: dict[str, Any] = {}
    if args.out.exists() and not args.fresh:
        try:
            previous = json.loads(args.out.read_text(encoding="utf-8")).get("embedders", {})
        except (OSError, ValueError):
            previous = {}
    data = {
        "benchmark": "retrieval",
        "machine": machine,
        "settings": {
            "store": str(args.store), "questions": str(args.questions),
            "n_questions": len(questions), "quick": args.quick,
            "kb_config": KnowledgeBaseConfig().model_dump(mode="json") | {"embedder": "<each>"},
            "eval_k": 10, "edit_file": EDIT_FILE,
            "question_groups": dict(sorted(_count_groups(questions).items())),
        },
        "notes": [
            "Shared machine: other jobs ran on the same cores during this run (see "
            "load_avg_at_start/_at_end); timings are noisy, quality metrics are not.",
            "model_load_s (load + one warm-up batch) is excluded from every indexing time.",
            "cold = fresh knowledge base: read, parse, chunk, embed, write SQLite+FTS, save FAISS.",
            "stages: scan = discovery, hashing, parsing and chunking; embed = passage embedding; "
            "write = SQLite/FTS rows, FAISS add and save.",
            "A question counts as hit@k when a top-k chunk comes from the labelled document and "
            "contains the labelled evidence (ragkit.evals.retrieval.is_relevant).",
            *args.note,
        ],
        "embedders": {**{k: v for k, v in previous.items() if k not in results}, **results},
    }
    write_json(args.out, data)
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


def _count_groups(questions: Sequence[LabelledQuestion]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in questions:
        for g in (f"lang:{q.lang}", f"type:{q.type}"):
            counts[g] = counts.get(g, 0) + 1
    return counts


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
