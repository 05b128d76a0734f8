"""Scoring of grounded answers (ragkit.evals.rag) on hand-made Answer objects: no model runs."""

from __future__ import annotations

import pytest

from ragkit.errors import ConfigError
from ragkit.evals.rag import (
    AnswerRecord,
    RagQuestion,
    chinese_number,
    has_fact,
    load_rag_set,
    normalise,
    says_no,
    score,
    summarise,
)
from ragkit.rag import Answer, Citation
from ragkit.types import Hit

RETURNS = "store/policies/returns.md"
RETURNS_ZH = "store/policies/returns_guide_zh.docx"
EVIDENCE = "You can return most items within 30 days of delivery."

Q_EN = RagQuestion("q001", "How many days do I have to return an item?", "en", "direct", True,
                   RETURNS, EVIDENCE, (("30 days", "30天"),))
Q_ZH = RagQuestion("q900", "退货期是多少天？", "zh", "cross_lingual", True, RETURNS, EVIDENCE,
                   (("30 days", "30天"),))
Q_NO = RagQuestion("q005", "Can I send back a gas canister?", "en", "direct", True, RETURNS,
                   "Gas canisters for camping stoves, opened or not.", (), negative=True)
Q_UNK = RagQuestion("u001", "Who is the CEO of Brightcart?", "en", "unanswerable", False)


def hit(cid: str, source: str, text: str) -> Hit:
    return Hit(chunk_id=cid, source=source, heading="", page=None, text=text, score=1.0,
               start=0, end=len(text))


RELEVANT = hit("c1", RETURNS, "Returns. " + EVIDENCE + " Start a return in your account.")
OTHER_DOC = hit("c2", RETURNS_ZH, "退货期：签收后 30 天内可以申请退货。")
UNRELATED = hit("c3", "store/policies/shipping.md", "Standard delivery takes 3 days.")


def answer(text: str, cited: list[Hit], hits: list[Hit] | None = None,
           refused: bool = False, invented: tuple[str, ...] = ()) -> Answer:
    cites = [Citation(n=i, chunk_id=h.chunk_id, source=h.source, title="", heading="",
                      page=None, start=0, end=10, snippet=h.text[:40], support=0.9)
             for i, h in enumerate(cited, start=1)]
    cites += [Citation(n=len(cites) + 1, chunk_id=c, source=RETURNS, title="", heading="",
                       page=None, start=0, end=10, snippet=EVIDENCE, support=0.0)
              for c in invented]
    return Answer(question="q", standalone_question="q", text=text, language="en",
                  citations=cites, refused=refused,
                  hits=hits if hits is not None else [RELEVANT, OTHER_DOC, UNRELATED])


def scored(q: RagQuestion, a: Answer):
    return score(q, AnswerRecord.from_answer(a))


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("run", "value"), [
    ("三十", "30"), ("十五", "15"), ("二〇一七", "2017"), ("一万二千", "12000"), ("两", "2"),
    ("一百零五", "105"), ("七", "7")])
def test_chinese_numerals(run: str, value: str) -> None:
    assert chinese_number(run) == value


def test_normalise_folds_case_width_space_markers_and_separators() -> None:
    assert normalise("Within ３０ Days [1].") == "within30days."
    assert normalise("满 €1,500 可升级") == normalise("满€1500可升级")
    assert normalise("签收后三十天内") == normalise("签收后 30 天内")
    assert normalise("5–10 business days") == normalise("5-10 business days")


def test_numbers_match_whole() -> None:
    assert has_fact(normalise("up to 5 gift cards"), ("5",))
    assert not has_fact(normalise("€5.95 in the EU"), ("5",))
    assert not has_fact(normalise("within 15 days"), ("5",))
    assert not has_fact(normalise("costs 2.5 euros"), ("5",))
    assert has_fact(normalise("可在三十天内退货"), ("30天",))
    assert has_fact(normalise("Within 30 Days"), ("30 days", "30天"))


def test_says_no() -> None:
    assert says_no("No, gas canisters cannot be returned.")
    assert says_no("燃气罐不能退货。")
    assert not says_no("Yes, you can return it within 30 days.")


# --- one answer --------------------------------------------------------------------------------


def test_correct_answer_with_supporting_citation() -> None:
    s = scored(Q_EN, answer("You have 30 days from delivery [1].", [RELEVANT]))
    assert s.correct and s.refusal_ok and s.hit_rank == 1
    assert (s.citations, s.supported, s.invented) == (1, 1, 0)


def test_missing_fact_is_not_correct() -> None:
    s = scored(Q_EN, answer("You have 14 days [1].", [RELEVANT]))
    assert s.correct is False and s.facts_found == 0


def test_refusal_of_an_answerable_question_is_wrong_twice() -> None:
    s = scored(Q_EN, answer("I don't know: 30 days?", [], refused=True))
    assert s.correct is False and not s.refusal_ok


def test_cross_lingual_answer_in_chinese_numerals() -> None:
    s = scored(Q_ZH, answer("签收后三十天内可以退货[1]。", [RELEVANT]))
    assert s.correct and s.supported == 1


