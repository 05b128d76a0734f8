"""The guard: what happens to a user's message, a document chunk, an HTML page or a model's
sentence that the word lists, the injection rules or the PII detectors flag.

Owns :class:`GuardConfig` (typed, parsed once), :class:`Verdict` (an action, the text to use
instead, and the findings with redacted excerpts for the audit trail) and :class:`Guard`,
whose four checks are pure given the loaded lists:

- ``check_input``: an injection attempt or a ``block`` term blocks; ``handoff`` hands over;
  ``mask`` terms are starred out; ``warn`` is recorded. Personal data is redacted in
  ``Verdict.redacted`` (what logs and stored records get), never an action by itself: a
  customer may give their own email.
- ``check_chunk``: a chunk that gives the assistant instructions is quarantined (kept out of
  prompts unless the user allows it); word-list terms in documents are only recorded.
- ``check_html``: instructions in text the reader never sees quarantine the page.
- ``check_output``: personal data the evidence does not contain is masked (it can only have
  come from elsewhere); list terms take their category's action.

Does not store anything (:mod:`ragkit.guard.audit`) or sit in a graph (callers do).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragkit import pii
from ragkit.errors import ConfigError
from ragkit.guard import injection, lists
from ragkit.guard.intent import IntentScreen

log = logging.getLogger(__name__)
Channel = Literal["input", "document", "html", "output"]
Outcome = Literal["pass", "warn", "mask", "quarantine", "handoff", "block"]
SEVERITY: dict[str, int] = {"pass": 0, "warn": 1, "mask": 2, "quarantine": 3, "handoff": 4,
                            "block": 5}
DEFAULT_LISTS = "guard/words.yaml"
MAX_CHECK_CHARS = 1_000_000  # longer text is refused by the caller's own limits first


class GuardConfig(BaseModel):
    """Guardrail settings; one per application, a knowledge base may bring its own lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="run the guard at all")
    word_lists: Path | None = Field(None, description="YAML word list file; None: the "
                                    "knowledge base's guard/words.yaml if it has one, else "
                                    "ragkit's default lists")
    injection: bool = Field(True, description="detect prompt injection in messages and "
                            "documents")
    quarantine_chunks: bool = Field(True, description="keep chunks that give the assistant "
                                    "instructions out of prompts")
    allow_quarantined: bool = Field(False, description="use quarantined chunks anyway")
    intent_model: bool = Field(True, description="also screen user messages with the learned "
                               "intent model (ragkit/guard/intent.py): attempts to steer the "
                               "assistant or reach other people's data the rules do not word")
    intent_threshold: float = Field(0.85, gt=0.0, le=1.0, description="the intent model's "
                                    "probability from which a message is blocked")
    output_pii: bool = Field(True, description="mask personal data in answers that the "
                             "evidence does not contain")
    audit: bool = Field(True, description="record blocks, masks and quarantines")
    audit_retention_days: int = Field(90, ge=1, le=3650, description="audit records older "
                                      "than this are deleted")


def default_lists_path() -> Path:
    return Path(str(files("ragkit.data") / DEFAULT_LISTS))


@dataclass(frozen=True)
class Finding:
    category: str  # a list category, an injection rule's family, or "pii"
    rule: str  # the term, pattern or injection rule that matched
    action: Outcome
    excerpt: str  # redacted, at most 160 characters


CHANNELS: tuple[Channel, ...] = ("input", "document", "html", "output")


@dataclass(frozen=True)
class Verdict:
    channel: Channel
    action: Outcome
    text: str  # what to use: the original, or with masked spans starred out
    findings: tuple[Finding, ...] = ()

    @cached_property
    def redaction(self) -> tuple[str, dict[str, str]]:
        """``text`` with personal data replaced by placeholders, and placeholder -> value
        (what logs, records and the model get); computed when first asked for."""
        return pii.redact(self.text)

    @property
    def redacted(self) -> str:
        return self.redaction[0]

    @property
    def flagged(self) -> bool:
        """Blocked, masked, quarantined or handed over (a warning changes nothing)."""
        return SEVERITY[self.action] >= SEVERITY["mask"]

    @property
    def stops(self) -> bool:
        """Whether the text must not reach the model (or the user) at all."""
        return self.action in ("block", "handoff", "quarantine")


