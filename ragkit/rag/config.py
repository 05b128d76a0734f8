"""Typed settings of the RAG pipeline: :class:`RagConfig`.

Every threshold the graph uses lives here, with the measurement it came from in its
description (retrieval-side figures: ``bench/rag_signals_bench.py``). Does not load or run
anything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragkit.config import DEFAULT_RELEVANCE, RelevanceMode, SearchMode, TranslateMode

SupportMethod = Literal["lexical", "embedding", "auto"]
_TRANSLATE: dict[str, bool | Literal["auto"]] = {"off": False, "on": True, "auto": "auto"}


def translate_setting(mode: TranslateMode) -> bool | Literal["auto"]:
    """The ``translate_query`` value a :data:`TranslateMode` names (pure)."""
    return _TRANSLATE[mode]


class RagConfig(BaseModel):
    """Settings of one :class:`~ragkit.rag.pipeline.RagPipeline`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- retrieval ----------------------------------------------------------------------------
    k: int = Field(5, ge=1, le=50, description="chunks retrieved per query")
    search_mode: SearchMode = "hybrid"
    translate_query: bool | Literal["auto"] = Field(
        "auto", description="also search with a generator-made translation of the question "
        "into the other language (en<->zh), for one short generation per question: true, "
        "false, or auto (translate when the knowledge base holds chunks in the other "
        "language: at least 5% of a sample of its chunks). The embedder ranks same-language "
        "chunks first: on the 153 labelled questions of the bilingual sample store, "
        "cross-lingual hit@5 was 0.04 with the question alone and 0.73 with translation. The "
        "translation also lets the English cross-encoder read English sentences for a "
        "Chinese question. (Before the evidence stage it was off: the 0.5B answered 0 of 49 "
        "cross-lingual questions from whole other-language chunks, "
        "bench/results/rag_eval_qwen0.5b_full_translate.json)")
    translation_chunks: int = Field(
        2, ge=0, le=20, description="chunks in the translation's language, from the "
        "translation's search, added after the question's own k. Replayed over stored "
        "translations (bench/translate_query_bench.py): hit@k 0.64 -> 0.86, "
        "cross-lingual 0.04 -> 0.73 with 2 (0.59 with 1, 0.78 with 3), paraphrase unchanged at "
        "0.71; fusing both rankings by reciprocal rank instead reached 0.76 cross-lingual but "
        "pushed same-language evidence out (paraphrase 0.57)")
    min_confidence: float = Field(
        0.80, ge=0.0, le=1.0, description="refuse without generating when the best dense "
        "cosine between the question and a chunk is below this. On the sample store the 153 "
        "answerable questions scored 0.805-0.95 and the 34 unanswerable ones 0.795-0.926, so "
        "this only catches off-topic questions; answerability is judged after retrieval")

    # -- evidence -----------------------------------------------------------------------------
    relevance: RelevanceMode = Field(
        DEFAULT_RELEVANCE, description="who picks the sentences (list items, table rows) that answer, "
        "before anything is generated: auto (the INT8 ms-marco cross-encoder reads English "
        "sentences and the knowledge base's embedder the rest; EmbeddingGemma re-reads the "
        "best 8 and its score decides), fast (the first stage alone), embeddinggemma "
        "(EmbeddingGemma reads every sentence), or off (no evidence stage: the generator "
        "reads whole chunks and judges alone, as before). bench/results/relevance.json")
    evidence_chunks: int = Field(8, ge=1, le=50, description="retrieved chunks whose "
                                 "sentences are scored, the translation's chunks included "
                                 "(k=5 plus 2: about 35 sentences)")
    evidence_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="relevance a sentence needs to be evidence; with "
        "none above it the question is refused without generating, naming what the "
        "knowledge base covers nearby. The scorers' curves put 0.5 where about 5% of the "
        "tuning set's answerable questions fall below (EmbeddingGemma cosine 0.40); "
        "unanswerable questions about things the documents do discuss mostly score above it, "
        "so those are left to the generator and the citation check")
    evidence_units: int = Field(3, ge=1, le=10, description="most evidence sentences in the "
                                "prompt")
    evidence_keep_within: float = Field(0.5, ge=0.0, le=1.0, description="an evidence "
                                        "sentence scores at least this share of the best one")
    evidence_quote_threshold: float = Field(
        0.9, ge=0.0, le=1.0, description="when the generator refuses, or none of its "
        "sentences is supported by the evidence, the best evidence is quoted with its "
        "citation instead of refusing if it scores at least this (EmbeddingGemma cosine "
        "0.51); below it the question is refused. Replayed over a 55-question tuning sample "
        "(40 answerable, 15 not): quoting from 0.9 gave correct 0.55 and refusal accuracy "
        "0.73, from 0.98 0.40 and 0.62, never quoting 0.25 and 0.49: the 0.5B refuses many "
        "questions its evidence answers, and unanswerable questions about things the "
        "documents discuss score as high as answerable ones")
    evidence_quote_other_language: float = Field(
        0.8, ge=0.0, le=1.01, description="evidence written in the other language than the "
        "question (an English question answered by a Chinese document) is quoted with the "
        "generator's rendering (English renderings hold no Chinese characters) instead of "
        "being answered by the generator, if it scores at least this; below it, or at 1.01, "
        "the generator answers as from same-language evidence. On the tuning set's 49 "
        "cross-lingual questions the 0.5B's own answers were right 4 times in 13, the quotes "
        "21 times in 28; the quotes scoring under 0.8 were all wrong (5 of 5, two of them "
        "unanswerable questions)")
    overview: bool = Field(
        True, description="a broad question about a topic as a whole (\"What is your return "
        "policy?\", \"How do gift cards work?\", \"介绍一下积分会员计划\") is answered "
        "with the main points of the document it is about (one whose title names the topic, "
        "else the title EmbeddingGemma reads as close as quotable evidence, else the best "
        "evidence's): the opening sentence and the first sentence of each section, cited, "
        "in the document's order, without generating (a sentence in the other language gets "
        "the generator's rendering)")
    overview_points: int = Field(4, ge=2, le=10, description="most points in an overview; "
                                 "the sections left out are named after them")
    evidence_certain: float = Field(
        0.99, ge=0.0, le=1.0, description="evidence scoring at least this that states a "
        "number is taken at its word: an answer sentence whose numbers are all other than "
        "its numbers is not shown, and with nothing else supported the evidence is quoted "
        "(seen: the battery's 12-month warranty answered with the 24 months of the table row "
        "beside it). On the 80-question tuning sample 3 questions have such evidence")
    followup_alone_threshold: float = Field(
        0.8, ge=0.0, le=1.0, description="a follow-up that points back only with a pronoun "
        "(\"can I pay for it with PayPal?\") is first searched alone; when its own evidence "
        "scores at least this it stands alone, else it is searched together with the "
        "question before it. On 12 hand-written pairs the alone score was 0.03-0.38 for true "
        "follow-ups (\"how long does it take?\") and 0.87-0.995 for new topics")

    # -- context ------------------------------------------------------------------------------
    context_tokens: int = Field(1000, ge=64, description="generator tokens of retrieved text")
    min_chunk_tokens: int = Field(48, ge=8, description="a trimmed last chunk keeps at least this")
    history_turns: int = Field(4, ge=0, description="past question/answer pairs sent to the "
                               "model; older turns drop out (the prefix cache then misses once)")

    # -- generation ---------------------------------------------------------------------------
    max_answer_tokens: int = Field(256, ge=8)
    condense_max_tokens: int = Field(64, ge=8)
    regenerate: bool = Field(True, description="regenerate once when no sentence is supported")

    check_answerable: bool = Field(
        False, description="before generating, score 'do the sources state the answer? "
        "yes/no' with the generator (reuses the prompt's KV cache) and refuse when log p(no) "
        "- log p(yes) > answerable_margin. Off by default because the 0.5B model cannot judge "
        "it: on 20 tuning questions (Qwen2.5-Coder-0.5B int8, 07:50 UTC) the 4 unanswerable "
        "ones scored -0.38 to 1.16 and the 16 answerable ones 0.09 to 1.73 (7 above 1.0; the "
        "Chinese unanswerable ones lowest), so no margin refuses an unanswerable question "
        "without refusing more answerable ones; 'which source answers? 0 = none' and 'is the "
        "question about the sources?' scored no better. Turn it on for a stronger model after "
        "measuring its margins (`ragkit eval rag`)")
    answerable_margin: float = Field(0.0, description="see check_answerable")

    # -- verification -------------------------------------------------------------------------
    support_method: SupportMethod = Field(
        "auto", description="lexical overlap, embedding cosine, or auto: lexical within a "
        "language and embedding cosine when the sentence and the chunk differ in language")
    support_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="share of a sentence's content words found in the "
        "chunk it cites (numbers must all be found) for the citation to stand")
    support_embedding_threshold: float = Field(
        0.83, ge=-1.0, le=1.0, description="cosine between a sentence and its chunk (embedder "
        "query vs passage) for the citation to stand, when embedding support is used. "
        "multilingual-e5-small, English sentences vs the Chinese chunks they translate: "
        "0.80-0.86 (6 of 8 pass); vs unrelated chunks median 0.81, p90 0.83, max 0.85: a weak "
        "check, so cross-language citations are less reliable than same-language ones")

    # -- answer cache -------------------------------------------------------------------------
    answer_cache: bool = True
    answer_cache_threshold: float = Field(
        0.985, ge=0.0, le=1.0, description="question cosine at or above which a stored answer "
        "is served (multilingual-e5-small). bench/results/rag_thresholds.json: 0 of 40 "
        "different-question pairs reach 0.985 (4 reach 0.97), 85% of 20 near-duplicates do; "
        "rag-core's own 8+8 pairs: rewordings 0.977-0.998, different questions up to 0.967")
    answer_cache_max_entries: int = Field(2000, ge=1)
    regenerate_temperature: float = Field(
        0.7, ge=0.0, le=2.0, description="sampling temperature of a regenerated answer "
        "(`Conversation.regenerate`, the UI's retry button): a new phrasing from the same "
        "evidence; an answer quoted from the evidence comes back the same")

    # -- conversations ------------------------------------------------------------------------
    max_threads: int = Field(500, ge=1, description="conversations kept; the oldest go first")
    max_thread_age_days: float = Field(30.0, gt=0, description="conversations idle longer "
                                       "than this are deleted")
