"""Word lists: validation with errors that say what to fix, edits written atomically, and
the Aho–Corasick matcher on the default lists and on 10,000 entries."""

from __future__ import annotations

import pytest
import yaml

from ragkit.errors import ConfigError
from ragkit.guard import lists
from ragkit.guard.guard import default_lists_path


@pytest.fixture(scope="module")
def matcher() -> lists.Matcher:
    return lists.Matcher(lists.load(default_lists_path()))


def found(m: lists.Matcher, text: str) -> set[str]:
    return {h.category for h in m.scan(text)}


@pytest.mark.parametrize("body,error", [
    ({"x": {"action": "explode", "terms": ["a"]}}, "action must be one of"),
    ({"x": {"action": "block", "terms": ["  "]}}, "empty entry"),
    ({"x": {"action": "block", "words": ["a"]}}, "unknown key"),
    ({"X Y": {"action": "block"}}, "lower-case"),
    ({"x": {"action": "block", "patterns": ["(a+)+$"]}}, "backtrack catastrophically"),
    ({"x": {"action": "block", "patterns": ["(a|aa)*b"]}}, "backtrack catastrophically"),
    ({"x": {"action": "block", "patterns": ["(unclosed"]}}, "not a valid regular expression"),
    (["a", "b"], "categories at the top level"),
])
def test_a_bad_list_is_refused_with_what_to_fix(body, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        lists.parse(body)


def test_a_yaml_error_names_the_line(tmp_path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("a:\n  action: block\n  terms: [x, y\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line \d+ is not valid YAML"):
        lists.load(f)


def test_a_safe_pattern_is_used(tmp_path) -> None:
    wl = lists.parse({"codes": {"action": "mask", "patterns": [r"\bpromo-\d{4}\b"]}})
    hits = lists.Matcher(wl).scan("use PROMO-1234 today")
    assert [(h.category, h.span) for h in hits] == [("codes", (4, 14))]


def test_edits_are_saved_atomically_and_read_back(tmp_path) -> None:
    path = tmp_path / "guard" / "words.yaml"
    wl = lists.load(default_lists_path())
    new = lists.edited(wl, "brands", add=["ShopRival"], action="warn")
    new = lists.edited(new, "profanity", remove=["bastard"])
    lists.save(new, path)
    back = lists.load(path)
    assert back == new
    assert back.by_name()["brands"].terms == ("ShopRival",)
    assert "bastard" not in back.by_name()["profanity"].terms
    assert not list(path.parent.glob("*.tmp"))
    with pytest.raises(ConfigError, match="give --action"):
        lists.edited(back, "nope", add=["x"])
    with pytest.raises(ConfigError, match="has no term"):
        lists.edited(back, "profanity", remove=["not there"])


def test_whole_words_in_english_anywhere_in_chinese(matcher) -> None:
    assert not found(matcher, "Is the class on assessment free? Scunthorpe, cocktail.")
    assert found(matcher, "this is bullshit") == {"profanity"}
    assert found(matcher, "you idiots") == {"abuse_of_staff"}  # a plural
    assert found(matcher, "你们真是傻逼") == {"profanity"}
    assert not found(matcher, "你们卖杀毒软件吗？")


def test_disguised_terms_are_found_where_they_are(matcher) -> None:
    text = "where is my f u c k i n g order"
    [hit] = matcher.scan(text)
    assert text[hit.span[0]:hit.span[1]] == "f u c k i n g"
    assert found(matcher, "客服是 sha bi 吗") == {"profanity"}
    assert found(matcher, "我想 自-杀") == {"self_harm"}


def test_an_allowed_phrase_covers_only_itself(matcher) -> None:
    assert not found(matcher, "Where is the suicide prevention hotline?")
    assert found(matcher, "I think about suicide. Is there a suicide prevention line?") == {
        "self_harm"}


def test_ten_thousand_terms_and_a_megabyte_message(tmp_path) -> None:
    terms = [f"term{i}word" for i in range(9000)] + [f"词{chr(0x4e00 + i)}语" for i in range(1000)]
    f = tmp_path / "big.yaml"
    f.write_text(yaml.safe_dump({"big": {"action": "block", "terms": terms}},
                                allow_unicode=True), encoding="utf-8")
    m = lists.Matcher(lists.load(f))
    assert len(m.lists) == 10_000
    assert {h.term for h in m.scan("say term4321word and 词" + chr(0x4e00 + 7) + "语")} == {
        "term4321word", "词" + chr(0x4e00 + 7) + "语"}
    big = "harmless words " * 70_000 + "term9word"
    assert [h.term for h in m.scan(big)] == ["term9word"]
