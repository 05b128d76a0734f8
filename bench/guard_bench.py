"""The guard's cost: a word-list check with 10,000 entries against two peers in the same run,
and the share of a question's time the guard adds in the RAG pipeline.

1. Word lists (``lists``): 10,000 entries (7,000 English words and phrases, 3,000 Chinese
   terms, made up so none occurs by accident) checked against messages of 30 to 2,000
   characters, three ways on the same messages: ragkit's matcher (normalised views +
   Aho-Corasick, ``Guard.matcher.scan``), one big compiled regular expression of every
   term (the usual first attempt), and a loop of ``term in text`` (the naive peer). Median
   and p99 per message; all three must agree on which messages contain a listed term.
2. The whole check (``check_input``: lists, injection rules, PII redaction) on the same
   messages, with the default lists.
3. With ``--kb`` (an indexed knowledge base) and the default generator: questions asked
   through the RAG pipeline with the guard on; the guard's own nodes (``screen``) and its
   output and chunk checks timed inside the run, as a share of each question's total.

    python bench/guard_bench.py --out bench/results/guard_bench.json [--kb KB]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragkit.guard import Guard, GuardConfig  # noqa: E402

QUESTIONS = ["How many days do I have to return an item?", "退货运费谁出？",
             "What about Gold members?", "How long do refunds take to reach my card?",
             "扫地机器人的续航是多少？", "Do you deliver on Saturdays?"]


def make_terms(n_en: int, n_zh: int, rng: random.Random) -> list[str]:
    letters = "bcdfghjklmnpqrstvwxz"
    vowels = "aeiou"

    def word() -> str:
        return "".join(rng.choice(letters) + rng.choice(vowels) for _ in range(rng.randint(3, 5)))

    en = {word() if rng.random() < 0.7 else f"{word()} {word()}" for _ in range(n_en * 2)}
    han = [chr(c) for c in range(0x4E00, 0x9FA5)]
    zh = {"".join(rng.choice(han) for _ in range(rng.randint(2, 4))) for _ in range(n_zh * 2)}
    return sorted(en)[:n_en] + sorted(zh)[:n_zh]


def make_messages(terms: list[str], rng: random.Random, n: int = 400) -> list[str]:
    base = ("Hi, I ordered a kettle last week and it still has not arrived, can you check the "
            "status for me and tell me when it will be delivered? 我上周买的水壶还没到，请帮我查一下。 ")
    out = []
    for i in range(n):
        size = rng.choice([30, 120, 400, 2000])
        text = (base * (size // len(base) + 1))[:size]
        if i % 4 == 0:  # a quarter carry a listed term
            at = rng.randint(0, len(text))
            text = text[:at] + " " + rng.choice(terms) + " " + text[at:]
        out.append(text)
    return out


def timed(fn, messages: list[str], repeat: int = 3) -> tuple[list[float], list[bool]]:
    ms, found = [], []
    for m in messages:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            hit = fn(m)
            best = min(best, (time.perf_counter() - t0) * 1000)
        ms.append(best)
        found.append(bool(hit))
    return ms, found


def summary(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {"median_ms": round(statistics.median(s), 4),
            "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))], 4),
            "mean_ms": round(statistics.fmean(s), 4)}


def bench_lists(tmp: Path) -> dict:
    rng = random.Random(7)
    terms = make_terms(7000, 3000, rng)
    path = tmp / "words_10k.yaml"
    path.write_text(yaml.safe_dump({"bench": {"action": "block", "terms": terms}},
                                   allow_unicode=True), encoding="utf-8")
    t0 = time.perf_counter()
    guard = Guard(GuardConfig(word_lists=path)).load()
    build_s = time.perf_counter() - t0
    messages = make_messages(terms, rng)
    big = re.compile("|".join(sorted((re.escape(t) for t in terms), key=len, reverse=True)),
                     re.IGNORECASE)
    lowered = [t.lower() for t in terms]
    ours, f1 = timed(guard.matcher.scan, messages)
    regex, f2 = timed(big.search, messages)
    naive, f3 = timed(lambda m: any(t in m.lower() for t in lowered), messages, repeat=1)
    agree = sum(a == b == c for a, b, c in zip(f1, f2, f3, strict=True)) / len(messages)
    by_length: dict[str, dict[str, dict[str, float]]] = {}
    for cap in (200, 500, 2100):
        idx = [i for i, m in enumerate(messages) if len(m) <= cap
               and not any(len(m) <= c for c in (200, 500, 2100) if c < cap)]
        by_length[f"<= {cap} chars ({len(idx)})"] = {
            name: summary([ms[i] for i in idx]) for name, ms in
            (("ragkit_matcher", ours), ("one_big_regex", regex), ("term_in_text_loop", naive))}
    return {"entries": len(terms), "messages": len(messages), "by_length": by_length,
            "message_chars": sorted({len(m) for m in messages})[:1] + [max(map(len, messages))],
            "build_s": round(build_s, 2),
            "ragkit_matcher": summary(ours), "one_big_regex": summary(regex),
            "term_in_text_loop": summary(naive), "agreement": round(agree, 4),
            "flagged": sum(f1)}


def bench_check_input() -> dict:
    rng = random.Random(11)
    guard = Guard().load()
    messages = make_messages(["placeholder"], rng)
    ms, _ = timed(guard.check_input, messages)
    return {"lists": "default", **summary(ms)}


def bench_rag(kb_dir: Path) -> dict:
    from ragkit import sdk
    from ragkit.rag import RagConfig

    kb = sdk.open_kb(kb_dir)
    pipe = sdk.rag_pipeline(kb, config=RagConfig(answer_cache=False))
    guard = pipe.guard
    assert guard is not None
    spent = {"input": 0.0, "chunks": 0.0, "output": 0.0}
    originals = {"check_input": guard.check_input, "check_chunk": guard.check_chunk,
                 "check_output": guard.check_output}

    def wrap(name: str, key: str):
        fn = originals[name]

        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += (time.perf_counter() - t0) * 1000
        return run

    guard.check_input = wrap("check_input", "input")  # type: ignore[method-assign]
    guard.check_chunk = wrap("check_chunk", "chunks")  # type: ignore[method-assign]
    guard.check_output = wrap("check_output", "output")  # type: ignore[method-assign]
    pipe.ask(QUESTIONS[0])  # warm: models loaded, not timed
    rows = []
    for q in QUESTIONS:
        for k in spent:
            spent[k] = 0.0
        t0 = time.perf_counter()
        answer = pipe.ask(q)
        total = (time.perf_counter() - t0) * 1000
        g = sum(spent.values())
        rows.append({"question": q, "total_ms": round(total, 1), "guard_ms": round(g, 2),
                     **{f"{k}_ms": round(v, 2) for k, v in spent.items()},
                     "share": round(g / total, 5), "refused": answer.refused})
    kb.close()
    return {"questions": rows,
            "share_median": round(statistics.median(r["share"] for r in rows), 5),
            "share_max": round(max(r["share"] for r in rows), 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "guard_bench.json")
    ap.add_argument("--kb", type=Path, help="an indexed knowledge base: also time the guard "
                    "inside real RAG questions (loads the default generator)")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
               "lists_10k": bench_lists(Path(tmp)), "check_input_default": bench_check_input()}
    if args.kb is not None:
        out["rag"] = bench_rag(args.kb)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "rag"}, indent=1))
    if "rag" in out:
        print("rag share median", out["rag"]["share_median"], "max", out["rag"]["share_max"])


if __name__ == "__main__":
    main()
