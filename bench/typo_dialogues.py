"""A typo-perturbed copy of the labelled dialogues (knowledge/eval/dialogues.jsonl), English
turns only: each user turn gets one or two one-edit typos in words of five letters or more
(seeded; ids, emails and numbers untouched). This set was derived from the tuning splits and
WAS tuned on (issue 16): it measures robustness to typing, it is not evidence of quality on
unseen phrasing (the blind split is).

    python bench/typo_dialogues.py --out /tmp/dialogues_typos.jsonl
    ragkit eval dst --kb KB --set /tmp/dialogues_typos.jsonl --split test --lang en \\
        --out bench/results/dst_eval_typos_test.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragkit.support.intent_model import _typo  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default=str(ROOT / "knowledge/eval/dialogues.jsonl"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    changed = 0
    with open(args.out, "w", encoding="utf-8") as out, \
            open(args.set, encoding="utf-8") as src:
        for line in src:
            d = json.loads(line)
            if d["lang"] == "en":
                for t in d["turns"]:
                    u = t["user"]
                    for _ in range(rng.choice((1, 1, 2))):
                        u = _typo(u, rng)
                    changed += u != t["user"]
                    t["user"] = u
            out.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"{changed} turns changed -> {args.out}")


if __name__ == "__main__":
    main()
