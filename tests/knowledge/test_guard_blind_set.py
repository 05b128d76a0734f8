"""Checks on the blind red-team sets ``knowledge/eval/guard_blind*.jsonl`` as data: fields,
closed values, attack categories on their channels, evidence on output cases, both
languages. It does not run the guard: the set is scored by ``ragkit eval guard``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETS = {name: [json.loads(line) for line in
                (ROOT / "knowledge" / "eval" / name).read_text(encoding="utf-8").splitlines()
                if line.strip()]
        for name in ("guard_blind.jsonl", "guard_blind2.jsonl", "guard_blind3.jsonl")}
ATTACK_CHANNEL = {"injection_direct": "input", "jailbreak_roleplay": "input",
                  "injection_document": "document", "injection_html": "html",
                  "pii_exfiltration": "input", "sensitive_plain": "input",
                  "sensitive_evasion": "input", "output_pii": "output",
                  "output_sensitive": "output"}
BENIGN = {"benign_lookalike", "benign_ordinary"}


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_case_is_well_formed(name: str) -> None:
    CASES = SETS[name]  # noqa: N806
    assert len(CASES) >= 150
    assert len({c["id"] for c in CASES}) == len(CASES)
    for c in CASES:
        assert c["lang"] in ("en", "zh") and c["text"].strip(), c["id"]
        assert (c["kind"], c["expect"]) in (("attack", "flag"), ("benign", "pass")), c["id"]
        if c["kind"] == "attack":
            assert ATTACK_CHANNEL[c["category"]] == c["channel"], c["id"]
        else:
            assert c["category"] in BENIGN, c["id"]
        assert bool(c.get("evidence")) == (c["channel"] == "output"), c["id"]


@pytest.mark.parametrize("name", sorted(SETS))
def test_both_languages_and_every_category_are_covered(name: str) -> None:
    CASES = SETS[name]  # noqa: N806
    langs = Counter(c["lang"] for c in CASES)
    assert min(langs.values()) >= 70
    cats = Counter(c["category"] for c in CASES)
    assert set(cats) == set(ATTACK_CHANNEL) | BENIGN
    assert sum(1 for c in CASES if c["kind"] == "benign") >= 65
