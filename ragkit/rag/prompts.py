"""Prompt templates (package data under ``ragkit/prompts/rag``) and the message layouts built
from them.

Owns: loading ``NAME.LANG.txt`` templates, strict substitution (a missing variable is a
:class:`~ragkit.errors.ConfigError`), the language of a question, and the order of messages,
which is laid out for the generator's prefix KV cache: the fixed system prompt first, past
turns next (append-only: each past turn is the user's question and the final answer, never the
retrieved text), and the retrieved sources with the new question last.

Does not own retrieval, generation or verification.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from ragkit.errors import ConfigError
from ragkit.rag.types import Language
from ragkit.text import detect_language
from ragkit.types import Message

LANGUAGES: tuple[Language, ...] = ("en", "zh")
_MARKER = re.compile(r"\s?\[\d+\]")


def language_of(text: str) -> Language:
    """``zh`` when Han characters dominate the letters of ``text``, else ``en``."""
    return detect_language(text)


@lru_cache(maxsize=64)
def load_template(name: str, lang: Language) -> string.Template:
    """The template ``prompts/rag/NAME.LANG.txt`` shipped with ragkit."""
    if lang not in LANGUAGES:
        raise ConfigError(f"no prompts for language {lang!r}; use one of {', '.join(LANGUAGES)}")
    path = resources.files("ragkit").joinpath("prompts", "rag", f"{name}.{lang}.txt")
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"prompt template rag/{name}.{lang}.txt is missing from the ragkit "
                          "installation; reinstall ragkit (`pip install --force-reinstall "
                          "ragkit`)") from None
    return string.Template(text.strip())


def render(name: str, lang: Language, **values: Any) -> str:
    """Fill template ``name`` in ``lang``; every ``$variable`` must be given."""
    template = load_template(name, lang)
    try:
        return template.substitute(values)
    except KeyError as e:
        raise ConfigError(f"prompt rag/{name}.{lang}.txt needs the variable {e.args[0]!r}; "
                          "pass it to render()") from None
    except ValueError as e:
        raise ConfigError(f"prompt rag/{name}.{lang}.txt is malformed ({e}); write a literal "
                          "dollar sign as $$") from None


def format_sources(context: Sequence[dict[str, Any]]) -> str:
    """Numbered source blocks ``[n] text``. Paths and headings are left out: the 0.5B model
    copied them into its answers; chunk text of headed documents starts with its heading."""
    return "\n\n".join(f"[{c['n']}] {c['text'].strip()}" for c in context)


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def history_messages(history: Sequence[dict[str, str]], turns: int) -> list[Message]:
    """The last ``turns`` question/answer pairs as chat messages (markers stripped)."""
    if turns <= 0:
        return []
    kept = list(history)[-2 * turns:]
    return [Message(h["role"], strip_markers(h["content"]) if h["role"] == "assistant"
                    else h["content"]) for h in kept]  # type: ignore[arg-type]


def answer_messages(lang: Language, history: Sequence[dict[str, str]], turns: int,
                    context: Sequence[dict[str, Any]], question: str) -> list[Message]:
    """System prompt, past turns, then sources + question: the layout the prefix cache reuses."""
    return [
        Message("system", render("system", lang)),
        *history_messages(history, turns),
        Message("user", render("question", lang, sources=format_sources(context),
                               question=question)),
    ]


CHECK_LABELS: dict[str, tuple[str, str]] = {"en": ("yes", "no"), "zh": ("是", "否")}


def check_messages(lang: Language, history: Sequence[dict[str, str]], turns: int,
                   context: Sequence[dict[str, Any]], question: str) -> list[Message]:
    """Same layout as :func:`answer_messages` up to the question (so the answer reuses its
    KV cache), asking whether the sources state the answer; scored with ``CHECK_LABELS``."""
    return [
        Message("system", render("system", lang)),
        *history_messages(history, turns),
        Message("user", render("check", lang, sources=format_sources(context),
                               question=question)),
    ]


def translate_messages(lang: Language, question: str) -> list[Message]:
    return [Message("user", render("translate", lang, question=question))]


def translate_text_messages(lang: Language, text: str) -> list[Message]:
    """Asks for ``text``, a sentence in ``lang``, in the other language (a quoted source
    shown to someone asking in that language)."""
    return [Message("user", render("translate_text", lang, text=text))]


_LABEL = re.compile(r"^([^\W\d_][^\n$:：]{0,18}[:：])", re.MULTILINE)


def instruction_texts(lang: Language) -> tuple[str, ...]:
    """What the model is told rather than asked: an answer copying these says nothing."""
    return (render("system", lang), render("retry", lang))


@lru_cache(maxsize=8)
def layout_labels(lang: Language) -> tuple[str, ...]:
    """Labels that open lines of the question template ("Sources:", "Question:", "资料：").
    An answer starting with one reproduces the prompt instead of answering it."""
    template = load_template("question", lang).template
    return tuple(m.group(1) for m in _LABEL.finditer(template))


def refusal_text(lang: Language, nearby: Sequence[str] = (), unmentioned: str = "") -> str:
    """The refusal, naming what the question asked about that the knowledge base never
    mentions, and what it covers near the question, when known."""
    text = (render("not_mentioned", lang, thing=unmentioned) if unmentioned
            else render("refusal", lang))
    if nearby:
        sep = "；" if lang == "zh" else "; "
        text += " " + render("nearby" if len(nearby) > 1 else "nearby_one", lang,
                             topics=sep.join(nearby))
    return text


def guard_text(lang: Language, reason: str) -> str:
    """The safe reply to a question the guard stopped (``guard_block`` / ``guard_handoff``)."""
    return render("guard_handoff" if reason == "guard_handoff" else "guard_block", lang)


_REFUSAL_CUES = {
    "en": ("i don't know", "i do not know", "don't know based on", "do not contain",
           "does not contain", "no information", "not mentioned", "cannot find"),
    "zh": ("知识库中没有相关信息", "没有相关信息", "没有提到", "无法回答", "不知道", "没有提供"),
}
# Phrases that make one sentence a refusal wherever it appears: the refusal the prompts ask
# for and the model's variants of it. Stricter than _REFUSAL_CUES, which judges a whole draft
# that no source supports ("does not contain" can be a fact; "I don't know" cannot).
_REFUSAL_SENTENCE_CUES = (
    "i don't know", "i do not know", "i'm not sure", "knowledge base does not",
    "knowledge base doesn't", "not in the knowledge base", "sources do not", "sources don't",
    "no information about", "no information on", "no relevant information",
    "知识库中没有", "知识库里没有", "知识库没有", "没有相关信息", "资料中没有", "资料里没有",
    "无法回答", "我不知道",
)
_NOT_WORD = re.compile(r"[^\w']+")


def _plain(text: str) -> str:
    """Lower case, markers removed, curly apostrophes straightened, every run of
    punctuation and space folded into one space."""
    low = strip_markers(text).lower().replace("’", "'")
    return _NOT_WORD.sub(" ", low).strip()


def is_refusal(text: str, lang: Language) -> bool:
    """True when the model's draft says the sources do not hold the answer (citation
    markers and punctuation are ignored: "知识库中没有相关信息[1]。" is a refusal)."""
    low = _plain(text)
    cues = _REFUSAL_CUES["en"] + _REFUSAL_CUES["zh"]
    return any(c in low for c in cues) and len(low) < 160


def is_refusal_sentence(sentence: str) -> bool:
    """True when one sentence says the knowledge base lacks the answer; such a sentence
    never stands as a cited statement, whatever its marker points at."""
    low = _plain(sentence)
    return any(c in low for c in _REFUSAL_SENTENCE_CUES)
