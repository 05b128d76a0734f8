"""Generation speed benchmark: ragkit's LocalGenerator against its peers, in one run.

Measures, on the same weights, greedy, batch 1, the same thread count (default 2):

1. decode tokens/s: ragkit ``LocalGenerator`` for each quantization setting (none/int8/int4,
   with its default prompt-lookup drafting, and int4/none with drafting off: ``*_plain``),
   plain ``transformers`` ``AutoModelForCausalLM.generate()`` in bf16 on the same converted
   folder (target: ragkit >= 4x), the same with transformers' own prompt lookup
   (``prompt_lookup_num_tokens``), and llama.cpp through ``llama-cpp-python`` on the same GGUF
   (goal: match it). Three prompts: ``free`` (write a module from scratch: the issue's
   workload, little to copy), ``rag`` (a grounded answer over three retrieved chunks, rendered
   with ragkit's own RAG prompt) and ``repair`` (fix a function shown with its failing test);
2. time to first token on the 5th turn of a conversation that shares a ~1,500-token system
   prompt, with prefix reuse and without it (target: >= 8x), and the same for llama.cpp's
   prompt cache, for reference;
3. peak RSS per configuration (each configuration runs in its own subprocess).

Decode rate is (tokens - 1) / (time of last token - time of first token), so prefill is
excluded and every engine is timed the same way. The llama.cpp peer runs with the python of
``bench/.peer-venv`` (build it once with ``bash bench/peers/build_llama_cpp.sh``); without it
that peer is reported as skipped. Prints a table and writes ``bench/results/generation.json``.

Usage: python bench/generation_bench.py [--model NAME] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing ragkit
    sys.path.insert(0, str(ROOT))
PEER_PYTHON = ROOT / "bench" / ".peer-venv" / "bin" / "python"
RESULTS = ROOT / "bench" / "results"

DECODE_PROMPT = [
    {"role": "system", "content": "You are a helpful coding assistant."},
    {"role": "user", "content": "Write a Python module implementing a binary search tree with "
     "insert, delete, search and in-order traversal. Include docstrings and unit tests."},
]
WARMUP = [{"role": "user", "content": "Say hello."}]
REPAIR_CODE = '''def merge_intervals(intervals):
    """Merge overlapping [start, end] intervals; return them sorted by start."""
    if not intervals:
        return []
    intervals = sorted(intervals)
    merged = [list(intervals[0])]
    for start, end in intervals[1:]:
        last = merged[-1]
        if start < last[1]:
            last[1] = max(last[1], end)
        else:
            merged.append([start, end])
    return merged
'''
REPAIR_PROMPT = [
    {"role": "system", "content": "You are a careful Python programmer."},
    {"role": "user", "content": "This function fails its test.\n\n```python\n" + REPAIR_CODE
     + "```\n\nFailing test: assert merge_intervals([[1, 2], [2, 3]]) == [[1, 3]]\n"
     "got [[1, 2], [2, 3]]\n\nReply with the whole corrected function in one code block."},
]
RAG_QUESTION = ("What are the rules for returning an item: the time limit, the condition it must "
                "be in, and how the refund is paid? Cite the sources.")
RAG_FILES = ["knowledge/store/policies/returns.md", "knowledge/store/policies/refunds.md",
             "knowledge/store/policies/gift_cards.md"]


def rag_prompt() -> list[dict[str, str]]:
    """ragkit's own RAG answer prompt over the first ~700 characters of three sample policies."""
    from ragkit.rag.prompts import answer_messages

    context = [{"n": i + 1, "text": (ROOT / f).read_text(encoding="utf-8")[:700]}
               for i, f in enumerate(RAG_FILES)]
    return [{"role": m.role, "content": m.content}
            for m in answer_messages("en", [], 0, context, RAG_QUESTION)]
TURNS = [
    "How long do refunds take for orders paid by card?",
    "And if I paid with a gift card?",
    "Can I return a kettle I have already used once?",
    "What does express shipping cost for an order of 40 euros?",
    "Summarise the return policy for electronics in two sentences.",
]
_TOPICS = ["refunds", "returns", "shipping", "warranty", "gift cards", "loyalty points",
           "order changes", "electronics", "furniture", "subscriptions"]


