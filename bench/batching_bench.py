"""Concurrent streams through HTTP: ragkit's batched server against its serialised self and llama.cpp.

A support-chat workload (one shared ~400-token support policy as the system prompt, a
different customer question per stream, greedy, ``--max-tokens`` per answer) is sent by 1, 2,
4 and 8 concurrent clients, each streaming over SSE from a server on loopback. Servers, each
in its own process on the same 2 cores, started and stopped one after another:

- ``ragkit_batched``: ``ragkit serve-model`` as a new user gets it (continuous batching, 8
  streams), guard off so every server does the same work;
- ``ragkit_serial``: the same with ``--max-batch 1``, one request at a time, which is how
  ragkit served before continuous batching (its decode path with batch 1 is unchanged);
- ``llamacpp_slots``: llama.cpp's own server (the ``xllamacpp`` wheel, see
  ``bench/peers/xllamacpp_server.py``) on the GGUF ragkit converts from, with as many parallel
  slots as there are clients; skipped when ``bench/.peer-venv-xllama`` is missing.

Per level: aggregate completion tokens/s (all tokens / wall time from the first request to the
last token), time to first token p50/p95, inter-token latency p95 (gaps between content
deltas after the first; a delta may hold several tokens when a draft is accepted, so this is
per delta), and the server's peak resident memory (VmHWM) at the end. Each level runs
``--rounds`` times with different questions; figures pool every request of every round.
Before each level, a warm-up of as many concurrent requests as the level has streams (other
questions, 8 tokens), so every llama.cpp slot holds the policy in its own prompt cache as
ragkit's shared prefix cache does: the figures compare serving, not cold caches. Writes ``bench/results/batching.json``.

Usage: python bench/batching_bench.py [--levels 1,2,4,8] [--rounds 2] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.generation_bench import system_prompt  # noqa: E402

PEER_PY = ROOT / "bench" / ".peer-venv-xllama" / "bin" / "python"
QUESTIONS = [
    "How long do refunds take when I paid by card?",
    "Can I return a kettle I already opened?",
    "Do you ship to Norway, and how much does it cost?",
    "My order arrived damaged. What should I do?",
    "How do I change the delivery address of an order I placed yesterday?",
    "Are gift cards refundable?",
    "What is the warranty on electronics?",
    "How many loyalty points do I get for a 60 euro order?",
    "Can I cancel my subscription at any time?",
    "Which details do you need from me to handle a furniture return?",
    "Is express shipping faster for region C?",
    "How long does it take to process an order change?",
    "I was charged twice for one order, what now?",
    "Can I pick up my order in a store instead?",
    "Do you price-match other shops?",
    "What happens if I am not home for the delivery?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """One server process on a free port; ``stop()`` ends it."""

    def __init__(self, name: str, cmd: list[str], port: int, model: str,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.port, self.model = name, port, model
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
               **(env or {})}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} did not start within 600 s")

    def stop(self) -> float:
        rss = peak_rss_mb(self.proc.pid)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        return rss


def one_stream(url: str, model: str, question: str, max_tokens: int, policy: str,
               out: dict[str, Any]) -> None:
    body = {"model": model, "temperature": 0, "max_tokens": max_tokens, "stream": True,
            "messages": [{"role": "system", "content": policy},
                         {"role": "user", "content": question}],
            "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    arrivals: list[float] = []
    tokens = None
    with httpx.Client(timeout=600) as http, http.stream(
            "POST", f"{url}/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            out["error"] = f"{resp.status_code} {resp.read()[:300]!r}"
            return
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"].get("completion_tokens", tokens)
            for choice in chunk.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    arrivals.append(time.perf_counter())
    out.update(t0=t0, arrivals=arrivals, tokens=tokens if tokens is not None else len(arrivals))


def level(server: Server, n: int, rounds: int, max_tokens: int, policy: str, offset: int
          ) -> dict[str, Any]:
    ttft, itl, rates, errors, totals = [], [], [], [], 0
    for r in range(rounds):
        results: list[dict[str, Any]] = [{} for _ in range(n)]
        threads = [threading.Thread(target=one_stream, args=(
            server.url, server.model, QUESTIONS[(offset + r * n + i) % len(QUESTIONS)],
            max_tokens, policy, results[i])) for i in range(n)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done = [x for x in results if "arrivals" in x and x["arrivals"]]
        errors += [x["error"] for x in results if "error" in x]
        if not done:
            continue
        end = max(x["arrivals"][-1] for x in done)
        tok = sum(x["tokens"] for x in done)
        totals += tok
        rates.append(tok / (end - start))
        for x in done:
            ttft.append(x["arrivals"][0] - x["t0"])
            itl += [b - a for a, b in zip(x["arrivals"], x["arrivals"][1:], strict=False)]
    return {"streams": n, "requests": n * rounds, "errors": errors, "completion_tokens": totals,
            "aggregate_tok_s": statistics.median(rates) if rates else 0.0,
            "ttft_p50_s": pct(ttft, 0.5), "ttft_p95_s": pct(ttft, 0.95),
            "itl_p50_s": pct(itl, 0.5), "itl_p95_s": pct(itl, 0.95)}


def ragkit_server(name: str, max_batch: int, threads: int) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "ragkit", "serve-model", "--port", str(port), "--no-guard",
           "--max-batch", str(max_batch), "--served-name", "ragkit"]
    del threads  # ragkit uses every physical core by default (2 here), as llama.cpp is told to
    return Server(name, cmd, port, "ragkit")


def llamacpp_server(slots: int, threads: int, gguf: Path) -> Server:
    port = free_port()
    cmd = [str(PEER_PY), str(ROOT / "bench" / "peers" / "xllamacpp_server.py"), "--model",
           str(gguf), "--port", str(port), "--parallel", str(slots), "--threads", str(threads),
           "--ctx-per-slot", "4096"]
    return Server(f"llamacpp_slots{slots}", cmd, port, "default")


def default_gguf() -> Path:
    from ragkit.config import DEFAULT_GENERATOR
    from ragkit.models import gguf_path  # the GGUF ragkit converts the default model from

    return gguf_path(DEFAULT_GENERATOR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="1,2,4,8")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="ragkit_batched,ragkit_serial,llamacpp_slots")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "batching.json"))
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    policy = system_prompt(12)
    only = args.only.split(",")
    report: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "workload": {"levels": levels, "rounds": args.rounds, "max_tokens": args.max_tokens,
                     "system_prompt_chars": len(policy), "temperature": 0,
                     "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
        "servers": {},
    }
    plans: list[tuple[str, Any]] = []
    if "ragkit_batched" in only:
        plans.append(("ragkit_batched", lambda: [ragkit_server("ragkit_batched", 8, args.threads)]))
    if "ragkit_serial" in only:
        plans.append(("ragkit_serial", lambda: [ragkit_server("ragkit_serial", 1, args.threads)]))
    if "llamacpp_slots" in only:
        if PEER_PY.exists():
            plans.append(("llamacpp_slots", None))
        else:
            report["servers"]["llamacpp_slots"] = {
                "skipped": "no bench/.peer-venv-xllama (bash bench/peers/setup_xllamacpp.sh)"}
    for name, _ in plans:
        rows, rss = [], 0.0
        if name == "llamacpp_slots":  # one server per level: as many slots as clients
            gguf = default_gguf()
            for n in levels:
                server = llamacpp_server(n, args.threads, gguf)
                level(server, n, 1, 8, policy, 7)  # warm-up: every slot caches the policy
                rows.append(level(server, n, args.rounds, args.max_tokens, policy, 0))
                rss = max(rss, server.stop())
                print(name, rows[-1], flush=True)
        else:
            server = (ragkit_server(name, 8 if name == "ragkit_batched" else 1, args.threads))
            for n in levels:
                level(server, n, 1, 8, policy, 7)  # warm-up, as for the peer
                rows.append(level(server, n, args.rounds, args.max_tokens, policy, 0))
                print(name, rows[-1], flush=True)
            stats = httpx.get(f"{server.url}/health", timeout=10).json().get("stats")
            rss = server.stop()
            report["servers"].setdefault(name, {})["stats_after"] = stats
        report["servers"].setdefault(name, {}).update(levels=rows, peak_rss_mb=rss)
    base = {r["streams"]: r for r in report["servers"].get("ragkit_serial", {}).get("levels", [])}
    ours = {r["streams"]: r for r in report["servers"].get("ragkit_batched", {}).get("levels", [])}
    report["batched_vs_serial"] = {
        n: {"ttft_p95_ratio": base[n]["ttft_p95_s"] / max(ours[n]["ttft_p95_s"], 1e-9),
            "throughput_ratio": ours[n]["aggregate_tok_s"] / max(base[n]["aggregate_tok_s"], 1e-9)}
        for n in ours if n in base}
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report["batched_vs_serial"], indent=2))


if __name__ == "__main__":
    main()
