"""Merge the JSON files of several ``ragkit eval humaneval --out`` runs into one per mode.

Owns: joining per-problem records of runs over disjoint slices (for example the four
``--stride 4`` offsets run as parallel one-thread processes) into one report per mode, in
HumanEval order, with pass@1 over the union and each run's slice, note and load kept under
``parts``. Refuses overlapping slices and mixed models or settings, since then pass@1 would
not describe one configuration. Does not run anything.

Run::

    python bench/humaneval_merge.py --mode feedback --out bench/results/humaneval_qwen0.5b_feedback.json \\
        runs/off0_feedback.json runs/off1_feedback.json ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ALL_PROBLEMS = 164
SAME = ("quantization", "rounds", "decoding", "threads")


def _index(task_id: str) -> int:
    return int(task_id.split("/")[1])


def merge(parts: list[tuple[str, dict[str, Any]]], mode: str, note: str) -> dict[str, Any]:
    seen: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    first = parts[0][1]
    for name, data in parts:
        if data.get("mode") != mode:
            raise SystemExit(f"{name} holds mode {data.get('mode')!r}, not {mode!r}")
        if data["model"] != first["model"] or any(
                data["settings"].get(k) != first["settings"].get(k) for k in SAME):
            raise SystemExit(f"{name} ran another model or other settings than {parts[0][0]}")
        for row in data["per_problem"]:
            if row["task_id"] in seen:
                raise SystemExit(f"{row['task_id']} is in both {seen[row['task_id']]} and {name}")
            seen[row["task_id"]] = name
            rows.append({**row, "part": name})
    rows.sort(key=lambda r: _index(r["task_id"]))
    passed = sum(bool(r["passed"]) for r in rows)
    return {
        "note": note,
        "benchmark": "humaneval",
        "model": first["model"],
        "settings": {k: first["settings"].get(k) for k in SAME},
        "mode": mode,
        "complete": len(rows) == ALL_PROBLEMS,
        "problems": len(rows),
        "passed": passed,
        "pass@1": round(passed / len(rows), 4) if rows else 0.0,
        "agent_seconds": round(sum(r["seconds"] for r in rows), 1),
        "parts": [{"file": name, "problems": len(d["per_problem"]), "slice": d.get("slice"),
                   "complete": d.get("complete"), "note": d.get("note", ""),
                   "machine": d.get("machine")} for name, d in parts],
        "per_problem": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--mode", required=True, choices=("single", "plan", "feedback"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    parts = [(f.name if f.parent.name in ("", ".") else f"{f.parent.name}/{f.name}",
              json.loads(f.read_text("utf-8"))) for f in args.files]
    merged = merge(parts, args.mode, args.note)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, ensure_ascii=False, indent=2), "utf-8")
    tmp.replace(args.out)
    print(f"{args.mode}: pass@1 {merged['pass@1']:.3f} ({merged['passed']}/{merged['problems']})"
          f"{'' if merged['complete'] else ' (not all 164 problems)'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
