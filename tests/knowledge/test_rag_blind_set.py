"""Checks on the two blind question sets for grounded Q&A.

Owns: validating ``knowledge/eval/rag_blind.jsonl`` (questions on the bundled Brightcart store)
and ``bench/data/corpus_sqlite/questions.jsonl`` (questions on a second corpus, pages of the
SQLite documentation) as data: every document exists and parses, every evidence span is found
verbatim in the text ``ragkit.ingest.parse_file`` extracts, every gold fact is stated by its
document and not by the question (or the conversation before it), language tags and types are
consistent, follow-ups carry their history, unanswerable questions name a real nearby document,
and the mix of types and languages meets its minimums. These sets are never used for tuning;
see knowledge/eval/README.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from ragkit.evals.rag import has_fact, normalise, says_no
from ragkit.ingest import discover, parse_file
from tests.knowledge.test_sample_kb import lang_of

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"
SQLITE = ROOT / "bench" / "data" / "corpus_sqlite"
TYPES = {"direct", "paraphrase", "cross_lingual", "followup", "broad", "unanswerable"}
ANSWER_KEYS = {"id", "question", "lang", "type", "doc", "evidence", "facts"}


@dataclass(frozen=True)
class BlindSet:
    name: str
    path: Path
    base: Path  # labels' doc paths are relative to this folder
    docs: tuple[str, ...]
    id_prefix: str


STORE = BlindSet(
    "store",
    KNOWLEDGE / "eval" / "rag_blind.jsonl",
    KNOWLEDGE,
    tuple(
        p.relative_to(KNOWLEDGE).as_posix() for p in discover([KNOWLEDGE / "store"], ignore=(".*",))
    ),
    "b",
)
SQLITE_SET = BlindSet(
    "sqlite",
    SQLITE / "questions.jsonl",
    SQLITE,
    tuple(sorted(p.name for p in SQLITE.glob("*.html"))),
    "s",
)
SETS = (STORE, SQLITE_SET)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@cache
def rows(s: BlindSet) -> tuple[dict, ...]:
    return tuple(_jsonl(s.path))


@cache
def text(s: BlindSet, doc: str) -> str:
    return parse_file(s.base / doc, doc, 50 * 2**20).text


def _answerable(s: BlindSet) -> list[dict]:
    return [r for r in rows(s) if r["type"] != "unanswerable"]


CASES = [(s, r) for s in SETS for r in _answerable(s)]
CASE_IDS = [f"{s.name}-{r['id']}" for s, r in CASES]
UNANSWERABLE = [(s, r) for s in SETS for r in rows(s) if r["type"] == "unanswerable"]


# --- counts and shape --------------------------------------------------------------------------


def test_store_set_meets_its_minimums() -> None:
    all_rows = rows(STORE)
    ans = _answerable(STORE)
    types = Counter(r["type"] for r in all_rows)
    assert len(all_rows) >= 130 and len(ans) >= 85 and types["unanswerable"] >= 45
    assert Counter(r["lang"] for r in all_rows)["zh"] / len(all_rows) >= 0.45
    assert types["cross_lingual"] >= 20 and types["paraphrase"] >= 15
    assert types["followup"] >= 12 and types["broad"] >= 12
    for t in ("followup", "broad", "unanswerable", "direct", "paraphrase", "cross_lingual"):
        assert {r["lang"] for r in all_rows if r["type"] == t} == {"en", "zh"}, t
    assert len({r["doc"] for r in ans}) >= 30  # spread over nearly the whole store


def test_sqlite_set_meets_its_minimums() -> None:
    all_rows = rows(SQLITE_SET)
    types = Counter(r["type"] for r in all_rows)
    assert len(all_rows) >= 40 and len(_answerable(SQLITE_SET)) >= 30
    assert types["unanswerable"] >= 10 and types["paraphrase"] >= 5 and types["cross_lingual"] >= 5
    assert 8 <= len(SQLITE_SET.docs) <= 12
    assert sum((SQLITE / d).stat().st_size for d in SQLITE_SET.docs) < 1_500_000
    assert {r["doc"] for r in _answerable(SQLITE_SET)} == set(SQLITE_SET.docs)  # every page asked


@pytest.mark.parametrize("s", SETS, ids=[s.name for s in SETS])
def test_ids_are_unique_and_well_formed(s: BlindSet) -> None:
    ids = [r["id"] for r in rows(s)]
    assert len(ids) == len(set(ids))
    for r in rows(s):
        assert re.fullmatch(rf"{s.id_prefix}[01]\d\d", r["id"]), r["id"]
        assert r["id"][1] == ("1" if r["type"] == "unanswerable" else "0"), r["id"]
    questions = [r["question"] for r in rows(s)]
    assert len(questions) == len(set(questions))


def test_blind_questions_are_not_copied_from_the_tuning_set() -> None:
    tuned = {
        q["question"].strip().lower()
        for f in ("retrieval.jsonl", "unanswerable.jsonl")
        for q in _jsonl(KNOWLEDGE / "eval" / f)
    }
    assert not [r["id"] for r in rows(STORE) if r["question"].strip().lower() in tuned]


@pytest.mark.parametrize(("s", "r"), CASES, ids=CASE_IDS)
def test_answerable_fields(s: BlindSet, r: dict) -> None:
    extra = {"negative", "history"}
    assert ANSWER_KEYS <= set(r) <= ANSWER_KEYS | extra, set(r) ^ ANSWER_KEYS
    assert r["type"] in TYPES - {"unanswerable"} and r["lang"] in ("en", "zh")
    assert r["doc"] in s.docs, f"{r['doc']} is not a document of the {s.name} corpus"
    assert r.get("negative", True) is True  # written only when the answer is "no"
    assert isinstance(r["facts"], list) and (r["facts"] or r.get("negative"))
    for group in r["facts"]:
        alts = [group] if isinstance(group, str) else group
        assert alts and all(isinstance(a, str) and normalise(a) for a in alts)


@pytest.mark.parametrize(
    ("s", "r"), UNANSWERABLE, ids=[f"{s.name}-{r['id']}" for s, r in UNANSWERABLE]
)
def test_unanswerable_fields(s: BlindSet, r: dict) -> None:
    assert set(r) == {"id", "question", "lang", "type", "near_doc"}
    assert r["near_doc"] in s.docs, f"{r['near_doc']} is not a document of the {s.name} corpus"
    assert lang_of(r["question"]) == r["lang"]


# --- languages and conversation ----------------------------------------------------------------


@pytest.mark.parametrize(("s", "r"), CASES, ids=CASE_IDS)
def test_language_tag_and_cross_lingual_type(s: BlindSet, r: dict) -> None:
    assert lang_of(r["question"]) == r["lang"]
    doc_lang = lang_of(text(s, r["doc"]))
    assert (r["type"] == "cross_lingual") == (r["lang"] != doc_lang), (r["lang"], doc_lang)


@pytest.mark.parametrize(("s", "r"), CASES, ids=CASE_IDS)
def test_followups_and_only_followups_have_a_history(s: BlindSet, r: dict) -> None:
    history = r.get("history")
    assert (r["type"] == "followup") == bool(history)
    for turn in history or []:
        assert set(turn) == {"user", "assistant"}
        assert all(isinstance(v, str) and v.strip() for v in turn.values())
        assert lang_of(turn["user"]) == lang_of(turn["assistant"]) == r["lang"]


# --- evidence and facts ------------------------------------------------------------------------


@pytest.mark.parametrize(("s", "r"), CASES, ids=CASE_IDS)
def test_evidence_is_a_short_plain_span_found_once(s: BlindSet, r: dict) -> None:
    ev = r["evidence"]
    assert 10 <= len(ev) <= 120 and ev == ev.strip() and "\n" not in ev
    assert not re.search(r"\*\*|`|\||^#|<[a-z/]", ev), "evidence must carry no formatting"
    assert text(s, r["doc"]).count(ev) == 1, "evidence must occur exactly once in its document"
    elsewhere = [d for d in s.docs if d != r["doc"] and ev in text(s, d)]
    assert not elsewhere, f"evidence also in {elsewhere}"


@pytest.mark.parametrize(("s", "r"), CASES, ids=CASE_IDS)
def test_facts_are_stated_by_the_document(s: BlindSet, r: dict) -> None:
    doc = normalise(text(s, r["doc"]))
    for group in r["facts"]:
        alts = (group,) if isinstance(group, str) else tuple(group)
        assert has_fact(doc, alts), f"none of {alts} is in {r['doc']}"
    if r.get("negative"):
        assert says_no(text(s, r["doc"]))


@pytest.mark.parametrize(("s", "r"), CASES, ids=CASE_IDS)
def test_repeating_the_conversation_does_not_state_the_facts(s: BlindSet, r: dict) -> None:
    said = [r["question"]] + [t[k] for t in r.get("history", []) for k in ("user", "assistant")]
    asked = normalise("\n".join(said))
    for group in r["facts"]:
        alts = (group,) if isinstance(group, str) else tuple(group)
        assert not has_fact(asked, alts), f"{alts} is already in the question or its history"


def test_sqlite_corpus_readme_names_every_page() -> None:
    readme = (SQLITE / "README.md").read_text("utf-8")
    assert "public domain" in readme.lower() and "sqlite3-doc" in readme
    assert all(d in readme for d in SQLITE_SET.docs)
