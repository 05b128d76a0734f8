"""The Gradio page: four tabs wired to :class:`~ragkit.ui.backend.Backend`.

Owns the layout, the event wiring and the streaming handlers (generators that yield updated
components). Every handler catches errors and shows :func:`ragkit.ui.format.error_markdown`
in the page; the traceback goes to the server log only. Text and tables come from
``format.py``; all work is done by the backend. Does not: parse CLI options (``cli/ui.py``).

Language: the page follows the browser's language. Fixed labels are Gradio translations
(:data:`I18N`, resolved in the browser); panels rendered here read the same preference from
the request's ``Accept-Language`` (:func:`lang_of`). An answer and the notes attached to it
follow the language of the question.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from ragkit.errors import RagkitError
from ragkit.ui import format as fmt
from ragkit.ui import format_code
from ragkit.ui.backend import MODES, Backend, new_thread_id
from ragkit.ui.i18n import LABELS, InputError, Lang, lang_from_header, mode_choices, word

log = logging.getLogger("ragkit.ui")

CSS = """
.rk-cite summary { cursor: pointer; font-size: 0.9em; }
.rk-cite blockquote { font-size: 0.85em; margin: 0.3em 0 0.6em 0.5em; opacity: 0.85; }
#state-panel { min-height: 12em; }
/* the chat's label and its buttons sit over the messages: the scrolling area starts below
   them, so no message, scrolled or not, passes under them */
#chatbot .bubble-wrap { margin-top: 2.5rem; height: calc(100% - 2.5rem); padding-top: 0.5rem; }
footer { display: none !important; }
/* the conversation list scrolls on its own: grown long, it had pushed Rename and Delete off
   the screen (seen in a walk) */
#thread-list .wrap { max-height: 55vh; overflow-y: auto; }
/* a support reply may have acted (a ticket, a refund): it is never answered again, so it
   shows no retry button (Gradio's label for it, in English and Chinese pages) */
#chatbot.rk-support button[aria-label="Retry"], #chatbot.rk-support button[aria-label="重试"] {
  display: none !important; }
"""
EXAMPLES = {  # the page's language picks the set (the sample store is bilingual)
    "en": ["How long do refunds take?",
           "I want to return order BC-291108, it arrived damaged.",
           "Who pays for return shipping?"],
    "zh": ["退款多久能到账？", "我想退订单 BC-291108，收到时已经损坏了。", "退货运费谁承担？"],
}
# Keys carry a prefix: bare ones such as "code" collide with Gradio's own translation groups.
I18N = gr.I18n(en={f"rk_{k}": v[0] for k, v in LABELS.items()},
               zh={f"rk_{k}": v[1] for k, v in LABELS.items()})


def T(key: str) -> Any:  # noqa: N802 - reads like gettext's _()
    return I18N(f"rk_{key}")


def mode_classes(how: str) -> list[str]:
    """The chat's CSS classes in a mode: support hides the retry button (CSS above)."""
    return ["rk-support"] if how == "support" else []


def lang_of(request: gr.Request | None) -> Lang:
    """The page's language for one event: the browser's preferred one (en or zh)."""
    headers = getattr(request, "headers", None)
    return lang_from_header(headers.get("accept-language") if headers is not None else None)


def _fail(exc: BaseException, lang: Lang = "en") -> str:
    if not isinstance(exc, gr.Error | RagkitError):
        log.exception("ui handler failed", exc_info=exc)
    return fmt.error_markdown(exc, lang)


def build_app(backend: Backend) -> gr.Blocks:
    with gr.Blocks(title="ragkit") as demo:
        gr.Markdown(T("title"))
        with gr.Tabs():
            with gr.Tab(T("chat"), id="chat"):
                chat_tab(backend, demo)
            with gr.Tab(T("knowledge"), id="knowledge"):
                knowledge_tab(backend, demo)
            with gr.Tab(T("code"), id="code"):
                code_tab(backend)
            with gr.Tab(T("guard"), id="guard"):
                guard_tab(backend, demo)
            with gr.Tab(T("system"), id="system"):
                system_tab(backend, demo)
    return demo


