"""Typo repair against the domain vocabulary (pure) and its effect on understanding."""

from __future__ import annotations

from collections import Counter

import pytest

from ragkit.spelling import Speller, one_edit, words
from ragkit.support.domain import load_domain
from ragkit.support.spelling import speller_for


@pytest.fixture(scope="module")
def speller() -> Speller:
    return speller_for(load_domain(None))


def test_one_edit_covers_the_four_kinds_of_typo() -> None:
    assert one_edit("rteurn", "return")  # neighbours swapped
    assert one_edit("adress", "address") and one_edit("addresss", "address")
    assert one_edit("damagex", "damaged") and one_edit("forgte", "forget")
    assert not one_edit("return", "return") and not one_edit("worgn", "wrong")
    assert not one_edit("abcdef", "abcxyz")


@pytest.mark.parametrize(("typed", "read"), [
    ("Can you statr a rteurn for order bc-244140?", "Can you start a return for order bc-244140?"),
    ("The new addres is 3100 Ocean Drive, Miami", "The new address is 3100 Ocean Drive, Miami"),
    ("Not that one, I maent my ohter order.", "Not that one, I meant my other order."),
    ("Ordre BC-259999 is late", "Order BC-259999 is late"),
])
def test_typos_of_domain_words_are_repaired(speller, typed, read) -> None:
    assert speller.correct(typed) == read


@pytest.mark.parametrize("text", [
    "New adrdess is 8 Place Bellecour, 69002 Lyon",  # "Place" stays: a name mid-sentence
    "my email is kettel.fan@example.com, order BC-123456",  # inside an email: untouched
    "我的订单还没到", "ok", "the kettle is leaking",
])
def test_names_values_chinese_and_known_words_are_left_alone(speller, text) -> None:
    fixed = speller.correct(text)
    assert "Place Bellecour" in fixed or "Place" not in text
    assert "kettel.fan@example.com" in fixed or "@" not in text
    if "adrdess" not in text:
        assert fixed == text


def test_the_most_frequent_word_wins_a_tie() -> None:
    sp = Speller(Counter({"parcel": 5, "pancel": 1}))
    assert sp.correct("pbrcel") in ("pbrcel", "parcel")
    assert sp.correct("parcek") == "parcel"
    assert words(["A parcel, two parcels!"]) == Counter({"parcel": 1, "parcels": 1})


def test_a_word_the_caller_knows_is_left_alone() -> None:
    """A knowledge base's vocabulary misses most real words: "bought" is no typo of its
    "brought" (the RAG pipeline asks the generator's tokenizer whether a word is one)."""
    vocab = Counter({"brought": 3, "return": 5})
    assert Speller(vocab).correct("stuff i bought") == "stuff i brought"
    known = Speller(vocab, known=lambda w: w == "bought")
    assert known.correct("stuff i bought to retrun") == "stuff i bought to return"
