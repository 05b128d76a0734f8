"""The UI's pure formatting: each test checks one property of what the user sees."""

from __future__ import annotations

from ragkit.errors import KnowledgeBaseError
from ragkit.ui import format as fmt
from ragkit.ui import format_code

CITES = [
    {"n": 1, "source": "policies/refunds.md", "heading": "Refunds > Timing", "page": None,
     "snippet": "Refunds are paid within 5 business days.\n\nto the original method"},
    {"n": 2, "source": "policies/warranty_terms.pdf", "heading": "", "page": 3,
     "snippet": "<b>Warranty</b> lasts two years"},
]


def test_citation_label_names_file_heading_and_page() -> None:
    assert fmt.citation_label(CITES[0]) == "[1] policies/refunds.md › Refunds > Timing"
    assert fmt.citation_label(CITES[1]) == "[2] policies/warranty_terms.pdf, p. 3"
    assert fmt.citation_label(CITES[1], "zh").endswith("，第3页")


def test_citations_expand_to_escaped_snippets() -> None:
    out = fmt.citations_html(CITES)
    assert out.count("<details") == 2 and out.count("<summary>") == 2
    assert "Refunds are paid within 5 business days. to the original method" in out
    assert "&lt;b&gt;Warranty&lt;/b&gt;" in out and "<b>Warranty" not in out
    assert fmt.citations_html([]) == ""


def test_answer_content_keeps_text_and_adds_notes_in_the_answer_language() -> None:
    out = fmt.answer_content("退款五个工作日到账 [1]", CITES[:1], handoff=True, ticket_id="TK-1")
    assert out.startswith("退款五个工作日到账 [1]")
    assert "来源" in out and "已转人工客服" in out and "TK-1" in out
    stopped = fmt.answer_content("Partial answ", stopped=True)
    assert stopped.startswith("Partial answ") and "*stopped*" in stopped
    assert "Sources" not in stopped


def test_error_text_never_shows_a_traceback() -> None:
    err = KnowledgeBaseError("no knowledge base at /x; create one with `ragkit index`")
    assert fmt.error_text(err) == str(err)
    try:
        raise ValueError("bad value\nTraceback (most recent call last): ...")
    except ValueError as exc:
        text = fmt.error_text(exc)
    assert "ValueError: bad value" in text and "Traceback" not in text
    assert fmt.error_markdown(err).startswith("**Error:**")


def test_state_panel_shows_intent_slots_pending_and_handoff() -> None:
    state = {"intent": "return_request", "slots": {"order_id": "BC-100234", "reason": "damaged"},
             "intent_stack": [{"intent": "order_status", "slots": {}, "done": False},
                              {"intent": "return_request", "slots": {}, "done": False}],
             "pending_confirmation": {"tool": "create_return",
                                      "args": {"order_id": "BC-100234"}},
             "handoff": True, "ticket_id": "TK-000123"}
    out = fmt.state_markdown(state, [{"name": "lookup_order", "args": {"order_id": "BC-100234"},
                                      "ok": True, "code": None}])
    assert "**Action:** `lookup_order`(order_id=BC-100234) ✓" in out
    assert "`return_request`" in out
    assert "| order_id | BC-100234 |" in out and "| reason | damaged |" in out
    assert "`order_status` → `return_request`" in out
    assert "`create_return` order_id=BC-100234" in out
    assert "**Handoff:** waiting for an agent (ticket `TK-000123`)" in out
    assert "**Verified customer:** no" in out
    assert fmt.state_markdown(None) == "*No conversation yet.*"
    empty = fmt.state_markdown({"intent": None, "slots": {}, "handoff": False})
    assert "**Slots:** —" in empty and "**Handoff:** no" in empty
    back = fmt.state_markdown({"intent": None, "slots": {}, "handoff": False,
                               "ticket_id": "TK-000123", "customer_id": "C-1",
                               "pending_confirmation": {"tool": "_offer_person", "args": {}}})
    assert "**Handoff:** answered by an agent, back with the assistant (ticket `TK-000123`)" \
        in back
    assert "**Verified customer:** yes" in back
    assert "**Pending confirmation:** offered a person (yes hands over)" in back


def test_slot_values_cannot_break_the_table() -> None:
    out = fmt.state_markdown({"intent": "change_address", "slots": {"address": "a | b\nc"}})
    assert "| address | a \\| b c |" in out


