"""Generation speed benchmark: ragkit's LocalGenerator against its peers, in one run.

Measures, on the same weights, greedy, batch 1, the same thread count (default 2):

1. decode tokens/s. The like-for-like pair comes first: ragkit ``LocalGenerator`` in bf16
   with drafting off (``ragkit_none_plain``) against plain ``transformers``
   ``AutoModelForCausalLM.generate()`` in bf16 on the same converted folder: same weights,
   same dtype, no quantization, no drafting. Then each engine with its own speed-ups: ragkit
   per quantization setting (none/int8/int4) with its default prompt-lookup drafting, and
   int4 with drafting off (``ragkit_int4_plain``); transformers with its prompt lookup
   (``prompt_lookup_num_tokens``); llama.cpp through ``llama-cpp-python`` on the same GGUF,
   plain and with its ``LlamaPromptLookupDecoding`` draft model (``llama_cpp_lookup``).
   Three prompts: ``free`` (write a module from scratch: little to copy), ``rag`` (a grounded
   answer over three retrieved chunks, rendered with ragkit's own RAG prompt) and ``repair``
   (fix a function shown with its failing test);
2. time to first token on the last turn of a conversation that shares a ~1,500-token system
   prompt, with prefix reuse and without it (target: >= 8x), and the same for llama.cpp's
   prompt cache, for reference;
3. peak RSS per configuration (each configuration runs in its own subprocess).

Engines are interleaved: each of ``--rounds`` rounds (default 3) runs every configuration
once, in a fixed order (A, B, C, A, B, C), and the report gives the median with min and max
over the rounds; ratios are taken between engines of the same round, then the median. Decode
rate is (tokens - 1) / (time of last token - time of first token), so prefill is excluded and
every engine is timed the same way. The llama.cpp peer runs with the python of
``bench/.peer-venv`` (build it once with ``bash bench/peers/build_llama_cpp.sh``); without it
that peer is reported as skipped. Prints a table (see ``generation_report.py``) and writes
``bench/results/generation.json``.

Usage: python bench/generation_bench.py [--model NAME] [--threads 2] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

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


class Job(NamedTuple):
    """One engine configuration: its argv is ``[*before, OUT_JSON, *after]``."""

    name: str
    before: list[str]
    after: list[str]


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
    ap.add_argument("--rounds", type=int, default=0,
                    help="interleaved rounds, each running every engine once; the median is "
                         "reported (default 3, 1 with --quick)")
    ap.add_argument("--llama-lookup-tokens", type=int, default=2,
                    help="num_pred_tokens of llama-cpp-python's LlamaPromptLookupDecoding for "
                         "the llama_cpp_lookup row (upstream advises 2 on CPU; 0: no such row)")
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


def plan_jobs(args: argparse.Namespace, work_path: Path, gguf: Path) -> list[Job]:
    """Every configuration, in the order each round runs them: the like-for-like pair first."""
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--model", args.model, "--threads", str(args.threads), "--workload", str(work_path)]
    quants = args.quantizations.split(",")
    skip = set(filter(None, args.skip.split(",")))

    def ragkit(name: str, *extra: str) -> Job:
        return Job(name, [*me, *common, "--worker", "ragkit", *extra, "--out"], [])

    def transformers(name: str, *extra: str) -> Job:
        return Job(name, [*me, *common, "--worker", "transformers", *extra, "--out"], [])

    jobs = []
    if "none" in quants:  # same weights and dtype as transformers, no quantization, no drafting
        jobs.append(ragkit("ragkit_none_plain", "--quantization", "none", "--draft-tokens", "0"))
    if "transformers" not in skip:
        jobs.append(transformers("transformers_bf16", "--draft-tokens", "0"))
    jobs += [ragkit(f"ragkit_{q}", "--quantization", q) for q in quants]
    if "int4" in quants:
        jobs.append(ragkit("ragkit_int4_plain", "--quantization", "int4", "--draft-tokens", "0"))
    if "transformers" not in skip:
        jobs.append(transformers("transformers_bf16_lookup"))
    if "llama_cpp" not in skip and PEER_PYTHON.exists():
        peer = [str(PEER_PYTHON), str(ROOT / "bench/peers/llama_cpp_worker.py"), str(gguf),
                str(work_path)]
        jobs.append(Job("llama_cpp", peer, [str(args.threads)]))
        if args.llama_lookup_tokens > 0:
            jobs.append(Job("llama_cpp_lookup", peer,
                            [str(args.threads), str(args.llama_lookup_tokens)]))
    if "conversation" not in skip:
        jobs += [ragkit(f"ragkit_{mode}", "--mode", mode, "--quantization", args.ttft_quantization)
                 for mode in ("conversation_reuse", "conversation_no_reuse")]
    return jobs


def run_all(args: argparse.Namespace) -> None:
    """Run every configuration once per round (A, B, C, A, B, C), so that a slow spell of a
    shared machine lands on all engines alike instead of on whichever ran during it."""
    from generation_report import print_table, summarize

    from ragkit.models import gguf_path, resolve

    info = machine_info(args.threads)
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"preparing {args.model} (first use converts it)...", flush=True)
    folder = resolve(args.model, "generator")
    gguf = gguf_path(args.model, log=lambda _m: None)
    tmp = Path(tempfile.mkdtemp(prefix="genbench-"))
    work_path = tmp / "workload.json"
    work = workload(args.quick)
    work_path.write_text(json.dumps({**work, "repeats": 1}), encoding="utf-8")
    jobs = plan_jobs(args, work_path, gguf)
    raw: dict[str, list[dict[str, Any]]] = {job.name: [] for job in jobs}
    missing: dict[str, str] = {}
    if "llama_cpp" not in args.skip.split(",") and not PEER_PYTHON.exists():
        missing["llama_cpp"] = (f"no peer venv at {PEER_PYTHON}; run "
                                "`bash bench/peers/build_llama_cpp.sh` first")
    deadline = time.monotonic() + args.budget_min * 60
    for rnd in range(rounds):
        for job in jobs:
            runs = raw[job.name]
            if any("error" in r for r in runs):  # a configuration that failed once is not retried
                runs.append({"error": "skipped: failed in an earlier round", "skipped": True})
                continue
            out = tmp / f"{job.name}.{rnd}.json"
            print(f"round {rnd + 1}/{rounds}: {job.name}...", flush=True)
            runs.append(spawn([*job.before, str(out), *job.after], out,
                              timeout=deadline - time.monotonic()))
            if "error" in runs[-1]:
                print(f"  {job.name} failed:\n{runs[-1]['error']}", file=sys.stderr)
    report = summarize(raw, missing, work, info, vars(args), rounds, [j.name for j in jobs])
    report["settings"].update(converted_folder=str(folder), gguf=str(gguf))
    print_table(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                              encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
