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
Does not: run tests or talk to the model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ragkit.codeagent.types import Round


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
