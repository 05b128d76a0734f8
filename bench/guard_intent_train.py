"""Train the guard's intent screen (ragkit/guard/intent.py) and measure it across sets.

Data (all committed, all tuning data, never the newest blind set): the input cases of
``bench/data/guard_tuning.jsonl`` and of the first two blind red-team sets (both seen in
aggregate, so no longer blind), whose attack categories are the ones a user types to steer the
assistant or reach other people's data (injection_direct, jailbreak_roleplay, pii_exfiltration)
and whose benign cases are look-alikes; plus every user turn of ``knowledge/eval/dialogues.jsonl``
every question of the retrieval and unanswerable sets and the programming tasks of the code
agent's tuning sets (``bench/data/code_tuning.jsonl`` and the first blind task set, seen in
aggregate) as ordinary messages. Word-list
categories (sensitive terms) stay with the word lists.

First the like-for-like check of what the screen adds: for each red-team set in turn, a model
trained on the others (and half the ordinary messages) scores the held-out set; reported are the
rules alone and rules-or-screen at several thresholds (attacks caught, benign stopped, ordinary
messages stopped). Then the model is fit on everything and written to
``ragkit/data/guard/intent.npz``.

    python bench/guard_intent_train.py --out bench/results/guard_intent_train.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from ragkit import sdk
from ragkit.config import DEFAULT_EMBEDDER
from ragkit.guard.guard import Guard
from ragkit.guard.intent import IntentWeights, default_weights_path, save_weights

ROOT = Path(__file__).resolve().parents[1]
SETS = {"tuning": "bench/data/guard_tuning.jsonl", "blind1": "knowledge/eval/guard_blind.jsonl",
        "blind2": "knowledge/eval/guard_blind2.jsonl"}
INTENT = ("injection_direct", "jailbreak_roleplay", "pii_exfiltration")
C = 16.0
THRESHOLDS = (0.7, 0.8, 0.85, 0.9)


def _rows(path: str) -> list[dict]:
    return [json.loads(line) for line in (ROOT / path).read_text(encoding="utf-8").splitlines()
            if line.strip()]


def red_team() -> list[tuple[str, str, int, str]]:
    """(set, text, 1 for an attack, category) for the input cases the screen is for."""
    out = []
    for name, path in SETS.items():
        for r in _rows(path):
            if r["channel"] != "input" or (r["kind"] == "attack" and r["category"] not in INTENT):
                continue
            out.append((name, r["text"], int(r["kind"] == "attack"), r["category"]))
    return out


def ordinary() -> list[str]:
    texts = [t["user"] for d in _rows("knowledge/eval/dialogues.jsonl") for t in d["turns"]]
    texts += [q["question"] for q in _rows("knowledge/eval/retrieval.jsonl")]
    texts += [q["question"] for q in _rows("knowledge/eval/unanswerable.jsonl")]
    # programming requests read like orders to the assistant: the tuning task sets say otherwise
    texts += [t["task"] for t in _rows("bench/data/code_tuning.jsonl")]
    texts += [t["task"] for t in _rows("knowledge/eval/code_blind.jsonl")]
    return texts


def fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit(x, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/guard_intent_train.json")
    ap.add_argument("--weights", type=Path, default=default_weights_path())
    args = ap.parse_args()
    cases, plain = red_team(), ordinary()
    t0 = time.perf_counter()
    embed = sdk.load_embedder(DEFAULT_EMBEDDER).embed_queries
    x, xo = embed([c[1] for c in cases]), embed(plain)
    embed_s = time.perf_counter() - t0
    src = np.array([c[0] for c in cases])
    y = np.array([c[2] for c in cases])
    guard = Guard().load()
    rules = np.array([guard.check_input(c[1]).stops for c in cases])
    rules_plain = np.array([guard.check_input(t).stops for t in plain])
    order = np.random.default_rng(0).permutation(len(plain))
    train_plain, test_plain = order[: len(plain) // 2], order[len(plain) // 2:]
    held_out = {}
    for name in SETS:
        tr, te = src != name, src == name
        model = fit(np.vstack([x[tr], xo[train_plain]]),
                    np.concatenate([y[tr], np.zeros(len(train_plain))]))
        p, po = model.predict_proba(x[te])[:, 1], model.predict_proba(xo[test_plain])[:, 1]
        att, ben, r = y[te] == 1, y[te] == 0, rules[te]
        row = {"attacks": int(att.sum()), "benign": int(ben.sum()),
               "ordinary": len(test_plain),
               "rules": {"caught": round(float(r[att].mean()), 3),
                         "benign_stopped": round(float(r[ben].mean()), 3),
                         "ordinary_stopped": round(float(rules_plain[test_plain].mean()), 3)}}
        for th in THRESHOLDS:
            u, uo = (p >= th) | r, (po >= th) | rules_plain[test_plain]
            row[f"rules_or_screen_{th}"] = {
                "caught": round(float(u[att].mean()), 3),
                "benign_stopped": round(float(u[ben].mean()), 3),
                "ordinary_stopped": round(float(uo.mean()), 3)}
        held_out[name] = row
        print(name, json.dumps(row))
    model = fit(np.vstack([x, xo]), np.concatenate([y, np.zeros(len(plain))]))
    save_weights(IntentWeights(DEFAULT_EMBEDDER, model.coef_[0], float(model.intercept_[0])),
                 args.weights)
    record = {"benchmark": "guard_intent_train", "embedder": DEFAULT_EMBEDDER, "C": C,
              "categories": list(INTENT), "sets": SETS,
              "cases": {"red_team_inputs": len(cases), "attacks": int(y.sum()),
                        "ordinary_messages": len(plain)},
              "embed_s": round(embed_s, 1), "held_out": held_out,
              "weights": str(args.weights.relative_to(ROOT)) if args.weights.is_relative_to(ROOT)
              else str(args.weights)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print("weights ->", args.weights)


if __name__ == "__main__":
    main()
