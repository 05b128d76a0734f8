"""Greedy answers of the default generator alone and in a batch of 8: how many are identical.

The tiny float32 models of the test suite give identical tokens (tests/generation/
test_batching.py); this checks the real default model in bfloat16, where the CPU matrix
multiply may round differently for 8 rows than for one. Runs the 16 support questions of
``batching_bench.py`` (64 tokens, shared policy prompt) alone, one after another, then 8 at a
time, and writes ``bench/results/batch_equality.json``.

Usage: python bench/batch_equality_check.py
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.batching_bench import QUESTIONS  # noqa: E402
from bench.generation_bench import system_prompt  # noqa: E402


def main() -> None:
    from ragkit.generation.base import SamplingParams
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator
    from ragkit.types import Message

    gen = LocalGenerator(GeneratorConfig()).load()
    policy = system_prompt(12)
    sp = SamplingParams(max_tokens=64, temperature=0.0)
    msgs = [[Message("system", policy), Message("user", q)] for q in QUESTIONS]
    alone = [gen.generate(m, sp).text for m in msgs]
    together: list[str] = [""] * len(msgs)

    def run(i: int) -> None:
        together[i] = gen.generate(msgs[i], sp).text

    for start in range(0, len(msgs), 8):
        threads = [threading.Thread(target=run, args=(i,))
                   for i in range(start, min(start + 8, len(msgs)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    same = [a == b for a, b in zip(alone, together, strict=True)]
    report = {"dtype": gen.info()["dtype"], "questions": len(msgs), "identical": sum(same),
              "differing": [{"question": q, "alone": a, "batched": b}
                            for q, a, b, s in zip(QUESTIONS, alone, together, same, strict=True)
                            if not s]}
    (ROOT / "bench" / "results" / "batch_equality.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps({k: report[k] for k in ("dtype", "questions", "identical")}))


if __name__ == "__main__":
    main()
