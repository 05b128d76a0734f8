"""The Gradio page: four tabs wired to :class:`~ragkit.ui.backend.Backend`.

Owns the layout, the event wiring and the streaming handlers (generators that yield updated
components). Every handler catches errors and shows :func:`ragkit.ui.format.error_markdown`
in the page; the traceback goes to the server log only. Text and tables come from
``format.py``; all work is done by the backend. Does not: parse CLI options (``cli/ui.py``).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from ragkit.ui import format as fmt
from ragkit.ui.backend import Backend, new_thread_id

log = logging.getLogger("ragkit.ui")

CSS = """
.rk-cite summary { cursor: pointer; font-size: 0.9em; }
.rk-cite blockquote { font-size: 0.85em; margin: 0.3em 0 0.6em 0.5em; opacity: 0.85; }
#state-panel { min-height: 12em; }
footer { display: none !important; }
"""
EXAMPLES = [
    "How long do refunds take?",
    "I want to return order BC-291108, it arrived damaged.",
    "退货运费谁承担？",
]
CHAT_MODES = [("Support assistant", "support"), ("Knowledge Q&A", "qa")]
# Labels follow the browser's language (English or Chinese); answers follow the question's.
_LABELS = {
    "chat": ("Support chat", "客服对话"), "knowledge": ("Knowledge", "知识库"),
    "code": ("Code agent", "代码助手"), "system": ("System", "系统"),
    "send": ("Send", "发送"), "stop": ("Stop", "停止"), "new": ("New conversation", "新对话"),
    "assistant": ("Assistant", "助手"), "conversation": ("Conversation", "对话"),
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
}
# Keys carry a prefix: bare ones such as "code" collide with Gradio's own translation groups.
I18N = gr.I18n(en={f"rk_{k}": v[0] for k, v in _LABELS.items()},
               zh={f"rk_{k}": v[1] for k, v in _LABELS.items()})


def T(key: str) -> Any:  # noqa: N802 - reads like gettext's _()
    return I18N(f"rk_{key}")


def _fail(exc: BaseException) -> str:
    if not isinstance(exc, gr.Error):
        log.exception("ui handler failed", exc_info=exc)
    return fmt.error_markdown(exc)


def build_app(backend: Backend) -> gr.Blocks:
    with gr.Blocks(title="ragkit") as demo:
        gr.Markdown("## ragkit — local assistants over your documents")
        with gr.Tabs():
            with gr.Tab(T("chat"), id="chat"):
                chat_tab(backend)
            with gr.Tab(T("knowledge"), id="knowledge"):
                knowledge_tab(backend, demo)
            with gr.Tab(T("code"), id="code"):
                code_tab(backend)
            with gr.Tab(T("system"), id="system"):
                system_tab(backend, demo)
    return demo


# -- support chat --------------------------------------------------------------------------
def chat_tab(backend: Backend) -> None:
    thread = gr.State("")
    with gr.Row():
        with gr.Column(scale=3):
            mode = gr.Radio(CHAT_MODES, value="support" if backend.features()["support assistant"]
                            else "qa", label=T("assistant"), elem_id="chat-mode")
            chatbot = gr.Chatbot(label=T("conversation"), elem_id="chatbot", height=460,
                                 buttons=["copy"], feedback_options=None,
                                 group_consecutive_messages=False)
            with gr.Row():
                box = gr.Textbox(placeholder="Ask about orders, returns, products… (English / 中文)",
                                 show_label=False, scale=6, elem_id="chat-input", autofocus=True)
                send = gr.Button(T("send"), variant="primary", scale=1, elem_id="chat-send")
                stop = gr.Button(T("stop"), variant="stop", scale=1, elem_id="chat-stop")
            with gr.Row():
                new = gr.Button(T("new"), size="sm", elem_id="chat-new")
                gr.Examples(EXAMPLES, inputs=box, label=None)
        with gr.Column(scale=2):
            gr.Markdown("#### Dialogue state")
            state_md = gr.Markdown(fmt.state_markdown(None), elem_id="state-panel")
            with gr.Accordion("Agent view (handed-off conversations)", open=False,
                              elem_id="agent-view"):
                refresh = gr.Button("Refresh handoffs", size="sm")
                picked = gr.Dropdown([], label="Conversation", elem_id="handoff-pick")
                agent_text = gr.Textbox(label="Agent reply", lines=2, elem_id="agent-reply")
                answer_btn = gr.Button("Send as agent (resume)", elem_id="agent-send")
                agent_out = gr.Markdown(elem_id="agent-result")

    def respond(text: str, history: list[dict], tid: str, how: str
                ) -> Iterator[tuple[Any, ...]]:
        if not text.strip():
            gr.Warning("Type a message first.")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        tid = tid or new_thread_id()
        history = [*history, fmt.user_message(text),
                   fmt.assistant_message("*loading the model (first use)…*"
                                         if not backend.generator_loaded() else "…")]
        yield "", history, tid, gr.skip()
        flag = backend.stop_flag(tid)
        buf, stopped, t_first = "", False, None
        try:
            before = backend.prefix_stats()
            t0 = time.perf_counter()
            turn = backend.send(tid, text, mode=how)
            for delta in turn.deltas:
                if t_first is None:
                    t_first = time.perf_counter()
                buf += delta
                history[-1] = fmt.assistant_message(fmt.answer_content(buf))
                yield gr.skip(), history, tid, gr.skip()
                if flag.is_set():
                    turn.close()
                    stopped = True
                    break
            if stopped:
                history[-1] = fmt.assistant_message(fmt.answer_content(buf, stopped=True))
                yield gr.skip(), history, tid, gr.skip()
                return
            final = turn.finish()
            text_out = final.get("text") or final.get("answer") or buf
            history[-1] = fmt.assistant_message(fmt.answer_content(
                text_out, final.get("citations") or [], lang=final.get("language"),
                refused=bool(final.get("refused")), handoff=bool(final.get("handoff")),
                ticket_id=final.get("ticket_id")))
            usage = final.get("usage") or backend.measured_usage(text_out, t0, t_first, before)
            if usage:
                backend.record(usage, kind=how)
            if "state" in final or (how == "support" and backend.state(tid)):
                state = final.get("state") or backend.state(tid)
                panel = fmt.state_markdown(state, final.get("tool_calls") or [])
            else:  # knowledge Q&A: no dialogue state, show how the answer was found
                panel = fmt.qa_markdown(final)
            yield gr.skip(), history, tid, panel
        except Exception as exc:  # shown in the chat, logged on the server
            partial = fmt.answer_content(buf) + "\n\n" if buf else ""
            history[-1] = fmt.assistant_message(partial + _fail(exc))
            yield gr.skip(), history, tid, gr.skip()

    inputs, outputs = [box, chatbot, thread, mode], [box, chatbot, thread, state_md]
    send.click(respond, inputs, outputs, concurrency_id="generate")
    box.submit(respond, inputs, outputs, concurrency_id="generate")
    stop.click(lambda tid: backend.stop(tid), thread, None, queue=False)
    new.click(lambda: ([], "", fmt.state_markdown(None)), None, [chatbot, thread, state_md],
              queue=False)

    def list_handoffs() -> Any:
        try:
            return gr.update(choices=fmt.handoff_choices(backend.handoffs()), value=None), ""
        except Exception as exc:
            return gr.skip(), _fail(exc)

    def agent_answer(tid: str, reply: str, mine: str, history: list[dict]) -> Any:
        try:
            result = backend.resume(tid, reply)
        except Exception as exc:
            return _fail(exc), gr.skip(), gr.skip()
        note = f"Sent to `{tid}`; the conversation is back with the assistant."
        if tid == mine:
            history = [*history, fmt.assistant_message(f"**Agent:** {reply}")]
            state = result.get("state") or backend.state(tid)
            return note, history, fmt.state_markdown(state)
        return note, gr.skip(), gr.skip()

    refresh.click(list_handoffs, None, [picked, agent_out])
    answer_btn.click(agent_answer, [picked, agent_text, thread, chatbot],
                     [agent_out, chatbot, state_md])


# -- knowledge -----------------------------------------------------------------------------
def knowledge_tab(backend: Backend, demo: gr.Blocks) -> None:
    with gr.Row():
        pick = gr.Dropdown(backend.list_kbs(), value=str(backend.kb_dir), label=T("kb"),
                           scale=4, elem_id="kb-pick", allow_custom_value=True)
        name = gr.Textbox(label=T("new_kb"), placeholder="name", scale=2,
                          elem_id="kb-new-name")
        create = gr.Button(T("create"), scale=1, elem_id="kb-create")
    status = gr.Markdown(elem_id="kb-status")
    with gr.Row():
        files = gr.File(file_count="multiple", label=T("upload"), elem_id="kb-upload", scale=3)
        with gr.Column(scale=2):
            folder = gr.Textbox(label=T("folder"), elem_id="kb-folder",
                                placeholder="/path/to/docs")
            run = gr.Button(T("index"), variant="primary", elem_id="kb-index")
    report = gr.Markdown(elem_id="index-report")
    gr.Markdown("#### Search playground")
    with gr.Row():
        query = gr.Textbox(show_label=False, placeholder="search query", scale=5,
                           elem_id="search-query")
        k = gr.Slider(1, 20, value=5, step=1, label="k", scale=1)
        go = gr.Button(T("search"), scale=1, elem_id="search-go")
    with gr.Row():
        cols = [gr.Markdown(elem_id=f"hits-{m}") for m in ("dense", "keyword", "hybrid")]

    def show_status() -> str:
        try:
            return fmt.kb_status_markdown(backend.kb_status())
        except Exception as exc:
            return _fail(exc)

    def use(path: str) -> Any:
        try:
            return fmt.kb_status_markdown(backend.select_kb(path)), gr.skip()
        except Exception as exc:
            return _fail(exc), gr.skip()

    def make(new_name: str) -> Any:
        try:
            st = backend.create_kb(new_name)
            return (fmt.kb_status_markdown(st),
                    gr.update(choices=backend.list_kbs(), value=st["path"]), "")
        except Exception as exc:
            return _fail(exc), gr.skip(), gr.skip()

    def index(uploaded: list[str] | None, path: str, progress: gr.Progress = gr.Progress()  # noqa: B008
              ) -> Any:
        try:
            targets: list[Path] = []
            if uploaded:
                dest = backend.kb_dir / "uploads"
                dest.mkdir(exist_ok=True)
                for f in uploaded:
                    shutil.copy2(f, dest / Path(f).name)
                targets.append(dest)
            if path and path.strip():
                targets.append(Path(path.strip()))

            def tick(stage: str, done: int, total: int) -> None:
                progress((done, max(total, 1)), desc=fmt.progress_label(stage, done, total))

            rep = backend.index(targets, progress=tick)
            return fmt.sync_report_markdown(rep), show_status(), None
        except Exception as exc:
            return _fail(exc), gr.skip(), gr.skip()

    def search(q: str, top: float) -> Any:
        try:
            res = backend.search_all(q, int(top))
        except Exception as exc:
            return _fail(exc), "", ""
        return tuple(fmt.hits_markdown(res[m], t) for m, t in
                     (("dense", "Dense"), ("keyword", "Keyword"), ("hybrid", "Hybrid (RRF)")))

    demo.load(show_status, None, status)
    pick.change(use, pick, [status, pick])
    create.click(make, name, [status, pick, name])
    run.click(index, [files, folder], [report, status, files], concurrency_id="index")
    go.click(search, [query, k], cols)
    query.submit(search, [query, k], cols)


# -- code agent ----------------------------------------------------------------------------
def code_tab(backend: Backend) -> None:
    run_key = gr.State("")
    with gr.Row():
        with gr.Column(scale=2):
            task = gr.Textbox(label=T("task"), lines=4, elem_id="code-task", placeholder=(
                "Write a function is_palindrome(s: str) -> bool that ignores case and spaces."))
            tests = gr.Code(label=T("tests"),
                            language="python", lines=6, elem_id="code-tests")
            with gr.Row():
                go = gr.Button(T("run"), variant="primary", elem_id="code-run")
                stop = gr.Button(T("stop"), variant="stop", elem_id="code-stop")
        with gr.Column(scale=3):
            rounds = gr.Markdown(elem_id="agent-log")
            quality = gr.Markdown(elem_id="quality-report")
            final = gr.Code(label=T("final"), language="python", interactive=False,
                            elem_id="final-code")
            download = gr.File(label=T("download"), elem_id="code-download", interactive=False)

    def solve(text: str, test_src: str) -> Iterator[tuple[Any, ...]]:
        key = new_thread_id()
        yield key, "*working…*", "", "", None
        events: list[dict] = []
        flag = backend.stop_flag(key)
        try:
            for ev in backend.solve(text, test_src, stop=flag):
                events.append(ev)
                body = fmt.agent_events_markdown(events)
                if ev["kind"] == "done":
                    res = ev["data"].get("result") or {}
                    code = str(res.get("code") or "")
                    qual = ev["data"].get("report_markdown") or ""
                    path = str(backend.save_code(code)) if code else None
                    yield key, body, qual, code, path
                    return
                yield key, body, gr.skip(), gr.skip(), gr.skip()
            if flag.is_set():
                yield key, fmt.agent_events_markdown(events) + "\n\n*stopped*", "", "", None
        except Exception as exc:
            yield key, fmt.agent_events_markdown(events) + "\n\n" + _fail(exc), "", "", None

    go.click(solve, [task, tests], [run_key, rounds, quality, final, download],
             concurrency_id="generate")
    stop.click(lambda key: backend.stop(key), run_key, None, queue=False)


# -- system --------------------------------------------------------------------------------
def system_tab(backend: Backend, demo: gr.Blocks) -> None:
    info = gr.Markdown(elem_id="system-info")
    with gr.Row():
        load = gr.Button(T("load"), size="sm", elem_id="system-load")
        refresh = gr.Button(T("refresh"), size="sm", elem_id="system-refresh")
    figures = gr.Markdown(elem_id="system-metrics")
    plot = gr.LinePlot(x="turn", y="value", color="metric", title="Generation over the session",
                       x_title="answer", y_title="value", height=260, elem_id="system-plot")
    timer = gr.Timer(5.0)

    def snapshot() -> tuple[Any, ...]:
        import pandas as pd

        try:
            kb = backend.kb_status()
        except Exception as exc:
            kb = {"path": f"{backend.kb_dir} ({fmt.error_text(exc)})"}
        try:
            text = fmt.system_markdown(backend.generator_info(), kb, backend.features())
            metrics = fmt.metrics_markdown(backend.metrics, backend.prefix_stats())
        except Exception as exc:
            return _fail(exc), "", gr.skip()
        frame = pd.DataFrame(fmt.metrics_long(backend.metrics),
                             columns=["turn", "metric", "value"])
        return text, metrics, frame

    def load_model() -> tuple[Any, ...]:
        try:
            backend.generator()
        except Exception as exc:
            return _fail(exc), gr.skip(), gr.skip()
        return snapshot()

    demo.load(snapshot, None, [info, figures, plot])
    refresh.click(snapshot, None, [info, figures, plot])
    timer.tick(snapshot, None, [info, figures, plot], show_progress="hidden")
    load.click(load_model, None, [info, figures, plot])


def launch(backend: Backend, *, host: str = "127.0.0.1", port: int = 7860,
           open_browser: bool = False, on_ready: Any = None) -> None:
    """Serve the app until interrupted. ``on_ready(url)`` is called once it listens."""
    demo = build_app(backend)
    demo.queue(default_concurrency_limit=1)
    try:
        _, url, _ = demo.launch(
            server_name=host, server_port=port, inbrowser=open_browser, css=CSS,
            theme=gr.themes.Soft(), show_error=False, footer_links=[], quiet=True, i18n=I18N,
            prevent_thread_lock=True)
    except OSError as exc:
        from ragkit.errors import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port} ({exc}); pass another --port") from None
    if on_ready is not None:
        on_ready(url)
    try:
        demo.block_thread()
    finally:
        demo.close()