def system_prompt(n_rules: int = 48) -> str:
    """A deterministic ~1,500-token support policy (the shared prefix of every turn)."""
    lines = ["You are the customer-support assistant of Example Store. Answer only from the "
             "policy below; if it does not cover a question, say so and offer a human agent.",
             "", "POLICY"]
    for i in range(n_rules):
        topic = _TOPICS[i % len(_TOPICS)]
        lines.append(
            f"{i + 1}. {topic.capitalize()}, rule {i // len(_TOPICS) + 1}: requests about {topic} "
            f"are handled within {2 + i % 5} business days; orders above {20 + 5 * i} euros get "
            f"priority handling, and customers in region {chr(65 + i % 6)} must include the order "
            "number and the email address used at checkout.")
    return "\n".join(lines)


def workload(quick: bool) -> dict[str, Any]:
    return {
        "warmup": WARMUP,
        "decode": {"free": DECODE_PROMPT, "rag": rag_prompt(), "repair": REPAIR_PROMPT},
        "decode_tokens": 32 if quick else 128,
        "repeats": 1 if quick else 2,
        "system": system_prompt(12 if quick else 48),
        "turns": TURNS[:3] if quick else TURNS,
        "reply_tokens": 16 if quick else 48,
        "last_turn_tokens": 8,
        "n_ctx": 4096,
    }


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------- workers


def _timed_stream(gen: Any, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    from ragkit.generation.base import SamplingParams
    from ragkit.types import Message

    msgs = [Message(m["role"], m["content"]) for m in messages]  # type: ignore[arg-type]
    t0 = time.perf_counter()
    stream = gen.stream(msgs, SamplingParams(max_tokens=max_tokens, temperature=0.0))
    first = None
    for _ in stream:
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    usage = stream.result.usage
    n = usage.completion_tokens
    span = end - (first or end)
    return {"text": stream.result.text, "prompt_tokens": usage.prompt_tokens,
            "draft": {k: usage.extra.get(k, 0) for k in
                      ("draft_passes", "draft_tokens", "draft_accepted")},
            "cached_tokens": usage.cached_tokens, "completion_tokens": n,
            "ttft_s": (first or end) - t0, "reported_ttft_s": usage.time_to_first_token_s,
            "reported_tok_s": usage.tokens_per_second,
            "decode_tok_s": (n - 1) / span if n > 1 and span > 0 else 0.0}


def worker_ragkit(args: argparse.Namespace, work: dict[str, Any]) -> dict[str, Any]:
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    budget = 0.0 if args.mode == "conversation_no_reuse" else 512.0
    cfg = GeneratorConfig(model=args.model, quantization=args.quantization,
                          threads=args.threads, kv_cache_budget_mb=budget,
                          draft_tokens=args.draft_tokens)
    t0 = time.perf_counter()
    gen = LocalGenerator(cfg)
    getattr(gen, "load", lambda: None)()
    out: dict[str, Any] = {"load_s": time.perf_counter() - t0, "rss_after_load_mb": rss_mb()}
    _timed_stream(gen, work["warmup"], 8)
    if args.mode == "decode":
        out["decode"] = {name: [_timed_stream(gen, msgs, work["decode_tokens"])
                                for _ in range(work["repeats"])]
                         for name, msgs in work["decode"].items()}
    else:
        out["turns"] = _conversation(gen, work, reuse=args.mode == "conversation_reuse")
    info = getattr(gen, "info", None)
    out["info"] = _jsonable(info()) if callable(info) else {}
    return out


OTHER_USER = [{"role": "system", "content": "You translate."}, {"role": "user", "content": "Hi"}]


def _conversation(gen: Any, work: dict[str, Any], reuse: bool) -> list[dict[str, Any]]:
    """Run the turns; without reuse the prefix cache is off (budget 0) and an unrelated
    request runs before each turn, so the engine's working sequence cannot be reused either."""
    history = [{"role": "system", "content": work["system"]}]
    turns = []
    for i, user in enumerate(work["turns"]):
        if not reuse:
            _timed_stream(gen, OTHER_USER, 1)
        history.append({"role": "user", "content": user})
        last = i == len(work["turns"]) - 1
        turn = _timed_stream(gen, history, work["last_turn_tokens"] if last else work["reply_tokens"])
        turns.append(turn)
        history.append({"role": "assistant", "content": turn["text"]})
    return turns


def worker_transformers(args: argparse.Namespace, work: dict[str, Any]) -> dict[str, Any]:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    from ragkit.models import resolve

    torch.set_num_threads(args.threads)
    folder = resolve(args.model, "generator")
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    out: dict[str, Any] = {"load_s": time.perf_counter() - t0, "rss_after_load_mb": rss_mb(),
                           "version": transformers.__version__, "folder": str(folder)}

    class Stamps(BaseStreamer):
        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value: Any) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    def run(messages: list[dict[str, str]], max_new: int) -> dict[str, Any]:
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        stamps = Stamps()
        t0 = time.perf_counter()
        with torch.inference_mode():
            gen = model.generate(**ids, max_new_tokens=max_new, do_sample=False, streamer=stamps,
                                 **lookup)
        n = gen.shape[1] - ids["input_ids"].shape[1]
        times = stamps.times[1:]  # the first put() is the prompt
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        # with prompt lookup, put() receives several tokens at once: count tokens, not calls
        return {"prompt_tokens": int(ids["input_ids"].shape[1]), "completion_tokens": int(n),
                "text": tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True),
                "ttft_s": (times[0] - t0) if times else 0.0,
                "decode_tok_s": (int(n) - 1) / span if span > 0 else 0.0}

    lookup = {"prompt_lookup_num_tokens": args.draft_tokens} if args.draft_tokens else {}
    run(work["warmup"], 8)
    out["decode"] = {name: [run(msgs, work["decode_tokens"]) for _ in range(work["repeats"])]
                     for name, msgs in work["decode"].items()}
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def worker_main(args: argparse.Namespace) -> None:
    work = json.loads(Path(args.workload).read_text(encoding="utf-8"))
    result = worker_transformers(args, work) if args.worker == "transformers" \
        else worker_ragkit(args, work)
    result["peak_rss_mb"] = peak_rss_mb()
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")


