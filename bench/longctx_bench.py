"""Passkey retrieval beyond the native context, with and without RoPE scaling.

A random 5-digit passkey is hidden at several depths inside filler text of a target length;
the model is asked for it (greedy, a few tokens). For each (length, RoPE setting) cell the
script records accuracy over the trials and the prefill time (chunked prefill, CPU or GPU).
"none" beyond the native length runs with the context limit lifted by hand (to show what
happens without scaling); ``dynamic`` runs with the prefix cache off, as the config requires.

    python bench/longctx_bench.py                                    # SmolLM2-135M, 8k/16k/32k
    python bench/longctx_bench.py --lengths 8192,16384 --trials 1
    python bench/longctx_bench.py --model qwen2.5-coder-0.5b-instruct \\
        --lengths 32768,65536,131072 --device cuda                     # on a GPU machine

Writes bench/results/longctx.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILLER = (
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
)
QUESTION = "What is the pass key? Reply with the five digits only."


def build_prompt(gen: Any, length: int, depth: float, key: str) -> list[int]:
    from ragkit.types import Message

    needle = f" The pass key is {key}. Remember it. {key} is the pass key. "
    unit = gen.encode(FILLER)
    budget = length - 80 - len(gen.encode(needle))
    filler_ids = (unit * (budget // len(unit) + 1))[:budget]
    cut = int(len(filler_ids) * depth)
    tok = gen._bundle.tokenizer
    body = tok.decode(filler_ids[:cut]) + needle + tok.decode(filler_ids[cut:])
    msgs = [
        Message(
            "user", "There is a pass key hidden in this text. Find it.\n" + body + "\n" + QUESTION
        )
    ]
    return gen.render(msgs)


def make(model: str, setting: str, length: int, native: int, device: str, chunk: int) -> Any:
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    factor = max(length / native, 1.0)
    cfg: dict[str, Any] = {
        "model": model,
        "device": device,
        "prefill_chunk": chunk,
        "kv_cache_budget_mb": 0,
    }
    if setting != "none" and factor > 1:
        cfg["rope_scaling"] = {
            "type": setting,
            "factor": factor,
            "original_max_position_embeddings": native,
        }
    gen = LocalGenerator(GeneratorConfig.parse(cfg)).load()
    if length + 16 > gen._bundle.max_context:  # "none" beyond native: lift the limit by hand
        gen._bundle.max_context = length + 16
        gen._engine.kv.max_len = length + 16
    return gen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--lengths", default="8192,16384,32768")
    ap.add_argument("--settings", default="none,yarn,linear,dynamic")
    ap.add_argument("--depths", default="0.1,0.5,0.9")
    ap.add_argument("--trials", type=int, default=1, help="passkeys per depth")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--prefill-chunk", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "longctx.json"))
    args = ap.parse_args()

    from ragkit.generation.base import SamplingParams

    rng = random.Random(args.seed)
    depths = [float(d) for d in args.depths.split(",")]
    rows = []
    native = None
    for length in (int(x) for x in args.lengths.split(",")):
        for setting in args.settings.split(","):
            probe = None
            if native is None:
                probe = make(args.model, "none", 1024, 10**9, args.device, args.prefill_chunk)
                native = probe.info()["native_context"]
            if setting != "none" and length <= native:
                continue  # scaling is a no-op at or below the native length
            gen = make(args.model, setting, length, native, args.device, args.prefill_chunk)
            correct, prefill, trials = 0, [], []
            for depth in depths:
                for _ in range(args.trials):
                    key = f"{rng.randrange(10000, 100000)}"
                    ids = build_prompt(gen, length, depth, key)
                    stream = gen.stream_tokens(ids, SamplingParams(max_tokens=24))
                    text = stream.collect().text
                    assert stream.result is not None
                    ttft = stream.result.usage.time_to_first_token_s
                    found = re.findall(r"\d{5}", text)
                    ok = bool(found) and found[0] == key
                    correct += ok
                    prefill.append(ttft)
                    trials.append(
                        {
                            "depth": depth,
                            "key": key,
                            "answer": text.strip()[:40],
                            "ok": ok,
                            "prompt_tokens": len(ids),
                            "prefill_s": ttft,
                        }
                    )
                    print(
                        f"  {length:6d} {setting:8s} depth={depth:.1f} ok={ok} "
                        f"prefill={ttft:.1f}s answer={text.strip()[:20]!r}",
                        flush=True,
                    )
            rows.append(
                {
                    "length": length,
                    "setting": setting,
                    "factor": round(max(length / native, 1.0), 3),
                    "accuracy": correct / len(trials),
                    "mean_prefill_s": sum(prefill) / len(prefill),
                    "trials": trials,
                }
            )
            del gen, probe
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(
                json.dumps(
                    {
                        "benchmark": "longctx",
                        "model": args.model,
                        "native_context": native,
                        "device": args.device,
                        "prefill_chunk": args.prefill_chunk,
                        "machine": {
                            "platform": platform.platform(),
                            "torch": torch.__version__,
                            "threads": torch.get_num_threads(),
                            "cuda": torch.cuda.is_available(),
                            "note": "shared machine; prefill times are noisy",
                        },
                        "rows": rows,
                    },
                    indent=2,
                )
            )

    print(f"\n{'length':>7} {'setting':8} {'factor':>6} {'acc':>5} {'prefill s':>9}")
    for r in rows:
        print(
            f"{r['length']:7d} {r['setting']:8} {r['factor']:6.2f} {r['accuracy']:5.2f} "
            f"{r['mean_prefill_s']:9.1f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
