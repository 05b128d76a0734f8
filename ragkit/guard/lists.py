"""Moderation word lists: reading, checking, editing, and matching in one pass.

Owns: :class:`Category` and :class:`WordLists` (typed, validated once when read: a closed
set of actions, no empty terms, patterns refused when they could backtrack
catastrophically), reading and writing the YAML file (atomically), and :class:`Matcher`,
which compiles every term into Aho–Corasick automata (pyahocorasick) over the views of
:mod:`ragkit.guard.normalize`, so a message is scanned in time linear in its length
whatever the number of terms.

Does not decide what happens to a message (:mod:`ragkit.guard.guard`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ragkit.errors import ConfigError
from ragkit.guard import normalize as nz

Action = Literal["block", "mask", "warn", "handoff"]
ACTIONS: tuple[Action, ...] = ("block", "mask", "warn", "handoff")
MAX_TERM_CHARS = 200
MAX_PATTERN_CHARS = 500


@dataclass(frozen=True)
class Category:
    name: str
    action: Action
    terms: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class WordLists:
    categories: tuple[Category, ...] = ()

    def by_name(self) -> dict[str, Category]:
        return {c.name: c for c in self.categories}

    def __len__(self) -> int:
        return sum(len(c.terms) + len(c.patterns) for c in self.categories)


def check_pattern(pattern: str, where: str) -> re.Pattern[str]:
    """Compile a list pattern, refusing one that could take exponential time: a repeated
    group that itself repeats something (``(a+)+``) or offers alternatives (``(a|ab)*``)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ConfigError(f"{where}: pattern longer than {MAX_PATTERN_CHARS} characters; "
                          "split it into several patterns")
    try:
        compiled = re.compile(pattern)
        from re import _parser as sre_parse  # type: ignore[attr-defined]

        tree = sre_parse.parse(pattern)
    except re.error as e:
        raise ConfigError(f"{where}: pattern {pattern!r} is not a valid regular expression "
                          f"({e})") from None
    if _risky(tree, repeated=False):
        raise ConfigError(f"{where}: pattern {pattern!r} could backtrack catastrophically "
                          "(a repeated group that repeats or alternates inside); rewrite it "
                          "without nesting quantifiers, or list the alternatives as terms")
    return compiled


def _risky(tree: Any, repeated: bool) -> bool:
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in tree:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            lo, hi, body = av
            many = hi is c.MAXREPEAT or hi > 1
            if many and repeated:
                return True
            if _risky(body, repeated or many):
                return True
        elif op is c.BRANCH:
            if repeated:
                return True
            if any(_risky(b, repeated) for b in av[1]):
                return True
        elif op is c.SUBPATTERN:
            if _risky(av[-1], repeated):
                return True
        elif op in (c.ASSERT, c.ASSERT_NOT) and _risky(av[1], repeated):
            return True
    return False


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    out = []
    for v in value:
        v = v.strip()
        if not v:
            raise ConfigError(f"{where}: an empty entry; remove it")
        if len(v) > MAX_TERM_CHARS:
            raise ConfigError(f"{where}: entry longer than {MAX_TERM_CHARS} characters")
        out.append(v)
    return tuple(dict.fromkeys(out))


def parse(data: Any, source: str = "word list") -> WordLists:
    """Validate the YAML document of a word list file."""
    if data is None:
        return WordLists()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected categories at the top level "
                          "(name: {action: ..., terms: [...]})")
    cats = []
    for name, body in data.items():
        where = f"{source}, category {name!r}"
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
            raise ConfigError(f"{where}: a category name is lower-case letters, digits, _")
        if not isinstance(body, Mapping):
            raise ConfigError(f"{where}: expected action and terms")
        unknown = set(body) - {"action", "terms", "patterns", "allow"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: action, "
                              "terms, patterns, allow")
        action = body.get("action")
        if action not in ACTIONS:
            raise ConfigError(f"{where}: action must be one of {', '.join(ACTIONS)} "
                              f"(got {action!r})")
        patterns = _strings(body.get("patterns"), f"{where}, patterns")
        for p in patterns:
            check_pattern(p, where)
        cats.append(Category(name, action, _strings(body.get("terms"), f"{where}, terms"),
                             patterns, _strings(body.get("allow"), f"{where}, allow")))
    return WordLists(tuple(cats))


def load(path: Path) -> WordLists:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read word list {path}: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"word list {path}{line} is not valid YAML: "
                          f"{getattr(e, 'problem', e)}") from None
    return parse(data, str(path))


def dump(lists: WordLists) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in lists.categories:
        body: dict[str, Any] = {"action": c.action, "terms": list(c.terms)}
        if c.patterns:
            body["patterns"] = list(c.patterns)
        if c.allow:
            body["allow"] = list(c.allow)
        out[c.name] = body
    return out


