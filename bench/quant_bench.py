"""Weight-only quantization: perplexity, peak memory and logit drift for none / int8 / int4.

Each setting runs in its own subprocess (so peak RSS is that setting's alone) and reports:
perplexity of the model on held-out English and Chinese prose (bench/data/heldout_*.txt,
written for this benchmark), peak resident memory, load time, and the logits of a few fixed
prompts, which the parent compares with the unquantized run (max abs difference and whether
the top-1 token agrees).

    python bench/quant_bench.py                     # default model and SmolLM2-135M
    python bench/quant_bench.py --models smollm2-135m-instruct --modes none,int8

Writes bench/results/quant.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data"
PROMPTS = [
    "def fibonacci(n):",
    "The capital of France is",
    "请用一句话解释什么是缓存。",
    "Refunds are issued within",
]


def run_one(model: str, mode: str, out: Path, max_tokens: int) -> None:
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    t0 = time.perf_counter()
    gen = LocalGenerator(
        GeneratorConfig(model=model, quantization=mode, kv_cache_budget_mb=0, prefill_chunk=256)
    ).load()
    load_s = time.perf_counter() - t0
    engine = gen._engine
    assert engine is not None
    ppl = {}
    for lang in ("en", "zh"):
        ids = gen.encode((DATA / f"heldout_{lang}.txt").read_text(encoding="utf-8"))[:max_tokens]
        lp = engine.token_logprobs(ids)
        ppl[lang] = {"tokens": len(ids), "perplexity": math.exp(-float(lp.mean()))}
    logits = []
    for p in PROMPTS:
        logits.append(engine.prepare(gen.encode(p)).logits.cpu())
    torch.save(torch.stack(logits), out.with_suffix(".pt"))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(
        json.dumps({"load_s": load_s, "peak_rss_mb": rss_mb, "perplexity": ppl, "info": gen.info()})
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default="qwen2.5-coder-0.5b-instruct,smollm2-135m-instruct")
    ap.add_argument("--modes", default="none,int8,int4")
    ap.add_argument("--max-tokens", type=int, default=2048, help="tokens per text")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "quant.json"))
    ap.add_argument("--one", nargs=3, metavar=("MODEL", "MODE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(args.one[0], args.one[1], Path(args.one[2]), args.max_tokens)
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            base_logits = None
            for mode in args.modes.split(","):
                out = Path(tmp) / f"{model.replace('/', '_')}-{mode}.json"
                cmd = [
                    sys.executable,
                    __file__,
                    "--max-tokens",
                    str(args.max_tokens),
                    "--one",
                    model,
                    mode,
                    str(out),
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{model} {mode}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                    rows.append({"model": model, "mode": mode, "error": proc.stderr[-500:]})
                    continue
                res = json.loads(out.read_text())
                logits = torch.load(out.with_suffix(".pt"))
                if mode == "none":
                    base_logits = logits
                if base_logits is not None:
                    res["max_abs_logit_diff"] = float((logits - base_logits).abs().max())
                    res["top1_agreement"] = float(
                        (logits.argmax(-1) == base_logits.argmax(-1)).float().mean()
                    )
                rows.append({"model": model, "mode": mode, **res})

    print(
        f"{'model':32} {'mode':5} {'ppl en':>8} {'ppl zh':>8} {'rss MB':>8} "
        f"{'max|dlogit|':>11} {'top1':>5}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['model']:32} {r['mode']:5} ERROR")
            continue
        print(
            f"{r['model']:32} {r['mode']:5} {r['perplexity']['en']['perplexity']:8.3f} "
            f"{r['perplexity']['zh']['perplexity']:8.3f} {r['peak_rss_mb']:8.0f} "
            f"{r.get('max_abs_logit_diff', float('nan')):11.3f} "
            f"{r.get('top1_agreement', float('nan')):5.2f}"
        )
    result = {
        "benchmark": "quant",
        "machine": {
            "platform": platform.platform(),
            "cpus": torch.get_num_threads(),
            "torch": torch.__version__,
            "note": "shared 2-core machine; timings noisy",
        },
        "prompts": PROMPTS,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