def test_handoff_choices_label_and_value() -> None:
    got = fmt.handoff_choices([{"thread_id": "t1", "ticket_id": "TK-9", "reason": "asked",
                                "transcript": [{"role": "user", "content": "I want   a human"},
                                               {"role": "assistant", "content": "ok"}]}])
    assert got == [("t1 · TK-9 · asked · I want a human", "t1")]


def test_sync_report_lists_each_failed_file() -> None:
    out = fmt.sync_report_markdown({"added": 2, "updated": 0, "removed": 0, "unchanged": 1,
                                    "chunks_embedded": 7, "elapsed_s": 1.25, "failed": [
                                        {"path": "bad.pdf", "error": "corrupt PDF"}]})
    assert "2 added" in out and "7 chunks" in out and "1.2s" in out
    assert "1 file(s) skipped" in out and "- `bad.pdf`: corrupt PDF" in out
    assert "skipped" not in fmt.sync_report_markdown({"added": 1, "failed": []})


def test_hits_column_ranks_and_cuts_long_text() -> None:
    hits = [{"source": "a.md", "heading": "H", "page": None, "text": "word " * 100,
             "score": 0.5}, {"source": "b.pdf", "heading": "", "page": 2, "text": "x",
                             "score": 0.25}]
    out = fmt.hits_markdown(hits, "dense")
    assert out.startswith("### Dense")
    assert "**1. a.md › H**" in out and "**2. b.pdf, p. 2**" in out
    assert "…" in out and "`0.5000`" in out
    assert "no matches" in fmt.hits_markdown([], "keyword")


def test_agent_rounds_show_plan_code_tests_and_outcome() -> None:
    events = [
        {"kind": "plan", "round": 0, "data": {"plan": "1. strip spaces"}},
        {"kind": "tests", "round": 0, "data": {"phase": "written", "source": "user",
                                               "tests": "def test_a():\n    assert f() == 2"}},
        {"kind": "code", "round": 1, "data": {"code": "def f():\n    return 1\n",
                                              "syntax_error": None}},
        {"kind": "tests", "round": 1, "data": {"phase": "run", "result": {
            "status": "failed", "passed": 1, "total": 2, "tests": [
                {"name": "test_a", "status": "passed", "message": ""},
                {"name": "test_b", "status": "failed", "message": "assert 1 == 2"}]}}},
        {"kind": "round", "round": 1, "data": {"status": "failed", "passed": 1, "total": 2,
                                               "feedback": "test_b failed"}},
        {"kind": "code", "round": 2, "data": {"code": "def f():\n    return 2"}},
        {"kind": "done", "round": 2, "data": {"result": {
            "passed": True, "code": "x", "best_round": 2, "tests_passed": 2,
            "tests_total": 2, "stopped": "passed", "seconds": 12.4}}},
    ]
    out = format_code.agent_events_markdown(events)
    assert out.index("### Plan") < out.index("your tests") < out.index("### Round 1")
    assert out.index("### Round 1") < out.index("### Round 2") < out.index("### Done")
    assert "```python\ndef f():\n    return 1\n```" in out
    assert "1/2 passed" in out and "✗ `test_b`: assert 1 == 2" in out
    assert "feedback for the next round: test_b failed" in out
    assert "### Done — tests pass ✓" in out and "2/2 tests passed; stopped: passed" in out
    failing = format_code.agent_events_markdown([{"kind": "done", "round": 3, "data": {"result": {
        "passed": False, "test_source": "self", "tests_total": 3}}}])
    assert "still failing" in failing


def test_system_panel_lists_quantization_rope_and_device() -> None:
    info = {"model": "qwen", "arch": "qwen2", "device": "cpu", "dtype": "bfloat16",
            "quantization": "int8", "rope_scaling": {"type": "yarn", "factor": 4.0},
            "context_length": 131072, "native_context": 32768, "parameters": 494_000_000,
            "threads": 2}
    out = fmt.system_markdown(info, None, {"RAG pipeline": True, "code agent": False})
    for part in ("| quantization | int8 |", "| RoPE scaling | yarn ×4.0 |", "| device | cpu |",
                 "| parameters | 494 M |", "131072 tokens (native 32768)",
                 "RAG pipeline ✓", "code agent (not installed)"):
        assert part in out
    assert "not loaded yet" in fmt.system_markdown(None, None, {})