def _excerpt(text: str, span: tuple[int, int], width: int = 40) -> str:
    a, b = max(0, span[0] - width), min(len(text), span[1] + width)
    return pii.redact(text[a:b])[0][:160]


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(a, b):
            if not chars[i].isspace():
                chars[i] = "*"
    return "".join(chars)


def _worst(findings: list[Finding]) -> Outcome:
    return max((f.action for f in findings), key=SEVERITY.__getitem__, default="pass")


@dataclass
class Guard:
    """The checks over the lists in force: ``config.word_lists`` when set, else the knowledge
    base's own file (``kb_lists``) once it exists, else ragkit's defaults. An edited file is
    read again on the next check (``ragkit guard add`` while the UI runs); an edit that
    breaks it keeps the last good lists and logs why."""

    config: GuardConfig = field(default_factory=GuardConfig)
    kb_lists: Path | None = None
    intent: IntentScreen | None = None  # the learned screen on user messages (None: rules only)
    _cache: tuple[Path, int, lists.Matcher] | None = field(default=None, init=False,
                                                            repr=False)

    def lists_path(self) -> Path:
        if self.config.word_lists is not None:
            return self.config.word_lists
        if self.kb_lists is not None and self.kb_lists.is_file():
            return self.kb_lists
        return default_lists_path()

    @property
    def matcher(self) -> lists.Matcher:
        path = self.lists_path()
        try:
            stamp = path.stat().st_mtime_ns
        except OSError as e:
            raise ConfigError(f"cannot read word list {path}: {e.strerror}") from None
        cached = self._cache
        if cached is None or cached[0] != path or cached[1] != stamp:
            try:
                self._cache = (path, stamp, lists.Matcher(lists.load(path)))
            except ConfigError as e:
                if cached is None:
                    raise
                log.error("%s; keeping the lists read before", e)
                self._cache = (path, stamp, cached[2])
        assert self._cache is not None
        return self._cache[2]

    @property
    def word_lists(self) -> lists.WordLists:
        return self.matcher.lists

    def load(self) -> Guard:
        """Read and compile the lists now (a bad list fails here, not mid-conversation)."""
        _ = self.matcher
        return self

    def check(self, channel: Channel, text: str, evidence: str = "") -> Verdict:
        """The check for ``channel``: a user's message, a document chunk, an HTML page, or a
        model's sentence (with the ``evidence`` it was written from)."""
        if channel == "output":
            return self.check_output(text, evidence)
        if channel not in CHANNELS:
            raise ConfigError(f"channel must be one of {', '.join(CHANNELS)} (got {channel!r})")
        return {"input": self.check_input, "document": self.check_chunk,
                "html": self.check_html}[channel](text)

    def _words(self, text: str) -> tuple[list[Finding], list[tuple[int, int]]]:
        found, spans = [], []
        for h in self.matcher.scan(text):
            found.append(Finding(h.category, h.term, h.action, _excerpt(text, h.span)))
            if h.action == "mask":
                spans.append(h.span)
        return found, spans

    def _injection(self, text: str, action: Outcome,
                   rules: tuple[str, ...] | None = None) -> list[Finding]:
        if not self.config.injection:
            return []
        return [Finding(f"injection:{d.rule}", d.rule, action, pii.redact(d.excerpt)[0])
                for d in injection.detect(text, rules)]

    def _check_length(self, text: str) -> None:
        if len(text) > MAX_CHECK_CHARS:
            raise ConfigError(f"text of {len(text):,} characters is over the guard's limit of "
                              f"{MAX_CHECK_CHARS:,}; split it")

    def check_input(self, text: str) -> Verdict:
        """A message typed by a user."""
        if not self.config.enabled:
            return Verdict("input", "pass", text)
        self._check_length(text)
        found, spans = self._words(text)
        found += self._injection(text, "block")
        found += self._intent(text, found)
        action = _worst(found)
        out = _masked(text, spans) if action == "mask" else text
        return Verdict("input", action, out, tuple(found))

    def _intent(self, text: str, found: list[Finding]) -> list[Finding]:
        """The learned screen's finding, asked only when the rules have not stopped the
        message already."""
        if (self.intent is None or not self.config.intent_model or not self.config.injection
                or any(SEVERITY[f.action] >= SEVERITY["handoff"] for f in found)):
            return []
        p = self.intent.score(text)
        if p < self.config.intent_threshold:
            return []
        return [Finding("injection:intent_model", f"intent model {p:.2f}", "block",
                        _excerpt(text, (0, 0), width=160))]

    def check_chunk(self, text: str) -> Verdict:
        """A chunk of an indexed document: instructions to the assistant quarantine it;
        list terms are recorded (a policy may quote what it forbids)."""
        if not self.config.enabled:
            return Verdict("document", "pass", text)
        self._check_length(text)
        found = [Finding(f.category, f.rule, "warn", f.excerpt) for f in self._words(text)[0]]
        found += self._injection(text, "quarantine" if self.config.quarantine_chunks else "warn",
                                 injection.DOCUMENT_RULES)
        return Verdict("document", _worst(found), text, tuple(found))

    def check_html(self, html: str) -> Verdict:
        """A page before conversion: instructions hidden from its reader quarantine it, and
        so do instructions in what the reader sees (:meth:`check_chunk` on the text)."""
        if not self.config.enabled:
            return Verdict("html", "pass", html)
        self._check_length(html)
        found: list[Finding] = []
        for hidden in injection.hidden_texts(html):
            found += [Finding(f.category, f.rule, f.action, f"(hidden) {f.excerpt}")
                      for f in self._injection(hidden, "quarantine", injection.DOCUMENT_RULES)]
        from bs4 import BeautifulSoup

        visible = BeautifulSoup(html, "html.parser").get_text(" ", strip=True)
        found += list(self.check_chunk(visible).findings)
        return Verdict("html", _worst(found), html, tuple(found))

    def check_output(self, text: str, evidence: str = "") -> Verdict:
        """A sentence the model wrote, before the user sees it."""
        if not self.config.enabled:
            return Verdict("output", "pass", text)
        self._check_length(text)
        found, spans = self._words(text)
        if self.config.output_pii:
            for value, span in _pii_spans(text):
                if not _in_evidence(value, evidence):
                    found.append(Finding("pii", "personal data not in the evidence", "mask",
                                         pii.redact(value)[0]))
                    spans.append(span)
        action = _worst(found)
        out = _masked(text, spans) if action == "mask" else text
        return Verdict("output", action, out, tuple(found))


