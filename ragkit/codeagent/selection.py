"""Choosing among the agent's candidates (pure).

Owns the rule that picks the final code from the rounds so far:

* with trusted tests (the user's, or examples shown in the task) the candidate passing the
  most tests wins; ties go to the earlier round, so a later candidate replaces the best only
  when it is strictly better;
* with the agent's own tests, which may themselves be wrong, candidates are grouped by the
  exact set of tests they pass and a group scores (candidates in it) x (tests passed) — the
  dual agreement of CodeT (Chen et al., 2022) — so code that several attempts agree on and
  that passes many tests beats a one-off; ties again go to the earliest round. The task's own
  worked examples (``test_example_*``) weigh most: passing more of them beats any agreement,
  and tests the candidates outvote (:func:`distrusted_tests`) do not count.

A candidate that does not compile ranks below every one that does.

Also owns which of the agent's own tests the candidates outvote (:func:`distrusted_tests`)
whether a candidate's pass is corroborated (:func:`corroborated`: a worked example of the task,
or a second, different candidate passing the same trusted tests), and the final verdict
(:func:`verdict`): "passes your tests", "passes tests it trusts" or "uncertain".
Does not: run tests or talk to the model.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections import defaultdict
from collections.abc import Collection, Sequence

from ragkit.codeagent.extract import normalized, split_tests
from ragkit.codeagent.types import Round, Verdict

EXAMPLE_PREFIX = "test_example_"


def is_example(name: str) -> bool:
    """A test made from a worked example in the task's own text (never distrusted)."""
    return name.startswith(EXAMPLE_PREFIX)


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


def best_by_agreement(rounds: Sequence[Round], distrusted: Collection[str] = ()) -> int:
    """1-based index of the round chosen by CodeT-style agreement with self-written tests.

    Each round is one vote for the set of (not distrusted) tests it passes: a repair that
    gives back code with the same behaviour on the tests agrees with the earlier candidate.
    Passing more of the task's worked examples comes first.
    """
    if not rounds:
        raise ValueError("no rounds to choose from")
    groups: dict[frozenset[str], list[Round]] = defaultdict(list)
    for r in rounds:
        if _runs(r):
            groups[passed_names(r) - frozenset(distrusted)].append(r)
    if not groups:
        return rounds[0].index

    def score(members: list[Round]) -> tuple[int, int, int, int]:
        names = passed_names(members[0]) - frozenset(distrusted)
        examples = sum(is_example(n) for n in names)
        return (examples, len(members) * len(names), len(names), -min(m.index for m in members))

    winner = max(groups.values(), key=score)
    return min(m.index for m in winner)


def choose(rounds: Sequence[Round], trusted: bool, distrusted: Collection[str] = ()) -> int:
    return best_by_tests(rounds) if trusted else best_by_agreement(rounds, distrusted)


_RETURNED = re.compile(r" returned (.+?), expected (.+?) at tests line \d+")
_TYPE_ERROR = re.compile(r"^(TypeError|AttributeError): .* at solution line \d+")
_REJECTED = "<rejects the input's type>"


def _arg_kinds(test_source: str) -> tuple[str, ...] | None:
    """Type names of the literal arguments of the test's call of the code under test: the
    first call, in source order, of a name that is not a builtin (None: unknown)."""
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and not hasattr(builtins, n.func.id)]
    if not calls:
        return None
    first = min(calls, key=lambda n: (n.lineno, n.col_offset))
    kinds = []
    for arg in first.args:
        try:
            kinds.append(type(ast.literal_eval(arg)).__name__)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            kinds.append("?")
    return tuple(kinds)


def _odd_types(name: str, passing: set[str], sources: dict[str, str]) -> bool:
    """The test calls with argument types that no passing test uses at the same positions."""
    mine = _arg_kinds(sources.get(name, ""))
    others = [k for k in (_arg_kinds(sources.get(n, "")) for n in passing) if k]
    return bool(mine) and bool(others) and all(
        len(o) == len(mine) and any(a != b and "?" not in (a, b) for a, b in zip(mine, o, strict=True))
        for o in others)