# ---------------------------------------------------------------------------- orchestration


def spawn(cmd: list[str], out: Path, timeout: float) -> dict[str, Any]:
    if timeout <= 0:
        return {"error": "skipped: the run's --budget-min was used up before this job"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s (--budget-min)"}
    if proc.returncode != 0 or not out.exists():
        return {"error": (proc.stderr or proc.stdout)[-2000:], "returncode": proc.returncode}
    result = json.loads(out.read_text(encoding="utf-8"))
    result["wall_s"] = time.perf_counter() - t0
    return result


def best(runs: list[dict[str, Any]], key: str = "decode_tok_s") -> float:
    return max(r[key] for r in runs) if runs else 0.0


def machine_info(threads: int) -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import torch

    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": platform.platform(), "python": platform.python_version(),
            "cpu": cpu, "cpu_count": os.cpu_count(), "threads": threads,
            "torch": torch.__version__, "load_avg_at_start": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quantizations", default="none,int8,int4")
    ap.add_argument("--ttft-quantization", default="none",
                    help="quantization used for the prefix-reuse conversation")
    ap.add_argument("--quick", action="store_true", help="short smoke run, not for reporting")
    ap.add_argument("--out", default=str(RESULTS / "generation.json"))
    ap.add_argument("--skip", default="", help="comma list: transformers,llama_cpp,conversation")
    ap.add_argument("--note", default="", help="free text stored in the JSON (e.g. machine load)")
    ap.add_argument("--budget-min", type=float, default=180.0,
                    help="stop starting jobs after this many minutes (the rest are reported)")
    ap.add_argument("--worker", choices=["ragkit", "transformers"], help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="decode", help=argparse.SUPPRESS)
    ap.add_argument("--quantization", default="none", help=argparse.SUPPRESS)
    ap.add_argument("--draft-tokens", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args)
        return
    run_all(args)


def run_all(args: argparse.Namespace) -> None:
    from ragkit.models import gguf_path, resolve

    skip = set(filter(None, args.skip.split(",")))
    info = machine_info(args.threads)
    print(f"preparing {args.model} (first use converts it)...", flush=True)
    folder = resolve(args.model, "generator")
    gguf = gguf_path(args.model, log=lambda _m: None)
    tmp = Path(tempfile.mkdtemp(prefix="genbench-"))
    work_path = tmp / "workload.json"
    work = workload(args.quick)
    work_path.write_text(json.dumps(work), encoding="utf-8")
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--model", args.model, "--threads", str(args.threads), "--workload", str(work_path)]
    raw: dict[str, Any] = {}
    deadline = time.monotonic() + args.budget_min * 60

    def job(name: str, cmd: list[str], peer: bool = False) -> dict[str, Any]:
        out = tmp / f"{name}.json"
        print(f"running {name}...", flush=True)
        raw[name] = spawn([*cmd, str(out), str(args.threads)] if peer else [*cmd, "--out", str(out)],
                          out, timeout=deadline - time.monotonic())
        if "error" in raw[name]:
            print(f"  {name} failed:\n{raw[name]['error']}", file=sys.stderr)
        return raw[name]

    for q in args.quantizations.split(","):
        job(f"ragkit_{q}", [*me, *common, "--worker", "ragkit", "--quantization", q])
    for q in ("int4", "none"):  # the same engines with prompt-lookup drafting off
        if q in args.quantizations.split(","):
            job(f"ragkit_{q}_plain", [*me, *common, "--worker", "ragkit", "--quantization", q,
                                      "--draft-tokens", "0"])
    if "transformers" not in skip:
        job("transformers_bf16", [*me, *common, "--worker", "transformers", "--draft-tokens", "0"])
        job("transformers_bf16_lookup", [*me, *common, "--worker", "transformers"])
    if "llama_cpp" not in skip and PEER_PYTHON.exists():
        job("llama_cpp", [str(PEER_PYTHON), str(ROOT / "bench/peers/llama_cpp_worker.py"),
                          str(gguf), str(work_path)], peer=True)
    elif "llama_cpp" not in skip:
        raw["llama_cpp"] = {"error": f"no peer venv at {PEER_PYTHON}; run "
                            "`bash bench/peers/build_llama_cpp.sh` first"}
    if "conversation" not in skip:
        for mode in ("conversation_reuse", "conversation_no_reuse"):
            job(f"ragkit_{mode}", [*me, *common, "--worker", "ragkit", "--mode", mode,
                                   "--quantization", args.ttft_quantization])
    report = summarize(raw, work, info, args, folder, gguf)
    print_table(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                              encoding="utf-8")
    print(f"wrote {args.out}")


def summarize(raw: dict[str, Any], work: dict[str, Any], info: dict[str, Any],
              args: argparse.Namespace, folder: Path, gguf: Path) -> dict[str, Any]:
    def ok(name: str) -> dict[str, Any] | None:
        r = raw.get(name)
        return r if r and "error" not in r else None

    rows = []
    for name, r in raw.items():
        if "decode" not in (r or {}):
            continue
        runs_by_prompt = r["decode"]
        rows.append({"engine": name,
                     "decode_tok_s": {k: round(best(v), 2) for k, v in runs_by_prompt.items()},
                     "decode_runs": {k: [round(x["decode_tok_s"], 2) for x in v]
                                     for k, v in runs_by_prompt.items()},
                     "completion_tokens": {k: [x["completion_tokens"] for x in v]
                                           for k, v in runs_by_prompt.items()},
                     "draft": {k: v[0].get("draft") for k, v in runs_by_prompt.items()
                               if v[0].get("draft")},
                     "load_s": round(r["load_s"], 1),
                     "rss_after_load_mb": round(r["rss_after_load_mb"]),
                     "peak_rss_mb": round(r["peak_rss_mb"])})
    prompts = list(work["decode"])
    ratios: dict[str, Any] = {}
    for prompt in prompts:
        rate = {row["engine"]: row["decode_tok_s"].get(prompt, 0.0) for row in rows}
        ragkit_rates = {k: v for k, v in rate.items()
                        if k.startswith("ragkit_") and "conversation" not in k}
        fastest = max(ragkit_rates, key=lambda k: ragkit_rates[k]) if ragkit_rates else None
        r: dict[str, Any] = {"fastest_ragkit": fastest}
        for peer in ("transformers_bf16", "transformers_bf16_lookup", "llama_cpp"):
            if fastest and rate.get(peer):
                r[f"ragkit_best_vs_{peer}"] = round(rate[fastest] / rate[peer], 2)
        if rate.get("transformers_bf16"):
            for eng in ("ragkit_int4_plain", "ragkit_none", "ragkit_none_plain"):
                if rate.get(eng):
                    r[f"{eng}_vs_transformers_bf16"] = round(rate[eng] / rate["transformers_bf16"], 2)
        ratios[prompt] = r
    ttft: dict[str, Any] = {}
    reuse, fresh = ok("ragkit_conversation_reuse"), ok("ragkit_conversation_no_reuse")
    if reuse and fresh:
        ttft["ragkit"] = _ttft_summary(reuse["turns"], fresh["turns"])
    llama = ok("llama_cpp")
    if llama:
        ttft["llama_cpp"] = _ttft_summary(llama["conversation_reuse"], llama["conversation_no_reuse"])
    return {
        "benchmark": "generation", "model": args.model, "quick": args.quick, "note": args.note,
        "machine": {**info, "load_avg_at_end": os.getloadavg()},
        "settings": {"greedy": True, "batch": 1, "threads": args.threads,
                     "decode_tokens": work["decode_tokens"], "repeats": work["repeats"],
                     "conversation_turns": len(work["turns"]),
                     "ttft_quantization": args.ttft_quantization,
                     "converted_folder": str(folder), "gguf": str(gguf)},
        "decode": rows, "ratios": ratios, "ttft_last_turn": ttft,
        "targets": {"decode_vs_transformers_bf16": ">= 4x", "decode_vs_llama_cpp": "match (>= 1x)",
                    "ttft_reuse_speedup": ">= 8x"},
        "errors": {k: v["error"] for k, v in raw.items() if v and "error" in v},
        "raw": raw,
    }


def _ttft_summary(reuse: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> dict[str, Any]:
    a, b = reuse[-1], fresh[-1]
    return {"prompt_tokens": a["prompt_tokens"], "cached_tokens_with_reuse": a["cached_tokens"],
            "ttft_with_reuse_s": round(a["ttft_s"], 3), "ttft_without_reuse_s": round(b["ttft_s"], 3),
            "speedup": round(b["ttft_s"] / a["ttft_s"], 1) if a["ttft_s"] > 0 else None,
            "first_turn_cold_ttft_s": round(fresh[0]["ttft_s"], 3),
            "median_ttft_with_reuse_s": round(statistics.median(t["ttft_s"] for t in reuse[1:]), 3)
            if len(reuse) > 1 else None}


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\n{report['model']} | {m['cpu']} | {m['threads']} threads | {m['date']}")
    prompts = list(report["ratios"])
    print(f"{'engine':<28}" + "".join(f"{p + ' tok/s':>14}" for p in prompts)
          + f"{'load s':>9}{'RSS MB':>9}{'peak RSS MB':>13}")
    for row in report["decode"]:
        print(f"{row['engine']:<28}"
              + "".join(f"{row['decode_tok_s'].get(p, 0.0):>14.2f}" for p in prompts)
              + f"{row['load_s']:>9.1f}{row['rss_after_load_mb']:>9}{row['peak_rss_mb']:>13}")
    for prompt, r in report["ratios"].items():
        for key, value in r.items():
            if key != "fastest_ragkit":
                print(f"[{prompt}] {key:<44}{value:>8}x  (fastest ragkit: {r['fastest_ragkit']})")
    for engine, t in report["ttft_last_turn"].items():
        print(f"TTFT last turn [{engine}]: {t['ttft_with_reuse_s']} s with reuse "
              f"({t['cached_tokens_with_reuse']}/{t['prompt_tokens']} cached) vs "
              f"{t['ttft_without_reuse_s']} s without -> {t['speedup']}x")
    for name, err in report["errors"].items():
        print(f"{name}: FAILED ({err.strip().splitlines()[-1] if err.strip() else 'no output'})")


if __name__ == "__main__":
    main()