# -- support chat --------------------------------------------------------------------------
# Chatbot feedback: "Like"/"Dislike" are the thumbs; the others sit under its flag (one label
# for both languages: the component is built once) and are thumbs down for that reason.
FEEDBACK_REASON = {"Wrong answer · 答案错误": "wrong answer",
                   "Wrong source · 来源不对": "wrong source",
                   "Should have answered · 应该回答": "should have answered",
                   "Should not answer · 不应回答": "should not answer"}
FEEDBACK_OPTIONS = ["Like", "Dislike", *FEEDBACK_REASON]


def chat_tab(backend: Backend, demo: gr.Blocks) -> None:
    thread = gr.State("")
    with gr.Row():
        with gr.Column(scale=1, min_width=180, elem_id="thread-column"):
            threads = gr.Radio([], label=T("conversations"), elem_id="thread-list",
                               interactive=True)
            title_box = gr.Textbox(placeholder=T("new_title"), show_label=False,
                                   elem_id="thread-title", max_lines=1)
            with gr.Row():
                rename_btn = gr.Button(T("rename"), size="sm", elem_id="thread-rename")
                delete_btn = gr.Button(T("delete"), size="sm", variant="stop",
                                       elem_id="thread-delete")
        with gr.Column(scale=3):
            first_mode = "support" if backend.features()["support assistant"] else "qa"
            mode = gr.Radio(mode_choices("en"), value=first_mode,
                            label=T("assistant"), elem_id="chat-mode")
            # the window's height less the rows around it (a fixed 460 px left a third of a
            # 1260 px window empty and opened long answers scrolled past their start)
            chatbot = gr.Chatbot(label=T("conversation"), elem_id="chatbot",
                                 height="max(460px, calc(100vh - 420px))",
                                 buttons=["copy"], feedback_options=FEEDBACK_OPTIONS,
                                 group_consecutive_messages=False,
                                 elem_classes=mode_classes(first_mode))
            with gr.Row():
                box = gr.Textbox(placeholder=T("ask"), show_label=False, scale=6,
                                 elem_id="chat-input", autofocus=True)
                send = gr.Button(T("send"), variant="primary", scale=1, min_width=80,
                                 elem_id="chat-send")
                stop = gr.Button(T("stop"), variant="stop", scale=1, min_width=80,
                                 elem_id="chat-stop")
            with gr.Row():
                with gr.Column(min_width=120):
                    new = gr.Button(T("new"), size="sm", elem_id="chat-new")
                    copy_btn = gr.Button(T("copy_answer"), size="sm", elem_id="chat-copy")
                    plain = gr.Textbox(visible=False, elem_id="chat-plain")
                examples = {lang: gr.Examples([[q] for q in qs], inputs=box,
                                              label=T("examples"), visible=lang == "en")
                            for lang, qs in EXAMPLES.items()}
        with gr.Column(scale=2):
            gr.Markdown(T("state"))
            state_md = gr.Markdown(fmt.state_markdown(None), elem_id="state-panel")
            with gr.Accordion(T("sources_panel"), open=True, elem_id="source-panel"):
                source_pick = gr.Dropdown([], label=T("open_source"), elem_id="source-pick",
                                          interactive=True)
                source_view = gr.HTML(elem_id="source-view", max_height=420)
                source_page = gr.Image(visible=False, show_label=False, elem_id="source-page",
                                       interactive=False)
                source_file = gr.DownloadButton(T("original"), visible=False, size="sm",
                                                elem_id="source-download")
            with gr.Accordion(T("agent_view"), open=False, elem_id="agent-view"):
                refresh = gr.Button(T("refresh_handoffs"), size="sm")
                picked = gr.Dropdown([], label=T("conversation"), elem_id="handoff-pick")
                agent_text = gr.Textbox(label=T("agent_reply"), lines=2, elem_id="agent-reply")
                answer_btn = gr.Button(T("agent_send"), elem_id="agent-send")
                agent_out = gr.Markdown(elem_id="agent-result")

    def localize(request: gr.Request) -> Any:
        """Radio choices, the empty state panel and the examples in the page's language (the
        page is built in English)."""
        lang = lang_of(request)
        if lang == "en":
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (gr.update(choices=mode_choices(lang)), fmt.state_markdown(None, lang=lang),
                gr.update(visible=False), gr.update(visible=True))

    def respond(text: str, history: list[dict], tid: str, how: str, request: gr.Request
                ) -> Iterator[tuple[Any, ...]]:
        lang = lang_of(request)
        if not text.strip():
            gr.Warning(word("need_message", lang), title=word("warning", lang))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        yield from run_turn(text, history, tid or new_thread_id(), how, lang)

    def regenerate(retry: gr.RetryData, history: list[dict], tid: str, how: str,
                   request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """The retry button under the last answer: the same question answered again in its
        place (Knowledge Q&A; a support reply may have acted, so it is kept)."""
        lang = lang_of(request)
        index = retry.index if isinstance(retry.index, int) else retry.index[0]
        if how == "support" or not tid or not 0 <= index < len(history):
            key = "no_regenerate_support" if how == "support" else "thread_unknown"
            gr.Warning(word(key, lang), title=word("warning", lang))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        text = fmt.message_text(history[index])
        yield from run_turn(text, history[:index], tid, how, lang, regenerate=True)

    def run_turn(text: str, history: list[dict], tid: str, how: str, lang: Lang,
                 regenerate: bool = False) -> Iterator[tuple[Any, ...]]:
        """One question and its streamed reply after ``history``; Stop keeps what was shown."""
        qlang = fmt.detect_lang(text)
        waiting = f"*{word('loading_model', qlang)}*" if not backend.generator_loaded() else "…"
        shown_before = list(history)
        history = [*history, fmt.user_message(text), fmt.assistant_message(waiting)]
        yield "", history, tid, gr.skip()
        flag = backend.stop_flag(tid)
        buf, stopped, t_first, deltas = "", False, None, 0
        try:
            before = backend.prefix_stats()
            t0 = time.perf_counter()
            turn = backend.send(tid, text, mode=how, regenerate=regenerate)
            backend.running(tid, turn.interrupt)
            if flag.is_set() and turn.interrupt is not None:  # Stop came during the set-up
                turn.interrupt()
            for delta in turn.deltas:
                if t_first is None:
                    t_first = time.perf_counter()
                buf += delta
                deltas += 1
                history[-1] = fmt.assistant_message(fmt.answer_content(buf, lang=qlang))
                yield gr.skip(), history, tid, gr.skip()
                if flag.is_set():
                    turn.close()
                    break
            stopped = flag.is_set()  # by the loop above, or by interrupting the stream
            if stopped:
                history[-1] = fmt.assistant_message(
                    fmt.answer_content(buf, lang=qlang, stopped=True))
                yield gr.skip(), history, tid, gr.skip()
                return
            final = turn.finish()
            text_out = final.get("text") or final.get("answer") or buf
            backend.remember(tid, len(history) - 1, text, {**final, "text": text_out}, how)
            history[-1] = fmt.assistant_message(fmt.answer_content(
                text_out, final.get("citations") or [], lang=final.get("language") or qlang,
                refused=bool(final.get("refused")), handoff=bool(final.get("handoff")),
                ticket_id=final.get("ticket_id")))
            usage = final.get("usage") or backend.measured_usage(text_out, t0, t_first, before,
                                                                 deltas)
            if usage:
                backend.record(usage, kind=how)
            if "state" in final or (how == "support" and backend.state(tid)):
                state = final.get("state") or backend.state(tid)
                panel = fmt.state_markdown(state, final.get("tool_calls") or [], lang)
                if final.get("knowledge"):  # answered from the knowledge base: how
                    panel += "\n\n" + fmt.qa_markdown(final["knowledge"], lang, support=True)
            else:  # knowledge Q&A: no dialogue state, show how the answer was found
                panel = fmt.qa_markdown(final, lang)
            yield gr.skip(), history, tid, panel
        except Exception as exc:  # shown in the chat, logged on the server
            partial = fmt.answer_content(buf, lang=qlang) + "\n\n" if buf else ""
            history[-1] = fmt.assistant_message(partial + _fail(exc, lang))
            yield gr.skip(), history, tid, gr.skip()
        finally:
            backend.running(tid, None)
            try:  # the list and a later resume see the turn as it was shown, stop included
                backend.save_turn(tid, how, shown_before, history[len(shown_before):],
                                  replace=regenerate)
            except Exception:
                log.exception("could not save conversation %s to the list", tid)

    def thread_choices(current: str = "") -> Any:
        try:
            items = backend.threads()
        except Exception:
            log.exception("could not list conversations")
            return gr.skip()
        return gr.update(choices=[(t["title"], t["id"]) for t in items],
                         value=current if any(t["id"] == current for t in items) else None)

    def last_sources(tid: str, history: list[dict], request: gr.Request) -> Any:
        """The source picker offers the citations of the answer just given; the copy button
        holds it as plain text with its sources."""
        cites = backend.reply_sources(tid, len(history) - 1) if history else []
        lang = lang_of(request)
        return (gr.update(choices=[(fmt.citation_label(c, lang), int(c["n"])) for c in cites
                                   if c.get("n") is not None], value=None),
                "", gr.update(visible=False, value=None), gr.update(visible=False),
                backend.reply_plain(tid, len(history) - 1) if history else "")

    def open_source(n: int | None, tid: str, history: list[dict], request: gr.Request) -> Any:
        lang = lang_of(request)
        cite = next((c for c in backend.reply_sources(tid, len(history) - 1)
                     if c.get("n") == n), None) if history and n is not None else None
        try:
            if cite is None:
                raise InputError("need_source")
            view = backend.source_view(cite, lang)
        except Exception as exc:
            return _fail(exc, lang), gr.update(visible=False), gr.update(visible=False)
        return (view["html"], gr.update(value=view["image"], visible=bool(view["image"])),
                gr.update(value=view["file"], visible=True))

    source_outputs = [source_pick, source_view, source_page, source_file, plain]
    copy_btn.click(None, plain, None, js="(text) => { if (text) "
                   "navigator.clipboard.writeText(text); }")
    source_pick.input(open_source, [source_pick, thread, chatbot],
                      [source_view, source_page, source_file])

    inputs, outputs = [box, chatbot, thread, mode], [box, chatbot, thread, state_md]
    for start in (send.click, box.submit):
        start(respond, inputs, outputs, concurrency_id="generate").then(
            thread_choices, thread, threads, queue=False).then(
            last_sources, [thread, chatbot], source_outputs, queue=False)
    chatbot.retry(regenerate, [chatbot, thread, mode], outputs, concurrency_id="generate").then(
        last_sources, [thread, chatbot], source_outputs, queue=False)
    stop.click(lambda tid: backend.stop(tid), thread, None, queue=False)

    def restart(request: gr.Request) -> Any:
        return [], "", fmt.state_markdown(None, lang=lang_of(request))

    new.click(restart, None, [chatbot, thread, state_md], queue=False).then(
        lambda: gr.update(value=None), None, threads, queue=False)

    def resume(tid: str, request: gr.Request) -> Any:
        """Open a stored conversation: its messages as shown, its mode, its thread (the next
        message continues it)."""
        lang = lang_of(request)
        if not tid:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            how, history = backend.load_thread(tid)
        except Exception as exc:
            gr.Warning(_fail(exc, lang), title=word("warning", lang))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (history, tid, how if how in ("support", "qa") else gr.skip(),
                fmt.state_markdown(None, lang=lang), "")

    threads.input(resume, threads, [chatbot, thread, mode, state_md, title_box], queue=False)
    mode.change(lambda how: gr.update(elem_classes=mode_classes(how)), mode, chatbot,
                queue=False)

    def rename(tid: str, title: str, request: gr.Request) -> Any:
        try:
            backend.rename_thread(tid, title)
        except Exception as exc:
            gr.Warning(_fail(exc, lang_of(request)), title=word("warning", lang_of(request)))
            return gr.skip(), gr.skip()
        return thread_choices(tid), ""

    rename_btn.click(rename, [threads, title_box], [threads, title_box], queue=False)
    title_box.submit(rename, [threads, title_box], [threads, title_box], queue=False)

    def delete(tid: str, current: str, request: gr.Request) -> Any:
        lang = lang_of(request)
        try:
            backend.delete_thread(tid)
        except Exception as exc:
            gr.Warning(_fail(exc, lang), title=word("warning", lang))
            return gr.skip(), gr.skip(), gr.skip()
        gr.Info(word("thread_deleted", lang))
        if tid == current:  # the open conversation is gone: start a new one
            return thread_choices(), [], ""
        return thread_choices(current), gr.skip(), gr.skip()

    delete_btn.click(delete, [threads, thread], [threads, chatbot, thread], queue=False)
    demo.load(lambda: thread_choices(), None, threads, queue=False)

    def rate(tid: str, data: gr.LikeData, request: gr.Request) -> None:
        """A thumbs up or down (or a reason under the flag) on a reply: stored with the
        question, the answer, its sources and the settings, for `ragkit feedback export`."""
        lang = lang_of(request)
        index = data.index if isinstance(data.index, int) else data.index[0]
        verdict = data.liked if isinstance(data.liked, bool) else FEEDBACK_REASON.get(
            str(data.liked), str(data.liked))
        try:
            backend.rate(tid, index, verdict)
        except Exception as exc:
            gr.Warning(_fail(exc, lang), title=word("warning", lang))
            return
        gr.Info(word("feedback_saved", lang))

    chatbot.like(rate, thread, None, queue=False)
    demo.load(localize, None, [mode, state_md, examples["en"].dataset,
                               examples["zh"].dataset], queue=False)

    def list_handoffs(request: gr.Request) -> Any:
        try:
            return gr.update(choices=fmt.handoff_choices(backend.handoffs()), value=None), ""
        except Exception as exc:
            return gr.skip(), _fail(exc, lang_of(request))

    def agent_answer(tid: str, reply: str, mine: str, history: list[dict],
                     request: gr.Request) -> Any:
        lang = lang_of(request)
        try:
            result = backend.resume(tid, reply)
        except Exception as exc:
            return _fail(exc, lang), gr.skip(), gr.skip()
        note = word("agent_sent", lang, thread=tid)
        if tid == mine:
            history = [*history, fmt.assistant_message(
                f"**{word('agent_said', fmt.detect_lang(reply))}:** {reply}")]
            state = result.get("state") or backend.state(tid)
            return note, history, fmt.state_markdown(state, lang=lang)
        return note, gr.skip(), gr.skip()

    refresh.click(list_handoffs, None, [picked, agent_out])
    answer_btn.click(agent_answer, [picked, agent_text, thread, chatbot],
                     [agent_out, chatbot, state_md])


# -- knowledge -----------------------------------------------------------------------------
def knowledge_tab(backend: Backend, demo: gr.Blocks) -> None:
    with gr.Row():
        pick = gr.Dropdown(backend.list_kbs(), value=backend.kb_label, label=T("kb"),
                           scale=4, elem_id="kb-pick", allow_custom_value=True)
        name = gr.Textbox(label=T("new_kb"), placeholder=T("name"), scale=2,
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
    gr.Markdown(T("documents"))
    table = gr.Dataframe(headers=fmt.DOC_HEADERS["en"], interactive=False, wrap=True,
                         elem_id="kb-documents", max_height=320)
    with gr.Row():
        doc = gr.Dropdown([], label=T("document"), scale=4, elem_id="kb-doc-pick")
        reindex_btn = gr.Button(T("reindex"), scale=1, elem_id="kb-doc-reindex")
        remove_btn = gr.Button(T("delete"), scale=1, variant="stop", elem_id="kb-doc-delete")
    gr.Markdown(T("playground"))
    with gr.Row():
        query = gr.Textbox(show_label=False, placeholder=T("query"), scale=5,
                           elem_id="search-query")
        k = gr.Slider(1, 20, value=5, step=1, label="k", scale=1)
        go = gr.Button(T("search"), scale=1, elem_id="search-go")
    with gr.Row():
        cols = [gr.Markdown(elem_id=f"hits-{m}") for m in MODES]

    def show_status(request: gr.Request) -> str:
        lang = lang_of(request)
        try:
            return fmt.kb_status_markdown(backend.kb_status(), lang)
        except Exception as exc:
            return _fail(exc, lang)

    def use(path: str, request: gr.Request) -> Any:
        lang = lang_of(request)
        try:
            return fmt.kb_status_markdown(backend.select_kb(path), lang), gr.skip()
        except Exception as exc:
            return _fail(exc, lang), gr.skip()

    def make(new_name: str, request: gr.Request) -> Any:
        lang = lang_of(request)
        try:
            st = backend.create_kb(new_name)
            return (fmt.kb_status_markdown(st, lang),
                    gr.update(choices=backend.list_kbs(), value=st["path"]), "")
        except Exception as exc:
            return _fail(exc, lang), gr.skip(), gr.skip()

    def index(uploaded: list[str] | None, path: str, request: gr.Request,
              progress: gr.Progress = gr.Progress()  # noqa: B008
              ) -> Any:
        lang = lang_of(request)
        try:
            def tick(stage: str, done: int, total: int) -> None:
                progress((done, max(total, 1)),
                         desc=fmt.progress_label(stage, done, total, lang))

            rep = backend.index_uploads(uploaded or [], path or "", progress=tick)
            return fmt.sync_report_markdown(rep, lang), show_status(request), None
        except Exception as exc:
            return _fail(exc, lang), gr.skip(), gr.skip()

    def search(q: str, top: float, request: gr.Request) -> Any:
        lang = lang_of(request)
        try:
            res = backend.search_all(q, int(top))
        except Exception as exc:
            return _fail(exc, lang), "", ""
        return tuple(fmt.hits_markdown(res[m], m, lang) for m in MODES)

    def docs_view(request: gr.Request) -> Any:
        """The documents table and the document picker for the active knowledge base."""
        try:
            docs = backend.documents()
        except Exception as exc:
            log.warning("cannot list documents: %s", exc)
            return gr.skip(), gr.skip()
        return (fmt.documents_table(docs, lang_of(request)),
                gr.update(choices=[d["source"] for d in docs], value=None))

    def remove_doc(source: str, request: gr.Request) -> Any:
        lang = lang_of(request)
        try:
            backend.remove_document(source)
        except Exception as exc:
            return _fail(exc, lang), gr.skip(), gr.skip(), gr.skip()
        table_value, picker = docs_view(request)
        return (word("document_removed", lang, source=source), show_status(request),
                table_value, picker)

    def reindex_doc(source: str, request: gr.Request,
                    progress: gr.Progress = gr.Progress()  # noqa: B008
                    ) -> Any:
        lang = lang_of(request)
        try:
            rep = backend.reindex_document(source, progress=lambda stage, done, total: progress(
                (done, max(total, 1)), desc=fmt.progress_label(stage, done, total, lang)))
        except Exception as exc:
            return _fail(exc, lang), gr.skip()
        return fmt.sync_report_markdown(rep, lang), show_status(request)

    demo.load(show_status, None, status)
    demo.load(docs_view, None, [table, doc])
    pick.change(use, pick, [status, pick]).then(docs_view, None, [table, doc])
    create.click(make, name, [status, pick, name]).then(docs_view, None, [table, doc])
    run.click(index, [files, folder], [report, status, files], concurrency_id="index").then(
        docs_view, None, [table, doc])
    remove_btn.click(remove_doc, doc, [report, status, table, doc], concurrency_id="index")
    reindex_btn.click(reindex_doc, doc, [report, status], concurrency_id="index").then(
        docs_view, None, [table, doc])
    go.click(search, [query, k], cols)
    query.submit(search, [query, k], cols)


# -- code agent ----------------------------------------------------------------------------
def code_tab(backend: Backend) -> None:
    run_key = gr.State("")
    with gr.Row():
        with gr.Column(scale=2):
            task = gr.Textbox(label=T("task"), lines=4, elem_id="code-task",
                              placeholder=T("task_hint"))
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

    def solve(text: str, test_src: str, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        lang = lang_of(request)
        key = new_thread_id()
        yield key, f"*{word('working', lang)}*", "", "", None
        events: list[dict] = []
        flag = backend.stop_flag(key)
        try:
            for ev in backend.solve(text, test_src, stop=flag):
                events.append(ev)
                usage = fmt.code_round_usage(ev["data"]) if ev["kind"] == "round" else None
                if usage:
                    backend.record(usage, kind="code")
                body = format_code.agent_events_markdown(events, lang)
                if ev["kind"] == "done":
                    res = ev["data"].get("result") or {}
                    code = str(res.get("code") or "")
                    qual = format_code.quality_markdown(res.get("report"), lang)
                    path = str(backend.save_code(code)) if code else None
                    yield key, body, qual, code, path
                    return
                yield key, body, gr.skip(), gr.skip(), gr.skip()
            if flag.is_set():
                log_md = format_code.agent_events_markdown(events, lang)
                yield key, f"{log_md}\n\n*{word('stopped', lang)}*", "", "", None
        except Exception as exc:
            log_md = format_code.agent_events_markdown(events, lang)
            yield key, f"{log_md}\n\n{_fail(exc, lang)}", "", "", None

    go.click(solve, [task, tests], [run_key, rounds, quality, final, download],
             concurrency_id="generate")
    stop.click(lambda key: backend.stop(key), run_key, None, queue=False)


# -- system --------------------------------------------------------------------------------
def guard_tab(backend: Backend, demo: gr.Blocks) -> None:
    """Word lists (add, remove), a text tried as the assistant would check it, and the
    audit trail with an export."""
    gr.Markdown(T("guard_lists"))
    table = gr.Markdown(elem_id="guard-lists")
    with gr.Row():
        category = gr.Textbox(label=T("guard_category"), scale=2, elem_id="guard-category",
                              placeholder="profanity")
        action = gr.Dropdown(["block", "mask", "warn", "handoff"], value="block",
                             label=T("guard_action"), scale=1, elem_id="guard-action")
        terms = gr.Textbox(label=T("guard_terms"), scale=4, lines=2, elem_id="guard-terms")
    with gr.Row():
        add = gr.Button(T("guard_add"), variant="primary", size="sm", elem_id="guard-add")
        remove = gr.Button(T("guard_remove"), size="sm", elem_id="guard-remove")
    gr.Markdown(T("guard_try"))
    with gr.Row():
        text = gr.Textbox(label=T("guard_text"), scale=5, elem_id="guard-text")
        channel = gr.Radio(["input", "document", "output"], value="input",
                           label=T("guard_as"), scale=2, elem_id="guard-channel")
        check = gr.Button(T("guard_check"), scale=1, elem_id="guard-check")
    verdict = gr.Markdown(elem_id="guard-verdict")
    gr.Markdown(T("guard_audit"))
    with gr.Row():
        refresh = gr.Button(T("refresh"), size="sm", elem_id="guard-refresh")
        export = gr.Button(T("guard_export"), size="sm", elem_id="guard-export")
    audit = gr.Dataframe(headers=["time", "conversation", "channel", "action", "category",
                                  "excerpt"], interactive=False, elem_id="guard-audit")
    download = gr.File(visible=False, elem_id="guard-download")

    def lists_view(lang: Lang) -> str:
        own = backend.guard_own_lists()
        return fmt.guard_lists_markdown(backend.guard_lists(), own is not None, str(own), lang)

    def show(request: gr.Request) -> tuple[Any, ...]:
        lang = lang_of(request)
        try:
            rows = fmt.guard_audit_rows(backend.guard_audit())
            return lists_view(lang), rows
        except Exception as exc:
            return _fail(exc, lang), gr.skip()

    def edit(cat: str, words: str, act: str, request: gr.Request, drop: bool = False
             ) -> tuple[Any, ...]:
        lang = lang_of(request)
        try:
            backend.guard_edit(cat, words, act, remove=drop)
            return lists_view(lang), ""
        except Exception as exc:
            return _fail(exc, lang), gr.skip()

    def try_text(value: str, kind: str, request: gr.Request) -> str:
        lang = lang_of(request)
        try:
            return fmt.guard_verdict_markdown(backend.guard_test(value, kind), lang)
        except Exception as exc:
            return _fail(exc, lang)

    def export_all(request: gr.Request) -> Any:
        try:
            return gr.update(value=str(backend.guard_export()), visible=True)
        except Exception as exc:
            raise gr.Error(fmt.error_text(exc, lang_of(request))) from exc

    def drop(cat: str, words: str, act: str, request: gr.Request) -> tuple[Any, ...]:
        return edit(cat, words, act, request, drop=True)

    demo.load(show, None, [table, audit])
    refresh.click(show, None, [table, audit])
    add.click(edit, [category, terms, action], [table, terms])
    remove.click(drop, [category, terms, action], [table, terms])
    check.click(try_text, [text, channel], verdict)
    text.submit(try_text, [text, channel], verdict)
    export.click(export_all, None, download)


def system_tab(backend: Backend, demo: gr.Blocks) -> None:
    info = gr.Markdown(elem_id="system-info")
    with gr.Row():
        load = gr.Button(T("load"), size="sm", elem_id="system-load")
        refresh = gr.Button(T("refresh"), size="sm", elem_id="system-refresh")
    figures = gr.Markdown(elem_id="system-metrics")
    plot = gr.LinePlot(x="turn", y="value", color="metric", title=T("chart"),
                       x_title=word("m_answer"), y_title=word("m_value"), color_title="",
                       height=260, elem_id="system-plot")
    timer = gr.Timer(5.0)

    def snapshot(request: gr.Request) -> tuple[Any, ...]:
        import pandas as pd

        lang = lang_of(request)
        try:
            kb = backend.kb_status()
        except Exception as exc:
            kb = {"path": f"{backend.kb_label} ({fmt.error_text(exc, lang)})"}
        try:
            text = fmt.system_markdown(backend.generator_info(), kb, backend.features(), lang)
            metrics = fmt.metrics_markdown(backend.metrics, backend.prefix_stats(), lang)
        except Exception as exc:
            return _fail(exc, lang), "", gr.skip()
        frame = pd.DataFrame(fmt.metrics_long(backend.metrics, lang),
                             columns=["turn", "metric", "value"])
        # Turns as categories in their own order: a numeric axis labels 1.5 as "2".
        frame["turn"] = frame["turn"].astype(str)
        order = [str(r["turn"]) for r in backend.metrics]
        # Axis titles are not translated in the browser: set them for this page's language.
        return text, metrics, gr.update(value=frame, sort=order, x_title=word("m_answer", lang),
                                           y_title=word("m_value", lang))

    def load_model(request: gr.Request) -> tuple[Any, ...]:
        try:
            backend.generator()
        except Exception as exc:
            return _fail(exc, lang_of(request)), gr.skip(), gr.skip()
        return snapshot(request)

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
