"""The panels in Chinese: each test checks that one panel's headings follow the page language
while names, values and identifiers stay as they are."""

from __future__ import annotations

from ragkit.errors import KnowledgeBaseError
from ragkit.ui import format as fmt
from ragkit.ui import format_code
from ragkit.ui.i18n import InputError

STATE = {"intent": "return_request", "slots": {"order_id": "BC-100234", "reason": "damaged"},
         "intent_stack": [{"intent": "order_status"}, {"intent": "return_request"}],
         "pending_confirmation": {"tool": "create_return", "args": {"order_id": "BC-100234"}},
         "handoff": True, "ticket_id": "TK-000123"}


def test_state_panel_in_chinese() -> None:
    out = fmt.state_markdown(STATE, [{"name": "lookup_order", "args": {"order_id": "BC-100234"},
                                      "ok": True}], lang="zh")
    for part in ("**意图:** `return_request`", "**意图栈:** `order_status` → `return_request`",
                 "| 槽位 | 值 |", "| order_id | BC-100234 |", "**待确认:** `create_return`",
                 "**转人工:** 等待人工客服 (工单 `TK-000123`)", "**已验证客户:** 否", "**操作:** `lookup_order`"):
        assert part in out, part
    for english in ("Intent", "Slots", "Pending", "Handoff", "Action", "slot | value"):
        assert english not in out
    assert fmt.state_markdown(None, lang="zh") == "*还没有对话。*"
    assert "**转人工:** 否" in fmt.state_markdown({"intent": None, "slots": {}}, lang="zh")


def test_qa_panel_in_chinese() -> None:
    out = fmt.qa_markdown({"standalone_question": "退款多久", "confidence": 0.5,
                           "citations": [], "refused": True}, "zh")
    assert "**模式:** 知识问答" in out and "**检索问题:** 退款多久" in out
    assert "**检索置信度:** 0.50" in out and "**引用:** 0（拒答：知识库中没有）" in out


def test_errors_in_chinese() -> None:
    assert fmt.error_markdown(InputError("need_query"), "zh") == "**错误**：请输入要搜索的内容"
    assert fmt.error_markdown(InputError("need_query"), "en") == (
        "**Error:** type something to search for")
    sdk = KnowledgeBaseError("no knowledge base at /x; create one with `ragkit index`")
    assert fmt.error_text(sdk, "zh") == str(sdk)  # the SDK's own message, unchanged
    text = fmt.error_text(ValueError("boom\nTraceback ..."), "zh")
    assert text.startswith("意外错误（ValueError: boom）") and "Traceback" not in text


def test_knowledge_panels_in_chinese() -> None:
    status = fmt.kb_status_markdown({"path": "/kb", "documents": 4, "chunks": 9,
                                     "embedder": "e5", "index_type": "flat",
                                     "index_up_to_date": False}, "zh")
    assert status == ("**/kb** — 4 个文档，9 个片段；嵌入模型 `e5`，索引 `flat`"
                      "（下次搜索时重建索引）")
    report = fmt.sync_report_markdown({"added": 1, "elapsed_s": 2.04, "chunks_embedded": 3,
                                       "failed": [{"path": "a.exe", "error": "unsupported"}]},
                                      "zh")
    assert report.startswith("**索引完成**，用时 2.0 秒：新增 1")
    assert "**跳过 1 个文件：**" in report and "- `a.exe`: unsupported" in report
    assert fmt.progress_label("embed", 2, 5, "zh") == "嵌入片段 2/5"
    assert fmt.progress_label("other", 1, 2, "zh") == "other 1/2"
    hits = [{"source": "b.pdf", "heading": "", "page": 2, "text": "退款", "score": 0.5}]
    column = fmt.hits_markdown(hits, "hybrid", "zh")
    assert column.startswith("### 混合检索（RRF）") and "**1. b.pdf，第2页**" in column
    assert fmt.hits_markdown([], "keyword", "zh") == "### 关键词检索\n\n*没有匹配结果*"