def test_metrics_rows_summary_and_chart_shape() -> None:
    rows = [fmt.metrics_record(1, {"time_to_first_token_s": 2.0, "tokens_per_second": 10,
                                   "kv_cache_hit_rate": 0.0}),
            fmt.metrics_record(2, {"time_to_first_token_s": 0.5, "tokens_per_second": 14,
                                   "kv_cache_hit_rate": 0.8}),
            fmt.metrics_record(3, {"time_to_first_token_s": 0.2, "answer_cache_hit": True})]
    out = fmt.metrics_markdown(rows, {"hits": 1, "requests": 2, "tokens_saved": 300,
                                      "bytes": 3 * 2**20})
    assert "| time to first token | 0.20 s | 0.90 s |" in out
    # The cache hit generated nothing: tokens/s and the KV hit rate average the other answers.
    assert "| tokens/s | — | 12.0 |" in out and "| KV-cache hit rate | — | 40% |" in out
    assert "answer-cache hits: 1" in out and "300 prompt tokens reused" in out
    long = fmt.metrics_long(rows)
    assert len(long) == 7 and {r["metric"] for r in long} == {
        "time to first token (s)", "tokens/s", "KV-cache hit rate (%)"}
    assert {r["value"] for r in long if r["turn"] == 2} == {0.5, 14.0, 80.0}  # rate in %
    assert [r["value"] for r in long if r["turn"] == 3] == [0.2]
    assert "No answers yet" in fmt.metrics_markdown([], None)
    refused = fmt.metrics_record(4, {"time_to_first_token_s": 0.1, "tokens_per_second": 0.0})
    assert refused["tokens_per_s"] is None and refused["kv_hit_rate"] == 0.0  # nothing decoded


def test_code_rounds_give_speed_and_cache_share_but_no_first_token_time() -> None:
    usage = fmt.code_round_usage({"status": "passed", "usage": {
        "prompt_tokens": 400, "cached_tokens": 100, "completion_tokens": 60, "seconds": 12.0}})
    assert usage == {"time_to_first_token_s": None, "tokens_per_second": 5.0,
                     "kv_cache_hit_rate": 0.25}
    row = fmt.metrics_record(1, usage, kind="code")
    assert row["ttft_s"] is None and row["tokens_per_s"] == 5.0
    out = fmt.metrics_markdown([row], None)
    assert "| time to first token | — | — |" in out and "| tokens/s | 5.0 | 5.0 |" in out
    assert "**Answers:** 0, answer-cache hits: 0; code-agent rounds: 1" in out
    assert [r["metric"] for r in fmt.metrics_long([row])] == ["tokens/s", "KV-cache hit rate (%)"]
    assert fmt.code_round_usage({"usage": {"completion_tokens": 0, "seconds": 1.0}}) is None
    assert fmt.code_round_usage({}) is None


def test_detect_lang() -> None:
    assert fmt.detect_lang("退货") == "zh" and fmt.detect_lang("returns") == "en"


def test_snippets_cannot_inject_markdown_or_html() -> None:
    out = fmt.hits_markdown([{"source": "a.md", "heading": "", "page": None,
                              "text": "# Title - *bold* <script>x</script>", "score": 1.0}], "K")
    body = out.splitlines()[3]
    assert body.startswith("Title \\- \\*bold\\*") and "<script>" not in out


def test_qa_panel_reports_search_and_confidence() -> None:
    out = fmt.qa_markdown({"standalone_question": "refund *time*", "confidence": 0.912,
                           "citations": [{}, {}], "refused": False})
    assert "refund \\*time\\*" in out and "0.91" in out and "**Citations:** 2" in out
    assert "refused" in fmt.qa_markdown({"citations": [], "refused": True})


def test_the_panel_shows_evidence_by_source_under_the_answer_s_numbers() -> None:
    out = fmt.qa_markdown({"citations": [{"n": 1, "chunk_id": "b"}], "evidence": [
        {"n": 2, "chunk_id": "b", "text": "Gold members get **45 days**.", "score": 0.99},
        {"n": 2, "chunk_id": "b", "text": "Others get 30 days.", "score": 0.97},
        {"n": 1, "chunk_id": "a", "text": "Gift cards never expire.", "score": 0.6}]})
    lines = [ln for ln in out.splitlines() if ln.startswith("**Evidence")]
    assert lines == ["**Evidence [1]:** Gold members get 45 days. (0.99) · Others get 30 days. "
                     "(0.97)  ", "**Evidence (not cited):** Gift cards never expire. (0.60)  "]
    zh = fmt.qa_markdown({"citations": [], "evidence": [
        {"n": 1, "chunk_id": "a", "text": "积分 24 个月内有效。", "score": 0.9}]}, "zh")
    assert "**证据（未引用）:**" in zh
    timed = fmt.qa_markdown({"citations": [], "stages_ms": {"retrieve": 750.0, "new": 250.0}},
                            "zh")
    assert "检索 0.75s (75%)" in timed and "new 0.25s (25%)" in timed  # seen untranslated


