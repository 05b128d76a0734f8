"""`ragkit ask` against a running model service, beside the same command loading its own models.

For each question, two runs of the real command as a user types it (``ragkit ask Q --kb KB
--no-cache``, defaults otherwise: relevance ``auto``, translation ``auto``, the default
generator unquantized), interleaved: one with ``RAGKIT_SERVER=off`` (a cold start: the
process loads the embedder, the relevance models and the generator itself) and one using a
``ragkit serve`` started once, with its defaults, before the runs. Timed from the process
start: the first byte of the answer on stdout (time to first token as the user sees it,
Python start-up and imports included) and the exit. The knowledge base is the bundled sample
store, indexed once into ``bench/.cache/service-kb``. Writes ``bench/results/service.json``.

Usage: python bench/service_bench.py [--questions 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.batching_bench import Server, free_port  # noqa: E402

KB = ROOT / "bench" / ".cache" / "service-kb"
QUESTIONS = [
    "How long do I have to return an item?",
    "Is express shipping available to Germany, and what does it cost?",
    "Can I get my money back on a gift card?",
    "退货要多久才能退款？",
    "What is the warranty on a kettle?",
    "How do I descale the kettle?",
]


def env(server: str) -> dict[str, str]:
    return {**os.environ, "RAGKIT_SERVER": server, "NO_COLOR": "1",
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


def timed_ask(question: str, server: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ragkit", "ask", question, "--kb", str(KB),
                             "--no-cache"], env=env(server), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    first = None
    out = b""
    while piece := proc.stdout.read1(4096):  # type: ignore[attr-defined]
        if first is None and piece.strip():
            first = time.perf_counter() - t0
        out += piece
    err = proc.stderr.read().decode(errors="replace")
    proc.wait()
    total = time.perf_counter() - t0
    return {"question": question, "first_byte_s": first, "total_s": total,
            "exit": proc.returncode, "answer": out.decode(errors="replace")[:300],
            "usage_line": err.strip().splitlines()[-1] if err.strip() else "",
            "said": [line for line in err.splitlines() if "service" in line or "generator" in line]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "service.json"))
    args = ap.parse_args()
    if not (KB / "ragkit.json").exists():
        from ragkit.data import sample_store

        subprocess.run([sys.executable, "-m", "ragkit", "index", str(sample_store()), "--kb",
                        str(KB)], check=True, env=env("off"), cwd=ROOT)
    port = free_port()
    t0 = time.perf_counter()
    service = Server("ragkit serve", [sys.executable, "-m", "ragkit", "serve", "--port",
                                      str(port)], port, "", env=env("off"))
    startup = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    try:
        for q in QUESTIONS[: args.questions]:
            cold = timed_ask(q, "off")
            warm = timed_ask(q, service.url)
            rows.append({"cold": cold, "service": warm})
            print(json.dumps({"q": q, "cold_first_s": cold["first_byte_s"],
                              "service_first_s": warm["first_byte_s"]}, ensure_ascii=False),
                  flush=True)
    finally:
        service.stop()

    def med(kind: str, key: str) -> float | None:
        vals = [r[kind][key] for r in rows if r[kind][key] is not None]
        return statistics.median(vals) if vals else None

    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "service_startup_s": startup,
        "median": {k: {"first_byte_s": med(k, "first_byte_s"), "total_s": med(k, "total_s")}
                   for k in ("cold", "service")},
        "runs": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report["median"], indent=2))


if __name__ == "__main__":
    main()