def _pii_spans(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Each personal value :func:`ragkit.pii.redact` finds, with its span in ``text``."""
    out = []
    for value in pii.redact(text)[1].values():
        at = text.find(value)
        while at >= 0:
            out.append((value, (at, at + len(value))))
            at = text.find(value, at + len(value))
    return out


# whose a value in the evidence is: a person's ("recipient Li Na, phone ...") or the business's
_BUSINESS = re.compile(r"customer (?:service|care|support|services|hotline|centre|center)|"
                       r"客户服务|客户热线|客户中心", re.IGNORECASE)
_PERSON = re.compile(r"\b(?:customers?|recipients?|buyers?|consignees?|purchasers?|"
                     r"account holders?|cardholders?|card holders?|members?|users?|"
                     r"name|his|her|mr|mrs|ms|miss|placed by|ordered by|ship(?:ped)? to)\b|"
                     r"收货人|收件人|客户|顾客|用户|买家|会员|姓名|先生|女士|持卡人|下单人",
                     re.IGNORECASE)
CUE_CHARS = 48  # how far before a value its owner is looked for, within its line


def _in_evidence(value: str, evidence: str) -> bool:
    """The evidence holds ``value`` as the business's own published detail: a value that the
    evidence gives as a person's (a recipient's phone in an order record) is another
    customer's data, even though a source holds it."""
    if not evidence:
        return False
    at = _find(value, evidence)
    while at >= 0:
        line_start = evidence.rfind("\n", 0, at) + 1
        before = _BUSINESS.sub(" ", evidence[max(line_start, at - CUE_CHARS):at])
        if not _PERSON.search(before):
            return True
        at = _find(value, evidence, at + 1)
    return False


def _find(value: str, evidence: str, start: int = 0) -> int:
    """Where ``value`` is in ``evidence`` from ``start``: as written, ignoring case, or (a
    phone or card number written with other separators) by its digits; -1 if nowhere."""
    at = evidence.find(value, start)
    if at >= 0:
        return at
    at = evidence.lower().find(value.lower(), start)
    if at >= 0:
        return at
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) < 6:
        return -1
    pos = [i for i, ch in enumerate(evidence) if ch.isdigit() and i >= start]
    joined = "".join(evidence[i] for i in pos)
    k = joined.find(digits)
    return pos[k] if k >= 0 else -1
