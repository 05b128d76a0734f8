"""PII redaction round trips, the log filter, and the redacting generator wrapper."""

from __future__ import annotations

import logging

import pytest

from ragkit.support.redact import RedactingGenerator, install_log_redaction, redact, restore
from ragkit.types import Message

CASES = [
    ("Email me at Anna.DeVries@example.nl about BC-204518", ["Anna.DeVries@example.nl"]),
    ("call +31 6 1234 5601 or (555) 010-2288", ["+31 6 1234 5601", "(555) 010-2288"]),
    ("my card 4111 1111 1111 1111 was charged twice", ["4111 1111 1111 1111"]),
    ("ship it to 12 Oak Street, Leeds LS1 4AB please", ["12 Oak Street, Leeds LS1 4AB"]),
    ("Keizersgracht 112, 1015 CW Amsterdam", ["Keizersgracht 112, 1015 CW Amsterdam"]),
    ("地址改成上海市浦东新区世纪大道100号，手机13812345678",
     ["上海市浦东新区世纪大道100号", "13812345678"]),
]


@pytest.mark.parametrize("text,secrets", CASES)
def test_round_trip(text, secrets):
    red, mapping = redact(text)
    for s in secrets:
        assert s not in red
    assert restore(red, mapping) == text


def test_ids_dates_and_non_luhn_numbers_stay():
    text = "order BC-204518, return RT-100233, on 2026-10-12, 2 items, ref 1234 5678 9012 3456"
    red, mapping = redact(text)
    assert "BC-204518" in red and "RT-100233" in red and "2026-10-12" in red
    assert not any(k.startswith("[CARD") for k in mapping)


def test_same_value_same_placeholder_across_messages():
    a, m = redact("write to x@y.example")
    b, m = redact("again x@y.example and z@y.example", m)
    assert a.split()[-1] == b.split()[1]
    assert len(m) == 2


def test_log_records_are_redacted(caplog):
    install_log_redaction("ragkit.support.test")
    log = logging.getLogger("ragkit.support.test")
    with caplog.at_level(logging.INFO, logger="ragkit.support.test"):
        log.info("customer %s said %s", "x@y.example", "call 13812345678")
    assert "x@y.example" not in caplog.text and "13812345678" not in caplog.text
    assert "[EMAIL_1]" in caplog.text


def test_redacting_generator_hides_pii_from_the_backend_and_restores_it(scripted_generator):
    backend = scripted_generator(replies=lambda msgs: "We will email [EMAIL_1] today.")
    gen = RedactingGenerator(backend)
    out = "".join(gen.stream([Message("user", "my email is ann@shop.example")]))
    assert out == "We will email ann@shop.example today."
    sent = backend.calls[-1][0].content
    assert "ann@shop.example" not in sent and "[EMAIL_1]" in sent