def test_the_panel_says_why_the_evidence_is_quoted() -> None:
    """A quote after the model failed, or a quote from the start (evidence in the other
    language): the panel had said "The model did not phrase a supported answer" for both,
    though the model was never asked for the second."""
    failed = fmt.qa_markdown({"quoted": True, "citations": [{}],
                              "stages_ms": {"evidence": 900.0, "generate": 2000.0}})
    assert "did not phrase a supported answer" in failed
    first = fmt.qa_markdown({"quoted": True, "citations": [{}],
                             "stages_ms": {"evidence": 900.0, "select": 1300.0}})
    assert "did not phrase" not in first and "without asking the model" in first
    assert "没有交给模型改写" in fmt.qa_markdown({"quoted": True, "citations": [{}]}, "zh")


def test_a_support_reply_s_knowledge_answer_is_shown_under_its_own_heading() -> None:
    out = fmt.qa_markdown({"standalone_question": "refund time", "citations": [{"n": 1,
                           "chunk_id": "a"}], "evidence": [{"chunk_id": "a", "text": "Five "
                           "days.", "score": 0.9}]}, support=True)
    assert out.startswith("**Answered from the knowledge base:**")
    assert "knowledge Q&A" not in out and "**Evidence [1]:** Five days. (0.90)" in out
    row = fmt.qa_markdown({"citations": [], "evidence": [
        {"chunk_id": "b", "text": "| PayPal | 1 to 3 business days |", "score": 1.0,
         "lead": "| Payment method | Time |",
         "shown": "Payment method: PayPal; Time: 1 to 3 business days"}]})
    assert "Payment method: PayPal; Time: 1 to 3 business days (1.00)" in row  # no raw pipes


def test_the_outcome_says_when_the_budget_stopped_it_and_what_tidying_removed() -> None:
    result = {"passed": False, "test_source": "self", "tests_total": 4, "tests_passed": 3,
              "best_round": 2, "stopped": "time_budget", "seconds": 61.0,
              "removed": ["print(f([1, 2]))", "if __name__ == '__main__':"]}
    out = format_code.agent_events_markdown([{"kind": "done", "round": 2,
                                              "data": {"result": result}}])
    assert "time budget" in out and "best code so far" in out
    assert "Removed from the final code" in out and "`print(f([1, 2]))`" in out
    zh = format_code.agent_events_markdown([{"kind": "done", "round": 2,
                                             "data": {"result": result}}], "zh")
    assert "时间预算" in zh and "已从最终代码中删除" in zh
    plain = dict(result, stopped="passed", removed=[])
    assert "budget" not in format_code.agent_events_markdown(
        [{"kind": "done", "round": 2, "data": {"result": plain}}])


def test_the_headline_follows_the_verdict_when_only_set_aside_tests_fail() -> None:
    result = {"passed": False, "test_source": "self", "tests_total": 4, "tests_passed": 3,
              "best_round": 1, "stopped": "passed", "seconds": 9.0,
              "verdict": "passes_trusted_tests", "distrusted": {"test_x": "two candidates agree"}}
    out = format_code.agent_events_markdown([{"kind": "done", "round": 1,
                                              "data": {"result": result}}])
    assert "### Done — passes the tests it trusts ✓" in out and "still failing" not in out
    failing = dict(result, verdict="uncertain")
    assert "still failing" in format_code.agent_events_markdown(
        [{"kind": "done", "round": 1, "data": {"result": failing}}])


def test_a_cited_passage_is_found_and_marked_in_its_document() -> None:
    text = "Intro. Returns are accepted within thirty days. After <that> nothing."
    at = text.index("Returns")
    span = fmt.locate(text, at, at + 40, "Returns are accepted within thirty days.")
    assert span is not None and text[span[0]:span[1]].startswith("Returns are accepted")
    # offsets from before an edit: found by its words; gone: None
    assert fmt.locate("New intro line. " + text, at, at + 40, "Returns are accepted") is not None
    assert fmt.locate(text, at, at + 40, "Refunds take five days") is None
    # the snippet of an evidence-first answer: the chosen sentence under its heading
    lead = "Returns > Window: Returns are accepted within thirty days."
    assert fmt.locate(text, at, at + 40, lead) == (at, at + 40)
    moved = fmt.locate("Intro text first.\n" + text, at, at + 40, lead)
    assert moved is not None and "accepted within" in ("Intro text first.\n" + text)[slice(*moved)]
    zh = "前言。退货须在三十天内提出申请并保留原包装，逾期不予受理。"
    assert fmt.locate("新的一行。" + zh, 3, 30, "退货政策：退货须在三十天内提出申请并保留原包装") is not None
    page = fmt.source_html(text, span, {"n": 1, "source": "docs/returns.md",
                                        "heading": "Returns > Window", "page": 2})
    assert "<mark id='rk-cited'>Returns are accepted" in page
    assert "&lt;that&gt;" in page and "<that>" not in page  # escaped
    assert "docs/returns.md › Returns &gt; Window, p. 2" in page
    moved = fmt.source_html(text, None, {"n": 1, "source": "docs/returns.md"})
    assert "<mark" not in moved and "re-index" in moved


