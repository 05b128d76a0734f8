"""Choosing among the agent's candidates (pure).

Owns the rule that picks the final code from the rounds so far:

* with trusted tests (the user's, or examples shown in the task) the candidate passing the
  most tests wins; ties go to the earlier round, so a later candidate replaces the best only
  when it is strictly better;
* with the agent's own tests, which may themselves be wrong, candidates are grouped by the
  exact set of tests they pass and a group scores (candidates in it) x (tests passed) — the
  dual agreement of CodeT (Chen et al., 2022) — so code that several attempts agree on and
  that passes many tests beats a one-off; ties again go to the earliest round.

A candidate that does not compile ranks below every one that does.

Also owns which of the agent's own tests the candidates outvote (:func:`distrusted_tests`)
and the final verdict (:func:`verdict`): "passes your tests", "passes tests it trusts" or
"uncertain".
Does not: run tests or talk to the model.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from ragkit.codeagent.extract import normalized
from ragkit.codeagent.types import Round, Verdict


def passed_names(r: Round) -> frozenset[str]:
    if r.syntax_error is not None or r.tests is None:
        return frozenset()
    return frozenset(t.name for t in r.tests.tests if t.status == "passed")


def _runs(r: Round) -> bool:
    return r.syntax_error is None and (r.tests is None or r.tests.status != "error")


def best_by_tests(rounds: Sequence[Round]) -> int:
    """1-based index of the round passing most tests; earliest on ties."""
    if not rounds:
        raise ValueError("no rounds to choose from")
    key = [((r.passed if _runs(r) else -1), -r.index) for r in rounds]
    return rounds[max(range(len(rounds)), key=lambda i: key[i])].index


def best_by_agreement(rounds: Sequence[Round]) -> int:
    """1-based index of the round chosen by CodeT-style agreement with self-written tests.

    Each round is one vote for the set of tests it passes: a repair that gives back code with
    the same behaviour on the tests agrees with the earlier candidate.
    """
    if not rounds:
        raise ValueError("no rounds to choose from")
    groups: dict[frozenset[str], list[Round]] = defaultdict(list)
    for r in rounds:
        if _runs(r):
            groups[passed_names(r)].append(r)
    if not groups:
        return rounds[0].index

    def score(members: list[Round]) -> tuple[int, int, int]:
        passed = len(passed_names(members[0]))
        return (len(members) * passed, passed, -min(m.index for m in members))

    winner = max(groups.values(), key=score)
    return min(m.index for m in winner)


def choose(rounds: Sequence[Round], trusted: bool) -> int:
    return best_by_tests(rounds) if trusted else best_by_agreement(rounds)


_RETURNED = re.compile(r" returned (.+?), expected (.+?) at tests line \d+")


def distrusted_tests(rounds: Sequence[Round]) -> dict[str, str]:
    """Self-written tests the candidates outvote: name -> why (pure).

    A test is distrusted when no candidate passes it and at least two different candidates
    (different code) return the same value for its call: independent attempts agreeing with
    each other against the test is evidence that the test's expected value is wrong.
    """
    seen: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    passed: set[str] = set()
    expected: dict[str, str] = {}
    codes: dict[int, str] = {}
    for r in rounds:
        if not _runs(r) or r.tests is None:
            continue
        key = normalized(r.code)
        if key in codes.values():
            continue  # the same code again is no second opinion
        codes[r.index] = key
        for t in r.tests.tests:
            if t.status == "passed":
                passed.add(t.name)
                continue
            m = _RETURNED.search(t.message or "")
            if m is not None:
                seen[t.name][m.group(1)].append(r.index)
                expected[t.name] = m.group(2)
    out: dict[str, str] = {}
    for name, values in seen.items():
        if name in passed:
            continue
        value, who = max(values.items(), key=lambda kv: len(kv[1]))
        if len(who) >= 2:
            rounds_ = ", ".join(str(i) for i in who)
            out[name] = (f"candidates of rounds {rounds_} all return {value}; the test expects "
                         f"{expected[name]}")
    return out


def verdict(source: str, passed_names_: frozenset[str], all_names: list[str],
            distrusted: dict[str, str]) -> Verdict:
    """What the agent can honestly say about its chosen code (pure).

    ``passes_your_tests`` / ``fails_your_tests`` with the caller's tests; with its own,
    ``passes_trusted_tests`` when the code passes every test it did not distrust and at least
    one remains, else ``uncertain`` (also with no tests at all).
    """
    if source == "user":
        return "passes_your_tests" if set(all_names) <= passed_names_ else "fails_your_tests"
    trusted = [n for n in all_names if n not in distrusted]
    if source == "self" and trusted and set(trusted) <= passed_names_:
        return "passes_trusted_tests"
    return "uncertain"
