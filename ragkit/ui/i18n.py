"""The UI's two languages: every phrase the app writes itself, in English and Chinese.

Owns the phrase table (:data:`WORDS`), :func:`word` (a phrase filled in for one language),
and the two ways a language is chosen: :func:`lang_from_header` (the browser's
``Accept-Language``, which also decides Gradio's own labels) for the page's panels, and
:func:`detect_lang` (the text itself) for the notes attached to an answer, which follow the
language of the question. Pure; knows nothing about Gradio. Messages of :class:`RagkitError`
raised by the SDK stay as the SDK wrote them (English); the app's own input checks are
translated (:class:`InputError` carries a phrase key).
"""

from __future__ import annotations

from ragkit.errors import ConfigError

Lang = str  # "en" | "zh"
LANGS = ("en", "zh")

# key -> (English, Chinese); "{name}" fields are filled by word(key, lang, name=...).
WORDS: dict[str, tuple[str, str]] = {
    # answers and chat
    "sources": ("Sources", "来源"),
    "page": ("p. {page}", "第{page}页"),
    "stopped": ("stopped", "已停止"),
    "refused": ("not found in the knowledge base", "知识库中没有找到答案"),
    "handoff": ("handed off to a human agent", "已转人工客服"),
    "ticket": ("ticket", "工单"),
    "verified": ("Verified customer", "已验证客户"),
    "waiting_agent": ("waiting for an agent", "等待人工客服"),
    "handoff_returned": ("answered by an agent, back with the assistant",
                         "人工客服已回复，已交还助手"),
    "offer_person": ("offered a person (yes hands over)", "已提议转人工（回复“是”即转接）"),
    "loading_model": ("loading the model (first use)…", "正在加载模型（首次使用）……"),
    "working": ("working…", "运行中……"),
    "agent_said": ("Agent", "人工客服"),
    "agent_sent": ("Sent to `{thread}`; the conversation is back with the assistant.",
                   "已发送到 `{thread}`；对话已交回助手。"),
    # errors
    "error": ("Error", "错误"),
    "warning": ("Warning", "提示"),
    "unexpected": ("Unexpected error ({detail}). The details are in the terminal running "
                   "`ragkit ui`; please report it if it happens again.",
                   "意外错误（{detail}）。详情见运行 `ragkit ui` 的终端；如再次出现请报告。"),
    "need_message": ("type a message first", "请先输入消息"),
    "passage_moved": ("The file changed since it was indexed and the cited passage is not "
                      "in it any more; re-index it in the Knowledge tab.",
                      "文件在建立索引后有改动，引用的段落已不在其中；请在“知识库”页重新索引。"),
    "source_gone": ("{source} is no longer in the knowledge base.", "{source} 已不在知识库中。"),
    "need_source": ("pick a source of the last answer first", "请先选择上一条回答的来源"),
    "language_en": ("English", "英文"), "language_zh": ("Chinese", "中文"),
    "doc_indexed": ("indexed", "已索引"),
    "doc_changed": ("file changed: re-index", "文件已改动：请重新索引"),
    "doc_missing": ("file gone from disk", "文件已不在磁盘上"),
    "kb_settings": ("Settings (fixed when the knowledge base was created)",
                    "设置（创建知识库时确定）"),
    "no_regenerate_support": (
        "A support reply cannot be regenerated: it may already have looked up or changed an "
        "order. Say what was wrong in a new message, or switch to Knowledge Q&A.",
        "客服回复不能重新生成：它可能已经查询或修改了订单。请在新消息里说明哪里不对，或切换到“知识问答”。"),
    "no_regenerate_busy": ("wait for the answer being written to finish (or press Stop), "
                           "then regenerate", "请等当前回答写完（或按“停止”）后再重新生成"),
    "need_document": ("pick a document in the table first", "请先在表格中选择一个文档"),
    "document_file_gone": ("the file of {source} is gone from this machine, so it cannot be "
                           "read again; delete it from the knowledge base or index it anew",
                           "{source} 的文件已不在本机，无法重新读取；请将其从知识库删除或重新建立索引"),
    "document_removed": ("{source} was removed from the knowledge base.",
                         "已从知识库中删除 {source}。"),
    "thread_unknown": ("pick a conversation from the list first",
                       "请先从列表中选择一个对话"),
    "thread_title_empty": ("type the new name first", "请先输入新名称"),
    "thread_deleted": ("Conversation deleted.", "对话已删除。"),
    "feedback_unknown": ("that reply was not produced in this session, so it cannot be "
                         "rated; rate a reply you just received",
                         "这条回复不是本次会话生成的，无法评价；请评价刚收到的回复"),
    "feedback_saved": ("Thanks: your feedback is saved with the answer and its sources.",
                       "谢谢：您的反馈已与答案及其来源一起保存。"),
    "need_query": ("type something to search for", "请输入要搜索的内容"),
    "need_files": ("nothing to index: upload files or type a folder path first",
                   "没有可索引的内容：请先上传文件或填写文件夹路径"),
    "need_task": ("describe the task first, e.g. 'write is_palindrome(s)'",
                  "请先描述任务，例如“编写 is_palindrome(s)”"),
    "need_handoff": ("pick a handed-off conversation first", "请先选择一个已转人工的对话"),
    "need_reply": ("type the agent's reply first", "请先输入客服回复"),
    "bad_kb_name": ("give the new knowledge base a plain name such as `my-docs` (letters, "
                    "digits, dashes; no slashes)",
                    "请给新知识库起一个简单的名字，例如 `my-docs`（字母、数字、短横线；不含斜杠）"),
    "kb_exists": ("a knowledge base named {name!r} already exists; pick it from the list "
                  "instead", "名为 {name!r} 的知识库已存在；请从列表中选择它"),
    "not_a_kb": ("{path} is not a knowledge base; create it first or pick one from the list",
                 "{path} 不是知识库；请先创建，或从列表中选择一个"),
    "missing_part": ("the {part} ({module}) is not installed in this environment; reinstall "
                     "ragkit with `pip install -e .`",
                     "当前环境未安装{part}（{module}）；请用 `pip install -e .` 重新安装 ragkit"),
    # dialogue state and Q&A panels
    "no_conversation": ("No conversation yet.", "还没有对话。"),
    "intent": ("Intent", "意图"),
    "stack": ("Stack", "意图栈"),
    "slot": ("slot", "槽位"),
    "value": ("value", "值"),
    "slots": ("Slots", "槽位"),
    "pending": ("Pending confirmation", "待确认"),
    "handoff_label": ("Handoff", "转人工"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "action": ("Action", "操作"),
    "mode": ("Mode", "模式"),
    "qa_mode": ("knowledge Q&A", "知识问答"),
    "searched_for": ("Searched for", "检索问题"),
    "confidence": ("Retrieval confidence", "检索置信度"),
    "citations": ("Citations", "引用"),
    "relevance": ("Best evidence relevance", "最佳证据相关度"),
    "evidence": ("Evidence", "证据"),
    "not_cited": ("(not cited)", "（未引用）"),
    # the RAG graph's stages, as the side panel times them
    "stage_screen": ("screen", "安全检查"), "stage_cache": ("cache", "缓存"),
    "stage_condense": ("condense", "改写问题"), "stage_retrieve": ("retrieve", "检索"),
    "stage_evidence": ("evidence", "选证据"), "stage_select": ("select", "组织资料"),
    "stage_check": ("check", "可答判断"), "stage_generate": ("generate", "生成"),
    "stage_verify": ("verify", "核对引用"), "stage_respond": ("respond", "回复"),
    "quoted_note": ("The model did not phrase a supported answer, so the evidence is quoted.",
                    "模型未能给出有依据的回答，因此直接引用证据。"),
    "kb_answer": ("Answered from the knowledge base", "来自知识库的回答"),
    "quoted_first_note": ("The evidence is quoted as written (with a rendering when it is in "
                          "the other language), without asking the model to phrase it.",
                          "证据按原文引用（另一种语言的证据附大意），没有交给模型改写。"),
    "stages": ("Time per stage", "各阶段用时"),
    "refused_note": (" (refused: not in the knowledge base)", "（拒答：知识库中没有）"),
    # knowledge base
    "kb_status": ("{documents} documents, {chunks} chunks; embedder `{embedder}`, index "
                  "`{index}`", "{documents} 个文档，{chunks} 个片段；嵌入模型 `{embedder}`，"
                  "索引 `{index}`"),
    "kb_stale": (" (index will rebuild on next search)", "（下次搜索时重建索引）"),
    "indexed": ("**Indexed** in {s:.1f}s: {added} added, {updated} updated, {removed} "
                "removed, {unchanged} unchanged; {chunks} chunks embedded.",
                "**索引完成**，用时 {s:.1f} 秒：新增 {added}，更新 {updated}，删除 {removed}，"
                "未变 {unchanged}；嵌入 {chunks} 个片段。"),
    "skipped": ("{n} file(s) skipped:", "跳过 {n} 个文件："),
    "stage_scan": ("reading files", "读取文件"),
    "stage_parse": ("parsing new and changed files", "解析新增和修改的文件"),
    "stage_embed": ("embedding chunks", "嵌入片段"),
    "stage_load": ("loading the embedder", "加载嵌入模型"),
    "stage_write": ("writing", "写入"),
    "no_matches": ("no matches", "没有匹配结果"),
    "dense": ("Dense", "向量检索"),
    "keyword": ("Keyword", "关键词检索"),
    "hybrid": ("Hybrid (RRF)", "混合检索（RRF）"),
    # code agent
    "round": ("Round {n}", "第 {n} 轮"),
    "plan": ("Plan", "计划"),
    "code": ("Code", "代码"),
    "syntax_error": ("syntax error", "语法错误"),
    "tests": ("Tests", "测试"),
    "tests_user": ("your tests", "你的测试"),
    "tests_self": ("tests the agent wrote", "助手编写的测试"),
    "tests_other": ("tests", "测试"),
    "passed_of": ("{passed}/{total} passed", "通过 {passed}/{total}"),
    "round_line": ("Round {n}: `{status}`, {passed}/{total} tests passed",
                   "第 {n} 轮：`{status}`，通过 {passed}/{total} 个测试"),
    "feedback": (" — feedback for the next round: ", "——给下一轮的反馈："),
    "done_pass": ("Done — tests pass ✓", "完成——测试通过 ✓"),
    "done_none": ("Done — no tests were run", "完成——未运行测试"),
    "done_fail": ("Done — tests still failing ✗", "完成——测试仍未通过 ✗"),
    "done_trusted": ("Done — passes the tests it trusts ✓", "完成——通过了它信任的测试 ✓"),
    "v_passes_your_tests": ("Verdict: passes your tests.", "结论：通过了你的测试。"),
    "v_fails_your_tests": ("Verdict: fails your tests.", "结论：未通过你的测试。"),
    "v_passes_trusted_tests": ("Verdict: passes the tests it trusts (its own; check them).",
                               "结论：通过了它信任的测试（它自己写的，请核对）。"),
    "v_uncertain": ("Verdict: uncertain — its own tests do not vouch for this code.",
                    "结论：不确定——它自己写的测试不能证明这段代码正确。"),
    "distrusted": ("Distrusted test", "不信任的测试"),
    "done_budget": ("Stopped by the time budget: this is the best code so far.",
                    "已到时间预算：这是目前最好的代码。"),
    "done_tidied": ("Removed from the final code: ", "已从最终代码中删除："),
    "done_line": ("Best round {best}, {passed}/{total} tests passed; stopped: {stopped}, "
                  "{s:.0f}s.", "最佳轮次 {best}，通过 {passed}/{total} 个测试；结束原因：{stopped}，"
                  "用时 {s:.0f} 秒。"),
    "quality": ("Code quality", "代码质量"),
    "q_tests": ("Tests", "测试"),
    "q_not_run": ("not run", "未运行"),
    "q_all": ("all passed", "全部通过"),
    "q_some": ("some failing", "部分失败"),
    "q_style": ("Style (ruff): {n} finding(s)", "代码风格（ruff）：{n} 个问题"),
    "q_line": ("line {line}", "第 {line} 行"),
    "q_line_col": ("line", "行"),
    "q_complexity": ("Complexity: max {n} (cyclomatic)", "复杂度：最高 {n}（圈复杂度）"),
    "q_function": ("function", "函数"),
    "q_complex_col": ("complexity", "复杂度"),
    "q_high": (" (high)", "（偏高）"),
    # system
    "generator": ("Generator", "生成模型"),
    "not_loaded": ("not loaded yet (loads on the first question)", "尚未加载（首次提问时加载）"),
    "setting": ("setting", "设置"),
    "s_model": ("model", "模型"),
    "s_arch": ("architecture", "架构"),
    "s_params": ("parameters", "参数量"),
    "s_device": ("device", "设备"),
    "s_dtype": ("dtype", "数据类型"),
    "s_quant": ("quantization", "量化"),
    "s_rope": ("RoPE scaling", "RoPE 缩放"),
    "s_context": ("context", "上下文"),
    "s_threads": ("threads", "线程数"),
    "none": ("none", "无"),
    "context_value": ("{n} tokens (native {native})", "{n} 个词元（原生 {native}）"),
    "kb": ("Knowledge base", "知识库"),
    "components": ("Components", "组件"),
    "not_installed": ("(not installed)", "（未安装）"),
    "RAG pipeline": ("RAG pipeline", "RAG 流水线"),
    "support assistant": ("support assistant", "客服助手"),
    "code agent": ("code agent", "代码助手"),
    "session": ("This session", "本次会话"),
    "no_answers": ("No answers yet.", "还没有回答。"),
    "last": ("last", "最近一次"),
    "average": ("average", "平均"),
    "ttft": ("time to first token", "首词元延迟"),
    "tps": ("tokens/s", "词元/秒"),
    "kv_rate": ("KV-cache hit rate", "KV 缓存命中率"),
    "m_ttft": ("time to first token (s)", "首词元延迟（秒）"),
    "m_tps": ("tokens/s", "词元/秒"),
    "m_kv": ("KV-cache hit rate (%)", "KV 缓存命中率（%）"),
    "m_answer": ("reply #", "回复序号"),
    "m_value": ("value", "数值"),
    "answers": ("**Answers:** {n}, answer-cache hits: {hits}; code-agent rounds: {rounds}",
                "**回答数：** {n}，答案缓存命中：{hits}；代码助手轮次：{rounds}"),
    "prefix": ("**Prefix cache:** {hits}/{requests} requests hit, {saved} prompt tokens reused, "
               "{mib:.0f} MiB used", "**前缀缓存：** {hits}/{requests} 次请求命中，复用 {saved} 个"
               "提示词元，占用 {mib:.0f} MiB"),
    # guardrails (the Guardrails tab's own text)
    "guard_category": ("category", "类别"), "guard_action": ("action", "处理方式"),
    "guard_empty": ("Type a category and at least one term (or a text to check).",
                    "请填写类别和至少一个词语（或要检查的文字）。"),
    "guard_none": ("Nothing recorded yet.", "暂无记录。"),
    "guard_pass": ("passes: nothing found", "通过：没有发现问题"),
    "guard_result": ("**{action}**", "处理方式：**{action}**"),
    "guard_own": ("This knowledge base's own lists ({path}).", "本知识库自己的词表（{path}）。"),
    "guard_default": ("ragkit's default lists; the first edit gives this knowledge base its own "
                      "copy.", "ragkit 的默认词表；第一次修改时会为本知识库复制一份。"),
}


CHAT_MODES: dict[str, tuple[str, str]] = {"support": ("Support assistant", "客服助手"), "qa": ("Knowledge Q&A", "知识问答")}
# The page's fixed labels (Gradio translates them in the browser, see ragkit.ui.app.I18N).
LABELS: dict[str, tuple[str, str]] = {
    "title": ("## ragkit — local assistants over your documents", "## ragkit — 基于你的文档的本地助手"),
    "state": ("#### Dialogue state", "#### 对话状态"),
    "agent_view": ("Agent view (handed-off conversations)", "人工客服视图（已转人工的对话）"),
    "refresh_handoffs": ("Refresh handoffs", "刷新转人工列表"),
    "agent_reply": ("Agent reply", "客服回复"),
    "agent_send": ("Send as agent (resume)", "以客服身份发送（恢复对话）"),
    "ask": ("Ask about orders, returns, products… (English / 中文)",
            "询问订单、退货、商品……（中文 / English）"),
    "playground": ("#### Search playground", "#### 搜索试验场"),
    "query": ("search query", "搜索内容"), "name": ("name", "名称"),
    "chart": ("Generation over the session", "本次会话的生成指标"),
    "examples": ("Examples", "示例"),
    "task_hint": ("Write a function is_palindrome(s: str) -> bool that ignores case and spaces.",
                  "编写函数 is_palindrome(s: str) -> bool，忽略大小写和空格。"),
    "chat": ("Support chat", "客服对话"), "knowledge": ("Knowledge", "知识库"),
    "code": ("Code agent", "代码助手"), "system": ("System", "系统"),
    "send": ("Send", "发送"), "stop": ("Stop", "停止"), "new": ("New conversation", "新对话"),
    "assistant": ("Assistant", "助手"), "conversation": ("Conversation", "对话"),
    "conversations": ("Conversations", "对话记录"), "rename": ("Rename", "重命名"),
    "documents": ("#### Documents", "#### 文档"), "document": ("Document", "文档"),
    "reindex": ("Re-index", "重新索引"),
    "open_source": ("Open a source of the last answer", "打开上一条回答的来源"),
    "copy_answer": ("Copy the answer with its sources", "复制回答及来源"),
    "sources_panel": ("Sources", "来源"), "original": ("Download the original", "下载原文件"),
    "delete": ("Delete", "删除"), "new_title": ("New name", "新名称"),
    "kb": ("Knowledge base", "知识库"), "create": ("Create", "创建"),
    "index": ("Index", "建立索引"), "search": ("Search", "搜索"), "task": ("Task", "任务"),
    "run": ("Run agent", "运行"), "final": ("Final code", "最终代码"),
    "download": ("Download", "下载"), "load": ("Load the model now", "立即加载模型"),
    "refresh": ("Refresh", "刷新"), "new_kb": ("New knowledge base", "新建知识库"),
    "upload": ("Upload files (md, txt, html, pdf, docx, json/jsonl FAQ)",
               "上传文件（md、txt、html、pdf、docx、json/jsonl 问答）"),
    "folder": ("…or a folder on this machine", "……或本机上的文件夹"),
    "tests": ("Tests (optional, Python: test_* functions or asserts)",
              "测试（可选，Python：test_* 函数或 assert）"),
    # guardrails
    "guard": ("Guardrails", "安全护栏"),
    "guard_lists": ("#### Word lists", "#### 敏感词表"),
    "guard_category": ("category", "类别"), "guard_action": ("action", "处理方式"),
    "guard_terms": ("terms (comma or one per line)", "词语（逗号分隔或每行一个）"),
    "guard_add": ("Add", "添加"), "guard_remove": ("Remove", "删除"),
    "guard_try": ("#### Try a text", "#### 试一试"),
    "guard_text": ("text to check", "要检查的文字"), "guard_check": ("Check", "检查"),
    "guard_as": ("checked as", "检查对象"),
    "guard_audit": ("#### Audit trail (last 7 days)", "#### 审计记录（最近 7 天）"),
    "guard_export": ("Export all (CSV)", "全部导出（CSV）"),
}


def word(key: str, lang: Lang = "en", **fields: object) -> str:
    """The phrase ``key`` in ``lang`` (English for any other language), fields filled in.

    An unknown key is returned unchanged, so a label the table does not know still shows.
    """
    entry = WORDS.get(key)
    if entry is None:
        return key
    text = entry[1] if lang == "zh" else entry[0]
    return text.format(**fields) if fields else text


def mode_choices(lang: Lang) -> list[tuple[str, str]]:
    """(label, value) pairs of the chat's assistant picker in ``lang``."""
    return [(zh if lang == "zh" else en, key) for key, (en, zh) in CHAT_MODES.items()]


def detect_lang(text: str) -> Lang:
    """"zh" when the text holds CJK characters, else "en"."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def lang_from_header(accept_language: str | None) -> Lang:
    """The page language from an ``Accept-Language`` header: "zh" when the browser's
    preferred language (highest q, first on ties) is Chinese, else "en"."""
    best, best_q = "", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, val = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if tag and q > best_q:
            best, best_q = tag.lower(), q
    return "zh" if best.split("-")[0] == "zh" else "en"


class InputError(ConfigError):
    """Bad input to the app itself (an empty box, a bad name): the message is a phrase of
    :data:`WORDS`, so the page can show it in the reader's language."""

    def __init__(self, key: str, **fields: object) -> None:
        super().__init__(word(key, "en", **fields))
        self.key = key
        self.fields = fields

    def text(self, lang: Lang) -> str:
        return word(self.key, lang, **self.fields)