def test_other_document_stating_every_fact_supports() -> None:
    s = scored(Q_ZH, answer("三十天[1]。", [OTHER_DOC]))
    assert (s.citations, s.supported) == (1, 1)


def test_unrelated_and_invented_citations_do_not_support() -> None:
    s = scored(Q_EN, answer("30 days [1][2][3].", [RELEVANT, UNRELATED], invented=("zz",)))
    assert (s.citations, s.supported, s.invented) == (3, 1, 1)


def test_evidence_not_retrieved() -> None:
    s = scored(Q_EN, answer("30 days [1].", [UNRELATED], hits=[UNRELATED]))
    assert s.hit_rank is None and s.supported == 0 and s.correct


def test_negative_question_needs_a_no() -> None:
    assert scored(Q_NO, answer("No, carriers do not accept them [1].", [RELEVANT])).correct
    assert not scored(Q_NO, answer("Yes, within 30 days [1].", [RELEVANT])).correct


def test_unanswerable_must_be_refused() -> None:
    assert scored(Q_UNK, answer("I don't know.", [], refused=True)).refusal_ok
    wrong = scored(Q_UNK, answer("The CEO is Anna [1].", [UNRELATED]))
    assert not wrong.refusal_ok and wrong.correct is None and wrong.supported == 0


def test_record_round_trips_through_json() -> None:
    rec = AnswerRecord.from_answer(answer("30 days [1].", [RELEVANT]))
    assert AnswerRecord.from_dict(rec.to_dict()) == rec
    assert rec.citations[0].text == RELEVANT.text  # the full chunk, not the snippet


# --- aggregates --------------------------------------------------------------------------------


def test_summary_by_language_cross_lingual_and_refusal() -> None:
    scores = [
        scored(Q_EN, answer("30 days [1][2].", [RELEVANT, UNRELATED])),  # 1 of 2 supported
        scored(Q_ZH, answer("我不知道。", [], refused=True)),  # wrongly refused
        scored(Q_UNK, answer("I don't know.", [], refused=True)),
        scored(Q_UNK, answer("Anna [1].", [UNRELATED])),  # answered: wrong
    ]
    m = summarise(scores)
    assert m["all"]["n"] == 4 and m["all"]["refusal_accuracy"] == 0.5
    assert m["all"]["citation_precision"] == 0.5 and m["all"]["citations_on_unanswerable"] == 1
    assert m["all"]["refused_unanswerable"] == 0.5 and m["all"]["answered_answerable"] == 0.5
    assert m["lang:en"]["correct"] == 1.0 and m["lang:zh"]["correct"] == 0.0
    assert m["cross_lingual"]["n"] == 1 and m["cross_lingual"]["refusal_accuracy"] == 0.0
    assert m["same_language"]["hit@1"] == 1.0
    assert m["lang:zh"]["citation_precision"] is None  # no citations: undefined, not 1.0


# --- loading -----------------------------------------------------------------------------------


def test_load_rejects_a_labelled_question_without_facts(tmp_path) -> None:
    (tmp_path / "retrieval.jsonl").write_text(
        '{"id": "q1", "question": "x?", "lang": "en", "type": "direct", "doc": "d", '
        '"evidence": "e"}\n{"id": "q2", "question": "y?", "lang": "en", "type": "direct", '
        '"doc": "d", "evidence": "e"}\n', encoding="utf-8")
    (tmp_path / "rag.jsonl").write_text('{"id": "q1", "facts": ["a"]}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="q2"):
        load_rag_set(tmp_path / "rag.jsonl")
    (tmp_path / "rag.jsonl").write_text(
        '{"id": "q1", "facts": ["a"]}\n{"id": "q2", "facts": [[]]}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="non-empty"):
        load_rag_set(tmp_path / "rag.jsonl")


def test_failures_tell_a_pipeline_refusal_from_a_model_refusal() -> None:
    from ragkit.evals.rag import failures
    from ragkit.rag import AnswerUsage

    early = answer("I don't know.", [], refused=True)  # no tokens generated
    late = answer("I don't know.", [], refused=True)
    late.usage = AnswerUsage(completion_tokens=12)
    why = [f["why"][0] for f in failures([Q_EN], [scored(Q_EN, early), scored(Q_EN, late)])]
    assert why == ["refused an answerable question before generating (low retrieval confidence)",
                   "refused an answerable question"]
    assert summarise([scored(Q_EN, early)])["all"]["refused_before_generating"] == 1


def test_refusal_reason_comes_from_the_pipeline_diagnostics() -> None:
    from ragkit.evals.rag import failures

    a = answer("I don't know.", [], refused=True)
    a.diagnostics = {"refusal_reason": "low_confidence"}
    s = scored(Q_EN, a)
    assert s.refusal_reason == "low_confidence"
    assert failures([Q_EN], [s])[0]["why"] == ["refused an answerable question (low_confidence)"]
    assert summarise([s])["all"]["refusal_reasons"] == {"low_confidence": 1}
