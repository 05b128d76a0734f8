"""The UI's phrase table and how a page's language is chosen (pure functions)."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from ragkit.errors import ConfigError
from ragkit.ui.i18n import (
    CHAT_MODES,
    LABELS,
    WORDS,
    InputError,
    detect_lang,
    lang_from_header,
    mode_choices,
    word,
)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(WORDS))
def test_every_phrase_has_both_languages_with_the_same_fields(key: str) -> None:
    en, zh = WORDS[key]
    assert en.strip() and zh.strip()
    assert _fields(en) == _fields(zh), key
    assert detect_lang(zh) == "zh", (key, zh)


def test_fixed_labels_exist_in_both_languages() -> None:
    for table in (LABELS, CHAT_MODES):
        for key, (en, zh) in table.items():
            assert en.strip() and zh.strip() and en != zh, key
            assert detect_lang(zh) == "zh", key


def test_assistant_picker_keeps_its_values_in_both_languages() -> None:
    en, zh = mode_choices("en"), mode_choices("zh")
    assert [v for _, v in en] == [v for _, v in zh] == ["support", "qa"]
    assert en[1][0] == "Knowledge Q&A" and zh[1][0] == "知识问答"


def test_word_fills_fields_and_falls_back() -> None:
    assert word("round", "en", n=2) == "Round 2"
    assert word("round", "zh", n=2) == "第 2 轮"
    assert word("round", "fr", n=2) == "Round 2"  # any other language: English
    assert word("Dense") == "Dense"  # not a key: shown as given


@pytest.mark.parametrize(("header", "lang"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("zh-TW", "zh"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("en;q=0.5, zh;q=0.9", "zh"),  # the highest q wins, not the first entry
    ("fr-FR,fr;q=0.9", "en"),
    ("", "en"),
    (None, "en"),
    ("zh;q=bad, en", "en"),
])
def test_page_language_follows_the_browser(header: str | None, lang: str) -> None:
    assert lang_from_header(header) == lang


def test_input_errors_are_config_errors_readable_in_both_languages() -> None:
    err = InputError("kb_exists", name="docs")
    assert isinstance(err, ConfigError)
    assert str(err) == "a knowledge base named 'docs' already exists; pick it from the list instead"
    assert err.text("zh") == "名为 'docs' 的知识库已存在；请从列表中选择它"


def test_every_label_the_page_asks_for_exists() -> None:
    """A T("key") with no entry in LABELS shows as "rk_key" on the page."""
    import re

    import ragkit.ui.app as app

    source = Path(app.__file__).read_text(encoding="utf-8")
    asked = set(re.findall(r'\bT\("([a-z_]+)"\)', source))
    assert asked and asked <= set(LABELS), sorted(asked - set(LABELS))
