"""ragkit.text: language detection, sentence spans, and FTS5 normalisation on a real SQLite."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import ragkit
from ragkit.text import (
    cjk_ratio,
    detect_language,
    fts_query,
    is_cjk,
    query_terms,
    segment_for_search,
    split_sentences,
)


def sentences(text: str) -> list[str]:
    spans = split_sentences(text)
    assert "".join(text[a:b] for a, b in spans) == text  # tiles exactly
    assert all(a < b for a, b in spans)
    return [text[a:b].strip() for a, b in spans]


def test_language():
    assert is_cjk("中") and not is_cjk("a") and not is_cjk("。")
    assert cjk_ratio("") == 0.0 and cjk_ratio("abc") == 0.0 and cjk_ratio("中文") == 1.0
    assert detect_language("退款需要多久？请联系 support 团队。") == "zh"
    assert detect_language("How long do refunds take? 退款") == "en"
    assert detect_language("12345 !!!") == "en"


def test_english_sentences_and_abbreviations():
    text = (
        "Dr. Smith paid $3.5 million, i.e. a lot. He left at 5 p.m. on Monday! "
        "Why? Ask Mr. Jones, e.g. by phone. See No. 5 for details. I said no. "
        'Then "Stop." She went, etc. and stayed. Version 2.0 ships soon.'
    )
    assert sentences(text) == [
        "Dr. Smith paid $3.5 million, i.e. a lot.",
        "He left at 5 p.m. on Monday!",
        "Why?",
        "Ask Mr. Jones, e.g. by phone.",
        "See No. 5 for details.",
        "I said no.",
        'Then "Stop."',
        "She went, etc. and stayed.",
        "Version 2.0 ships soon.",
    ]


def test_chinese_sentences():
    text = "退款需要多久？一般三到五天。如有疑问；请联系客服！他说：“好的。”然后走了……最后"
    assert sentences(text) == [
        "退款需要多久？",
        "一般三到五天。",
        "如有疑问；",
        "请联系客服！",
        "他说：“好的。”",
        "然后走了……",
        "最后",
    ]
    assert sentences("版本3.5已发布.下一步!好") == ["版本3.5已发布.", "下一步!", "好"]


def test_line_rules():
    text = "Steps\n- open the box\n- plug it in\n1. first\n2) second\n# Title\nwrapped line\ncontinues here\n\nNew paragraph"
    assert sentences(text) == [
        "Steps",
        "- open the box",
        "- plug it in",
        "1. first",
        "2) second",
        "# Title\nwrapped line\ncontinues here",
        "New paragraph",
    ]
    assert split_sentences("") == [] and sentences("   ") == [""]


def test_segment_for_search():
    out = segment_for_search(
        "Refund POLICY: 自然语言处理，退款需要多久？ Ｆｕｌｌｗｉｄｔｈ café, v2.5!"
    )
    words = out.split(" ")
    assert "refund" in words and "policy" in words and "fullwidth" in words and "café" in words
    assert {"自然", "语言", "自然语言", "退款"} <= set(words)
    assert not any(ch in out for ch in ",:，？!")
    assert "  " not in out and out == out.strip()


def test_query_terms():
    assert query_terms("What is the refund policy for refund? 退款需要多久？") == [
        "refund",
        "policy",
        "退款",
        "需要",
        "多久",
    ]
    assert query_terms("what is it") == ["what", "is", "it"]  # all stopwords: keep them
    assert query_terms("?!") == []
    assert fts_query(["a", 'b"c']) == '"a" OR "b""c"'
    assert fts_query(["a", "b"], "AND") == '"a" AND "b"'


def test_fts5_finds_chinese_and_stemmed_english():
    docs = [
        "Refunds are processed within five business days.",
        "退款一般需要三到五个工作日到账。",
        "Shipping is free for orders over fifty dollars.",
    ]
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(body, tokenize='porter unicode61 remove_diacritics 2')"
    )
    conn.executemany(
        "INSERT INTO t(rowid, body) VALUES (?, ?)",
        [(i, segment_for_search(d)) for i, d in enumerate(docs)],
    )

    def search(q: str) -> list[int]:
        match = fts_query(query_terms(q))
        rows = conn.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t)", (match,))
        return [r[0] for r in rows]

    assert search("how is a refund processed?")[0] == 0  # refunds ~ refund, processed ~ process
    assert search("退款多久到账")[0] == 1
    assert search("免费送货吗") == []
    assert search("free shipping")[0] == 2


def test_jieba_is_lazy_and_quiet():
    code = (
        "import sys; from ragkit.text import segment_for_search\n"
        "assert 'jieba' not in sys.modules, 'jieba imported eagerly'\n"
        "print(segment_for_search('中文分词测试'))"
    )
    root = str(Path(ragkit.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "中文" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("text", ["a.b.c", "...", "。。。", "\n\n\n", "x\n- \n", "Mr.", "e.g. X"])
def test_spans_always_tile(text):
    sentences(text)
