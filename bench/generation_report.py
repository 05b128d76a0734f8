"""Report of bench/generation_bench.py: medians over interleaved rounds, and the printed table.

Owns turning the raw per-round results (``{configuration: [round 1, round 2, ...]}``, each
round a worker's JSON or ``{"error": ...}``) into the report: one row per configuration with
the median, min and max decode rate per prompt over the rounds; comparisons whose ratios are
taken between two engines of the same round, then summarised the same way; the
time-to-first-token summary; and the table. It runs nothing and imports nothing heavy.

Row order is fixed so the table reads fairly: the like-for-like pair first (ragkit bf16
without drafting against transformers ``generate()`` bf16: same weights, same dtype, no
quantization, no drafting), then ragkit's fastest setting, then the peers with their own
speed-ups (transformers' prompt lookup, llama.cpp plain and with its prompt lookup), then the
other ragkit settings.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

LIKE_FOR_LIKE = ("ragkit_none_plain", "transformers_bf16")
PEERS = ("transformers_bf16", "transformers_bf16_lookup", "llama_cpp", "llama_cpp_lookup")
LABELS = {
    "ragkit_none_plain": "ragkit bf16, no drafting",
    "transformers_bf16": "transformers generate() bf16",
    "ragkit_none": "ragkit bf16 + prompt lookup",
    "ragkit_int8": "ragkit int8 + prompt lookup",
    "ragkit_int4": "ragkit int4 + prompt lookup",
    "ragkit_int4_plain": "ragkit int4, no drafting",
    "transformers_bf16_lookup": "transformers bf16 + its prompt lookup",
    "llama_cpp": "llama.cpp Q4_K_M GGUF",
    "llama_cpp_lookup": "llama.cpp + its prompt lookup",
}
GROUPS = {"like_for_like": "like-for-like: same weights and dtype, no quantization, no drafting",
          "ragkit_best": "ragkit's fastest setting",
          "peer": "peers with their own speed-ups",
          "ragkit": "other ragkit settings"}
TARGETS = {"decode_vs_transformers_bf16": ">= 4x", "decode_vs_llama_cpp": "match (>= 1x)",
           "ttft_reuse_speedup": ">= 8x"}


def _ok(run: dict[str, Any] | None) -> bool:
    return bool(run) and "error" not in (run or {})


def spread(values: list[float | None], digits: int = 2) -> dict[str, Any]:
    """Median, min and max of the rounds that produced a value (n says how many did)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(vals), digits), "min": round(min(vals), digits),
            "max": round(max(vals), digits), "n": len(vals)}


def decode_rates(raw: dict[str, list[dict[str, Any]]],
                 prompts: list[str]) -> dict[str, dict[str, list[float | None]]]:
    """Per configuration and prompt, the decode rate of each round (None where it failed)."""
    return {name: {p: [r["decode"][p][0]["decode_tok_s"] if _ok(r) else None for r in runs]
                   for p in prompts}
            for name, runs in raw.items() if any(_ok(r) and "decode" in r for r in runs)}


def fastest_ragkit(rates: dict[str, dict[str, list[float | None]]]) -> str | None:
    """The ragkit decode configuration with the highest mean over prompts of its medians."""
    means = {}
    for name, by_prompt in rates.items():
        medians = [spread(v)["median"] for v in by_prompt.values()]
        if name.startswith("ragkit_") and all(m is not None for m in medians):
            means[name] = statistics.mean(medians)
    return max(means, key=lambda k: means[k]) if means else None


def _group(name: str, best: str | None) -> str:
    if name in LIKE_FOR_LIKE:
        return "like_for_like"
    return "ragkit_best" if name == best else "peer" if name in PEERS else "ragkit"


def row_order(names: list[str], best: str | None) -> list[str]:
    first = [n for n in dict.fromkeys([*LIKE_FOR_LIKE, best, *PEERS]) if n in names]
    return first + [n for n in names if n not in first]