def test_documents_table_says_language_when_indexed_and_what_to_do() -> None:
    docs = [{"source": "docs/a.md", "kind": "markdown", "language": "zh", "chunks": 3,
             "size": 2048, "modified": 1.7e9, "indexed": 1.8e9, "status": "changed"},
            {"source": "docs/b.pdf", "kind": "pdf", "language": "", "chunks": 0, "size": 10,
             "modified": 1.7e9, "indexed": 0, "status": "missing"}]
    en = fmt.documents_table(docs)
    assert en["headers"][2] == "language" and en["headers"][-1] == "status"
    assert en["data"][0][2] == "Chinese" and en["data"][0][-1] == "file changed: re-index"
    assert en["data"][1][2] == "—" and en["data"][1][-1] == "file gone from disk"
    zh = fmt.documents_table(docs, "zh")
    assert zh["data"][0][2] == "中文" and zh["headers"][5] == "索引时间"


def test_the_status_line_shows_the_knowledge_base_settings_escaped() -> None:
    from ragkit.config import KnowledgeBaseConfig

    settings = KnowledgeBaseConfig(embedder="<b>e5</b>").model_dump(mode="json")
    text = fmt.kb_status_markdown({"path": "kb", "documents": 1, "chunks": 2,
                                   "embedder": "e5", "index_type": "flat",
                                   "settings": settings})
    assert "<summary>Settings" in text and "<code>chunking.max_tokens</code>" in text
    assert "<code>ingest.max_file_mb</code><td>50.0" not in text  # one cell per value
    assert "&lt;b&gt;e5&lt;/b&gt;" in text and "<b>e5</b>" not in text


def test_an_answer_copies_as_plain_text_with_its_sources() -> None:
    cites = [{"n": 1, "source": "docs/refunds.md", "heading": "Refunds", "page": 2,
              "snippet": "Refunds are paid back\n within five <b>business</b> days."}]
    text = fmt.plain_answer("Within five business days [1].", cites)
    assert text == ("Within five business days [1].\n\nSources:\n"
                    "[1] docs/refunds.md › Refunds, p. 2\n"
                    "    “Refunds are paid back within five <b>business</b> days.”")
    assert fmt.plain_answer("退款五天内到账 [1]。", cites).split("\n")[2] == "来源："
    assert fmt.plain_answer("No sources.") == "No sources."


def test_the_source_view_reads_markdown_as_text() -> None:
    text = ("# Shipping\n\nIntro with a [link](https://x.example) and **bold** words.\n\n"
            "## Prices\n\n| Zone | Price |\n|---|---:|\n| EU | 9.90 euros |\n| UK | 12 <GBP> |\n")
    at = text.index("EU")
    page = fmt.source_html(text, (at, at + len("EU | 9.90 euros")), {"n": 1, "source": "s.md"})
    body = page.split("</p>", 1)[1]
    assert "Shipping\n" in body and "Prices\n" in body
    assert "#" not in body and "---" not in body and "**" not in body and "|" not in body
    assert " Zone · Price \n" in body and " UK · 12 &lt;GBP&gt; " in body
    assert "<mark id='rk-cited'>EU · 9.90 euros</mark>" in body
    assert "a link and bold words" in body and "https://" not in body
    assert "Price \n <mark id='rk-cited'>EU" in body  # the rule line leaves nothing behind
    listed = fmt.source_html("## Cards\n\n- Up to 5 cards per order.\n- Valid for 3 years.\n",
                             (12, 36), {"n": 1, "source": "g.md"})
    assert "• <mark id='rk-cited'>Up to 5 cards" in listed and "• Valid" in listed
    plain = fmt.source_html("A plain | text line.\n# not markdown here", (0, 7),
                            {"n": 1, "source": "a.txt"})
    assert "A plain</mark> | text line." in plain