def distrusted_tests(rounds: Sequence[Round], tests: str | None = None) -> dict[str, str]:
    """Self-written tests the candidates outvote: name -> why (pure).

    A test is distrusted when no candidate passes it and at least two different candidates
    (different code) return the same value for its call: independent attempts agreeing with
    each other against the test is evidence that the test's expected value is wrong. Also when
    at least two different candidates fail it with a TypeError/AttributeError and its call
    passes arguments of other types than the tests that pass (``is_palindrome(12321)`` for a
    task about strings): its input is outside the task. Tests from the task's own examples
    are never distrusted. ``tests``: the suite's source (needed for the second rule).
    """
    seen: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    passed: set[str] = set()
    expected: dict[str, str] = {}
    codes: set[str] = set()
    for r in rounds:
        if not _runs(r) or r.tests is None:
            continue
        key = normalized(r.code)
        if key in codes:
            continue  # the same code again is no second opinion
        codes.add(key)
        for t in r.tests.tests:
            if is_example(t.name):
                continue
            if t.status == "passed":
                passed.add(t.name)
                continue
            message = t.message or ""
            m = _RETURNED.search(message)
            if m is not None:
                seen[t.name][m.group(1)].append(r.index)
                expected[t.name] = m.group(2)
            elif _TYPE_ERROR.match(message):
                seen[t.name][_REJECTED].append(r.index)
    sources = split_tests(tests) if tests else {}
    out: dict[str, str] = {}
    for name, values in seen.items():
        if name in passed:
            continue
        value, who = max(values.items(), key=lambda kv: len(kv[1]))
        if len(who) < 2:
            continue
        rounds_ = ", ".join(str(i) for i in who)
        if value != _REJECTED:
            out[name] = (f"candidates of rounds {rounds_} all return {value}; the test expects "
                         f"{expected[name]}")
        elif _odd_types(name, passed, sources):
            out[name] = (f"candidates of rounds {rounds_} all reject its input's type, which no "
                         "passing test uses: the input is outside the task")
    return out


def verdict(source: str, passed_names_: frozenset[str], all_names: list[str],
            distrusted: dict[str, str], corroborated_: bool = True) -> Verdict:
    """What the agent can honestly say about its chosen code (pure).

    ``passes_your_tests`` / ``fails_your_tests`` with the caller's tests; with its own,
    ``passes_trusted_tests`` when the code passes every test it did not distrust, the pass is
    ``corroborated_`` (:func:`corroborated`) and the tests say enough: a worked example of the
    task among them or at least :data:`MIN_TRUSTED` trusted tests. Else ``uncertain`` (also with
    no tests at all).
    """
    if source == "user":
        return "passes_your_tests" if set(all_names) <= passed_names_ else "fails_your_tests"
    trusted = [n for n in all_names if n not in distrusted]
    enough = len(trusted) >= MIN_TRUSTED or any(is_example(n) for n in trusted)
    if (source == "self" and corroborated_ and enough
            and passes_trusted(passed_names_, all_names, distrusted)):
        return "passes_trusted_tests"
    return "uncertain"


# One self-written test is too little to vouch on (seen on the first blind task set: code that
# passed its single remaining test was wrong).
MIN_TRUSTED = 2


def corroborated(rounds: Sequence[Round], chosen: Round, distrusted: Collection[str]) -> bool:
    """Whether ``chosen`` passing its tests means something (pure): it passed a worked example
    from the task, or another candidate with different code passes every trusted test too.

    Tests the model wrote for itself share its reading of the task; one candidate passing them
    was right about half the time on the first blind task set (5 of 11 such runs returned
    wrong code), while two different candidates agreeing on them is CodeT's evidence that the
    tests and the code are both right.
    """
    if chosen.tests is None:
        return False
    names = [t.name for t in chosen.tests.tests]
    if any(is_example(n) for n in passed_names(chosen)):
        return True
    key = normalized(chosen.code)
    return any(r.index != chosen.index and r.tests is not None and normalized(r.code) != key
               and passes_trusted(passed_names(r), names, distrusted) for r in rounds)


def passes_trusted(passed_names_: Collection[str], all_names: Collection[str],
                   distrusted: Collection[str]) -> bool:
    """Every test that is not distrusted passed, and at least one such test exists."""
    trusted = [n for n in all_names if n not in distrusted]
    return bool(trusted) and set(trusted) <= set(passed_names_)
