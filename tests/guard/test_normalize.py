"""The views word lists are matched on: pure functions, checked one property at a time."""

from __future__ import annotations

from ragkit.guard import normalize as nz


def test_the_word_view_pads_whole_words_and_maps_back() -> None:
    v = nz.word_view("Hello,  WORLD!")
    assert v.text == " hello world "
    a = v.text.index("world")
    assert v.span(a, a + 5) == (8, 13)


def test_spelled_out_letters_full_width_and_digits_read_as_the_word() -> None:
    assert " fuck " in nz.word_view("f.u.c.k you").text
    assert " fuck " in nz.word_view("ｆｕｃｋ").text
    assert " shit " in nz.word_view("sh1t happens").text
    assert " bitch " in nz.word_view("b!tch").text
    assert " fake invoice " in nz.word_view("a F A K E invoice").text  # the article stays apart
    # numbers and model names are not words in disguise
    assert nz.word_view("a55 2024 x86").text == " a55 2024 x86 "


def test_the_han_view_drops_what_is_slipped_between_characters_only() -> None:
    assert nz.han_view("傻 逼").text == "傻逼"
    assert nz.han_view("傻.-逼").text == "傻逼"
    assert "傻逼" not in nz.han_view("傻A逼").text  # a letter between them is no filler
    v = nz.han_view("我想 自 杀")
    a = v.text.index("自杀")
    assert v.span(a, a + 2) == (3, 6)


def test_pinyin_forms_of_a_chinese_term() -> None:
    assert nz.pinyin_forms("傻逼") == ("sha bi", "shabi")
    assert "cnm" in nz.pinyin_forms("操你妈")
    assert nz.pinyin_forms("kill") == ()
