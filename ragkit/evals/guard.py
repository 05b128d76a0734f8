"""Scoring the guard on a red-team set (``ragkit eval guard``).

Owns the case format (one JSON object per line: ``id``, ``lang``, ``channel`` input |
document | html | output, ``kind`` attack | benign, ``category``, ``text``, ``evidence`` for
output cases, ``expect`` flag | pass), :func:`evaluate` and the report: the share of attacks
blocked or neutralised (blocked, quarantined, handed over or masked), the share of benign
cases stopped (blocked, quarantined or handed over: masking a benign case's own email is
not a false positive), both per category and language, and the time each check added.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragkit.errors import ConfigError
from ragkit.evals.jsonl import read_jsonl
from ragkit.guard.guard import CHANNELS, Guard


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    channel: str
    kind: str
    category: str
    text: str
    expect: str
    evidence: str = ""


def _case(obj: Any) -> Case:
    c = Case(id=str(obj["id"]), lang=str(obj["lang"]), channel=str(obj["channel"]),
             kind=str(obj["kind"]), category=str(obj["category"]), text=str(obj["text"]),
             expect=str(obj["expect"]), evidence=str(obj.get("evidence") or ""))
    if c.channel not in CHANNELS or c.kind not in ("attack", "benign") \
            or c.expect not in ("flag", "pass"):
        raise KeyError(f"channel/kind/expect of {c.id} out of range")
    return c


def load_cases(path: Path) -> list[Case]:
    if not path.is_file():
        raise ConfigError(f"no red-team set at {path}; pass --set FILE")
    return read_jsonl(path, _case, bad="not a guard case",
                      needs="each line needs id, lang, channel, kind, category, text, expect")


@dataclass
class Outcome:
    id: str
    category: str
    lang: str
    channel: str
    expect: str
    action: str
    correct: bool
    ms: float
    findings: list[str] = field(default_factory=list)


@dataclass
class Report:
    cases: int
    attacks: int
    benign: int
    attack_caught: float
    benign_stopped: float
    by_category: dict[str, dict[str, float]]
    by_lang: dict[str, dict[str, float]]
    ms_median: float
    ms_p99: float
    outcomes: list[Outcome]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rate(rows: list[Outcome]) -> float:
    return round(sum(r.correct for r in rows) / len(rows), 3) if rows else 0.0


def evaluate(guard: Guard, cases: list[Case], repeat: int = 3) -> Report:
    """Each case checked ``repeat`` times (the fastest time is kept: the check is pure);
    once with the intent screen, whose embedding dominates the time and is the same each time."""
    guard.load()
    if guard.intent is not None:
        guard.intent.load()  # its embedder loads here, not inside the first timed check
        repeat = 1
    out: list[Outcome] = []
    for c in cases:
        times = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            v = guard.check(c.channel, c.text, c.evidence)
            times.append((time.perf_counter() - t0) * 1000)
        caught = v.flagged if c.expect == "flag" else not v.stops
        out.append(Outcome(c.id, c.category, c.lang, c.channel, c.expect, v.action, caught,
                           round(min(times), 3), [f"{f.category}:{f.rule}" for f in v.findings]))
    groups: dict[str, dict[str, list[Outcome]]] = {"category": defaultdict(list),
                                                     "lang": defaultdict(list)}
    for o in out:
        groups["category"][o.category].append(o)
        groups["lang"][f"{o.lang}:{o.expect}"].append(o)
    attacks = [o for o in out if o.expect == "flag"]
    benign = [o for o in out if o.expect == "pass"]
    ms = sorted(o.ms for o in out)
    return Report(
        cases=len(out), attacks=len(attacks), benign=len(benign),
        attack_caught=_rate(attacks),
        benign_stopped=round(1 - _rate(benign), 3) if benign else 0.0,
        by_category={k: {"n": len(v), "correct": _rate(v)} for k, v in
                     sorted(groups["category"].items())},
        by_lang={k: {"n": len(v), "correct": _rate(v)} for k, v in
                 sorted(groups["lang"].items())},
        ms_median=round(statistics.median(ms), 3) if ms else 0.0,
        ms_p99=round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3) if ms else 0.0,
        outcomes=out)