def test_system_and_metrics_in_chinese() -> None:
    info = {"model": "qwen", "device": "cpu", "quantization": "int8", "rope_scaling": None,
            "context_length": 4096, "native_context": 4096}
    out = fmt.system_markdown(info, {"path": "/kb", "documents": 1, "chunks": 2},
                              {"RAG pipeline": True, "code agent": False}, "zh")
    for part in ("### 生成模型", "| 设置 | 值 |", "| 量化 | int8 |", "| RoPE 缩放 | 无 |",
                 "| 设备 | cpu |", "4096 个词元（原生 4096）", "### 知识库", "1 个文档",
                 "RAG 流水线 ✓、代码助手 （未安装）"):
        assert part in out, part
    assert "尚未加载" in fmt.system_markdown(None, None, {}, "zh")
    rows = [fmt.metrics_record(1, {"time_to_first_token_s": 1.5, "tokens_per_second": 8,
                                   "kv_cache_hit_rate": 0.5})]
    figures = fmt.metrics_markdown(rows, {"hits": 1, "requests": 1}, "zh")
    assert "| 首词元延迟 | 1.50 秒 | 1.50 秒 |" in figures and "| KV 缓存命中率 | 50% | 50% |" in figures
    assert "**回答数：** 1，答案缓存命中：0；代码助手轮次：0" in figures and "**前缀缓存：** 1/1 次请求命中" in figures
    assert {r["metric"] for r in fmt.metrics_long(rows, "zh")} == {
        "首词元延迟（秒）", "词元/秒", "KV 缓存命中率（%）"}


def test_code_agent_log_in_chinese() -> None:
    events = [{"kind": "plan", "round": 0, "data": {"plan": "1. 去掉空格"}},
              {"kind": "code", "round": 1, "data": {"code": "def f(): ...",
                                                    "syntax_error": "bad"}},
              {"kind": "tests", "round": 1, "data": {"phase": "run", "result": {
                  "status": "failed", "passed": 0, "total": 1,
                  "tests": [{"name": "test_a", "status": "failed", "message": "x"}]}}},
              {"kind": "round", "round": 1, "data": {"status": "failed", "passed": 0,
                                                     "total": 1, "feedback": "修复"}},
              {"kind": "done", "round": 1, "data": {"result": {
                  "passed": False, "test_source": "user", "tests_total": 1, "best_round": 1,
                  "tests_passed": 0, "stopped": "max_rounds", "seconds": 3}}}]
    out = format_code.agent_events_markdown(events, "zh")
    for part in ("### 计划", "### 第 1 轮", "**代码**", "✗ 语法错误: bad", "通过 0/1",
                 "*第 1 轮：`failed`，通过 0/1 个测试——给下一轮的反馈：修复*",
                 "### 完成——测试仍未通过 ✗", "最佳轮次 1，通过 0/1 个测试；结束原因：max_rounds"):
        assert part in out, part
    for english in ("Round", "Plan", "passed", "Done"):
        assert english not in out


def test_quality_report_in_both_languages() -> None:
    report = {"passed": 2, "total": 3, "max_complexity": 12, "notes": ["ruff missing"],
              "ruff": [{"code": "F401", "message": "`os` imported but unused", "line": 1}],
              "complexity": [{"name": "f", "line": 3, "complexity": 12},
                             {"name": "g", "line": 9, "complexity": 2}]}
    en = format_code.quality_markdown(report)
    assert en.startswith("### Code quality")
    for part in ("**Tests:** 2/3 passed (some failing)", "**Style (ruff): 1 finding(s)**",
                 "line 1: `F401`", "**Complexity: max 12 (cyclomatic)**",
                 "| `f` | 3 | 12 (high) |", "| `g` | 9 | 2 |", "_ruff missing_"):
        assert part in en, part
    zh = format_code.quality_markdown(report, "zh")
    for part in ("### 代码质量", "**测试:** 通过 2/3 (部分失败)", "第 1 行: `F401`",
                 "| 函数 | 行 | 复杂度 |",
                 "| `f` | 3 | 12（偏高） |", "**复杂度：最高 12（圈复杂度）**"):
        assert part in zh, part
    assert "not run" in format_code.quality_markdown({"ruff": [], "complexity": []})
    assert format_code.quality_markdown(None) == ""