def compare(rates: dict[str, dict[str, list[float | None]]], engine: str, peer: str,
            prompts: list[str]) -> dict[str, Any] | None:
    """engine / peer per prompt: the ratio within each round both ran, then its spread."""
    if engine not in rates or peer not in rates or engine == peer:
        return None
    ratio = {}
    for p in prompts:
        rounds = [a / b for a, b in zip(rates[engine][p], rates[peer][p], strict=True)
                  if a and b]
        ratio[p] = {**spread(list(rounds)), "rounds": [round(x, 2) for x in rounds]}
    return {"engine": engine, "peer": peer, "ratio": ratio}


def comparisons(rates: dict[str, dict[str, list[float | None]]], best: str | None,
                prompts: list[str]) -> list[dict[str, Any]]:
    pairs = [("like_for_like", *LIKE_FOR_LIKE)]
    if best:
        pairs += [(f"ragkit_best_vs_{peer}", best, peer) for peer in PEERS]
    pairs.append(("ragkit_int4_plain_vs_transformers_bf16", "ragkit_int4_plain",
                  "transformers_bf16"))
    out = []
    for name, engine, peer in pairs:
        c = compare(rates, engine, peer, prompts)
        if c:
            out.append({"name": name, **c})
    return out


def _ttft_round(reuse: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> dict[str, Any]:
    a, b = reuse[-1], fresh[-1]
    return {"prompt_tokens": a["prompt_tokens"], "cached_tokens_with_reuse": a["cached_tokens"],
            "ttft_with_reuse_s": round(a["ttft_s"], 3), "ttft_without_reuse_s": round(b["ttft_s"], 3),
            "speedup": round(b["ttft_s"] / a["ttft_s"], 1) if a["ttft_s"] > 0 else None,
            "first_turn_cold_ttft_s": round(fresh[0]["ttft_s"], 3)}


def _ttft_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    last = rounds[-1]
    return {"prompt_tokens": last["prompt_tokens"],
            "cached_tokens_with_reuse": last["cached_tokens_with_reuse"],
            "ttft_with_reuse_s": spread([r["ttft_with_reuse_s"] for r in rounds], 3),
            "ttft_without_reuse_s": spread([r["ttft_without_reuse_s"] for r in rounds], 3),
            "speedup": spread([r["speedup"] for r in rounds], 1), "rounds": rounds}


def ttft(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Last-turn TTFT with and without prefix reuse, paired within each round."""
    out: dict[str, Any] = {}
    reuse = raw.get("ragkit_conversation_reuse", [])
    fresh = raw.get("ragkit_conversation_no_reuse", [])
    mine = [_ttft_round(a["turns"], b["turns"]) for a, b in zip(reuse, fresh, strict=False)
            if _ok(a) and _ok(b)]
    if mine:
        out["ragkit"] = _ttft_summary(mine)
    llama = [_ttft_round(r["conversation_reuse"], r["conversation_no_reuse"])
             for r in raw.get("llama_cpp", []) if _ok(r) and "conversation_reuse" in r]
    if llama:
        out["llama_cpp"] = _ttft_summary(llama)
    return out


def _row(name: str, runs: list[dict[str, Any]], rates: dict[str, list[float | None]],
         best: str | None) -> dict[str, Any]:
    good = [r for r in runs if _ok(r)]
    by_prompt = {p: spread(v) for p, v in rates.items()}
    first = good[0]["decode"]
    return {"engine": name, "label": LABELS.get(name, name), "group": _group(name, best),
            "decode_tok_s": {p: s["median"] for p, s in by_prompt.items()},
            "decode_tok_s_min": {p: s["min"] for p, s in by_prompt.items()},
            "decode_tok_s_max": {p: s["max"] for p, s in by_prompt.items()},
            "decode_runs": {p: [None if x is None else round(x, 2) for x in v]
                            for p, v in rates.items()},
            "completion_tokens": {p: [r["decode"][p][0]["completion_tokens"] for r in good]
                                  for p in rates},
            "draft": {p: first[p][0]["draft"] for p in rates if first[p][0].get("draft")},
            "load_s": round(statistics.median(r["load_s"] for r in good), 1),
            "rss_after_load_mb": round(statistics.median(r["rss_after_load_mb"] for r in good)),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in good))}


def summarize(raw: dict[str, list[dict[str, Any]]], missing: dict[str, str],
              work: dict[str, Any], machine: dict[str, Any], args: dict[str, Any], rounds: int,
              plan: list[str]) -> dict[str, Any]:
    prompts = list(work["decode"])
    rates = decode_rates(raw, prompts)
    best = fastest_ragkit(rates)
    rows = [_row(n, raw[n], rates[n], best) for n in row_order(list(rates), best)]
    comps = comparisons(rates, best, prompts)
    errors = dict(missing)
    for name, runs in raw.items():
        failed = [r for r in runs if "error" in r and not r.get("skipped")]
        if failed:
            errors[name] = failed[0]["error"]
    return {
        "benchmark": "generation", "model": args["model"], "quick": args["quick"],
        "note": args["note"],
        "method": "interleaved rounds: every round runs each configuration once, in the order "
                  "of settings.plan, each in its own subprocess; per-prompt figures are the "
                  "median (min, max) over rounds; ratios are taken within a round, then the "
                  "median",
        "machine": {**machine, "load_avg_at_end": os.getloadavg()},
        "settings": {"greedy": True, "batch": 1, "threads": args["threads"],
                     "decode_tokens": work["decode_tokens"], "rounds": rounds,
                     "runs_per_round": 1, "plan": plan,
                     "conversation_turns": len(work["turns"]),
                     "ttft_quantization": args["ttft_quantization"],
                     "llama_lookup_tokens": args["llama_lookup_tokens"]},
        "headline": {"like_for_like": next((c for c in comps if c["name"] == "like_for_like"),
                                           None),
                     "ragkit_best": best},
        "decode": rows, "comparisons": comps, "ttft_last_turn": ttft(raw), "targets": TARGETS,
        "errors": errors, "raw": raw,
    }


def _cell(row: dict[str, Any], p: str) -> str:
    med, lo, hi = row["decode_tok_s"][p], row["decode_tok_s_min"][p], row["decode_tok_s_max"][p]
    if med is None:
        return "-"
    return f"{med:.2f}" if lo == hi else f"{med:.2f} ({lo:.1f}-{hi:.1f})"


def print_table(report: dict[str, Any]) -> None:
    m, s = report["machine"], report["settings"]
    print(f"\n{report['model']} | {m['cpu']} | {m['threads']} threads | {m['date']} | "
          f"median (min-max) of {s['rounds']} interleaved round(s)")
    prompts = list(report["decode"][0]["decode_tok_s"]) if report["decode"] else []
    names = [f"{row['label']} [{row['engine']}]" for row in report["decode"]]
    width = max([len(n) for n in names] + [len("engine")]) + 1
    print(f"{'engine':<{width}}" + "".join(f"{p + ' tok/s':>22}" for p in prompts)
          + f"{'load s':>9}{'RSS MB':>9}{'peak RSS MB':>13}")
    group = None
    for name, row in zip(names, report["decode"], strict=True):
        if row["group"] != group:
            group = row["group"]
            print(f"-- {GROUPS[group]}")
        print(f"{name:<{width}}"
              + "".join(f"{_cell(row, p):>22}" for p in prompts)
              + f"{row['load_s']:>9.1f}{row['rss_after_load_mb']:>9}{row['peak_rss_mb']:>13}")
    for c in report["comparisons"]:
        cells = ", ".join(f"{p} {r['median']}x ({r['min']}-{r['max']})"
                          for p, r in c["ratio"].items() if r["n"])
        print(f"[{c['name']}] {c['engine']} / {c['peer']}: {cells}")
    for engine, t in report["ttft_last_turn"].items():
        print(f"TTFT last turn [{engine}]: {t['ttft_with_reuse_s']['median']} s with reuse "
              f"({t['cached_tokens_with_reuse']}/{t['prompt_tokens']} cached) vs "
              f"{t['ttft_without_reuse_s']['median']} s without -> "
              f"{t['speedup']['median']}x (median of {t['speedup']['n']})")
    for name, err in report["errors"].items():
        print(f"{name}: FAILED ({err.strip().splitlines()[-1] if err.strip() else 'no output'})")