def save(lists: WordLists, path: Path) -> None:
    """Write atomically (temp file, then rename): a crash leaves the old list whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(dump(lists), f, allow_unicode=True, sort_keys=False, width=100)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def edited(lists: WordLists, category: str, *, add: Iterable[str] = (),
           remove: Iterable[str] = (), action: Action | None = None) -> WordLists:
    """A copy with terms added to / removed from ``category`` (created with ``action``)."""
    cats = lists.by_name()
    cur = cats.get(category)
    if cur is None:
        if action is None:
            raise ConfigError(f"no category {category!r}; give --action to create it "
                              f"(one of {', '.join(ACTIONS)})")
        cur = Category(category, action)
    gone = set(remove)
    missing = gone - set(cur.terms)
    if missing:
        raise ConfigError(f"category {category!r} has no term(s) {sorted(missing)}")
    terms = [t for t in cur.terms if t not in gone]
    terms += _strings(list(add), f"category {category!r}")
    new = Category(category, action or cur.action, tuple(dict.fromkeys(terms)), cur.patterns,
                   cur.allow)
    out = [new if c.name == category else c for c in lists.categories]
    if category not in cats:
        out.append(new)
    return parse(dump(WordLists(tuple(out))))


@dataclass(frozen=True)
class Hit:
    category: str
    action: Action
    term: str
    span: tuple[int, int]  # in the original text


@dataclass
class Matcher:
    """Every term of every category in two automata (word view, Han view) plus the
    patterns; :meth:`scan` reports each match with its original span."""

    lists: WordLists
    _word: Any = field(init=False, repr=False)
    _han: Any = field(init=False, repr=False)
    _patterns: list[tuple[Category, re.Pattern[str]]] = field(init=False, repr=False)
    _allow: list[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import ahocorasick

        self._word, self._han = ahocorasick.Automaton(), ahocorasick.Automaton()
        entries: dict[tuple[str, str], list[tuple[Category, str]]] = {}
        for cat in self.lists.categories:
            for term in cat.terms:
                kind, key = nz.term_key(term)
                if not key.strip():
                    continue
                keys = [key]
                if kind == "word" and " " not in key.strip():  # "idiots", "bitches"
                    keys += [f"{key[:-1]}s ", f"{key[:-1]}es "]
                for k in keys:
                    entries.setdefault((kind, k), []).append((cat, term))
                for form in nz.pinyin_forms(key if kind == "han" else ""):
                    entries.setdefault(("word", f" {form} "), []).append((cat, term))
        for (kind, key), found in entries.items():
            (self._word if kind == "word" else self._han).add_word(key, (len(key), found))
        for a in (self._word, self._han):
            if len(a):
                a.make_automaton()
        self._patterns = [(c, re.compile(p)) for c in self.lists.categories for p in c.patterns]
        self._allow = [(c.name, nz.term_key(a)[1]) for c in self.lists.categories
                       for a in c.allow]

    def _allowed_spans(self, views: list[nz.View]) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        for name, key in self._allow:
            core = key.strip()
            for v in views:
                at = v.text.find(core)
                while core and at >= 0:
                    out.setdefault(name, []).append(v.span(at, at + len(core)))
                    at = v.text.find(core, at + 1)
        return out

    def scan(self, text: str) -> list[Hit]:
        """Every match in ``text``, except those inside an ``allow`` phrase of their own
        category ("suicide" in "suicide prevention")."""
        folded = nz.fold(text)  # once for both views and the patterns
        words, han = nz.word_view(text, folded), nz.han_view(text, folded)
        allowed = self._allowed_spans([words, han]) if self._allow else {}

        def ok(cat: str, span: tuple[int, int]) -> bool:
            return not any(a <= span[0] and span[1] <= b for a, b in allowed.get(cat, ()))

        hits: list[Hit] = []
        for view, automaton in ((words, self._word), (han, self._han)):
            if not len(automaton):
                continue
            for end, (n, found) in automaton.iter(view.text):
                a, b = end - n + 1, end + 1
                if view.text[a] == " ":  # padded word key: the span is the word itself
                    a, b = a + 1, b - 1
                span = view.span(a, b)
                hits.extend(Hit(cat.name, cat.action, term, span) for cat, term in found
                            if ok(cat.name, span))
        for cat, rx in self._patterns:
            for m in rx.finditer(folded):
                if m.end() > m.start() and ok(cat.name, (m.start(), m.end())):
                    hits.append(Hit(cat.name, cat.action, rx.pattern, (m.start(), m.end())))
        return hits
