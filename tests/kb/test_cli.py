"""The indexing CLI as a user runs it: real subprocesses, real files, kill -9 and the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from tests.helpers.docs import write_docs
from tests.kb.test_sync import DOCS


def ragkit(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **kw.pop("env", {})}
    proc = subprocess.run([sys.executable, "-m", "ragkit", *args], capture_output=True,
                          text=True, env=env, timeout=300, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"ragkit {args} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs", DOCS)


def index(corpus: Path, kb: Path | str, emb: Path, *extra: str, check: bool = True, **kw):
    return ragkit("index", str(corpus), "--kb", str(kb), "--embedder", str(emb),
                  "--chunk-tokens", "64", "--overlap-tokens", "8", *extra, check=check, **kw)


def test_index_search_status_json(tmp_path: Path, corpus: Path, tiny_embedder_dir: Path) -> None:
    kb = tmp_path / "kb"
    first = json.loads(index(corpus, kb, tiny_embedder_dir, "--json").stdout)
    assert first["added"] == 4 and first["failed"] == [] and first["chunks_embedded"] > 0
    second = json.loads(index(corpus, kb, tiny_embedder_dir, "--json").stdout)
    assert second["unchanged"] == 4 and second["chunks_embedded"] == 0
    hits = json.loads(ragkit("search", "citric acid", "--kb", str(kb), "--json").stdout)
    assert hits[0]["source"] == "docs/manuals/kettle.txt"
    assert {"chunk_id", "source", "heading", "page", "text", "score"} <= set(hits[0])
    filtered = json.loads(ragkit("search", "refunds", "--kb", str(kb), "--json",
                                 "--filter", "source=*.txt", "-k", "10").stdout)
    assert filtered and all(h["source"].endswith(".txt") for h in filtered)
    status = json.loads(ragkit("status", "--kb", str(kb), "--json").stdout)
    assert status["documents"] == 4 and status["last_runs"][0]["status"] == "ok"
    human = ragkit("search", "退款", "--kb", str(kb), "--mode", "keyword").stdout
    assert "docs/zh/退款.md" in human


def test_dry_run_on_new_kb_creates_nothing(tmp_path: Path, corpus: Path,
                                           tiny_embedder_dir: Path) -> None:
    kb = tmp_path / "kb"
    out = json.loads(index(corpus, kb, tiny_embedder_dir, "--dry-run", "--json").stdout)
    assert sorted(out["changes"]["added"]) == sorted(f"docs/{p}" for p in DOCS)
    assert not kb.exists()


def test_errors_are_one_clear_line_without_traceback(tmp_path: Path) -> None:
    proc = ragkit("search", "x", "--kb", str(tmp_path / "missing"), check=False)
    assert proc.returncode != 0
    assert "no knowledge base" in proc.stderr and "ragkit index" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad = ragkit("search", "x", "--kb", str(tmp_path), "--filter", "colour=red", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_changing_fixed_settings_is_refused(tmp_path: Path, corpus: Path,
                                            tiny_embedder_dir: Path) -> None:
    kb = tmp_path / "kb"
    index(corpus, kb, tiny_embedder_dir)
    proc = ragkit("index", str(corpus), "--kb", str(kb), "--index-type", "hnsw", check=False)
    assert proc.returncode != 0 and "fixed when a knowledge base is created" in proc.stderr


def test_concurrent_index_runs_are_serialised_by_the_lock(
    tmp_path: Path, corpus: Path, tiny_embedder_dir: Path
) -> None:
    kb = tmp_path / "kb"
    index(corpus, kb, tiny_embedder_dir)
    with FileLock(str(kb / ".lock"), timeout=0):
        proc = index(corpus, kb, tiny_embedder_dir, check=False)
    assert proc.returncode != 0
    assert "another `ragkit index` is writing" in proc.stderr
    index(corpus, kb, tiny_embedder_dir)  # released: works again


def _many_docs(root: Path, n: int) -> Path:
    words = ("refund", "shipping", "kettle", "warranty", "battery", "tent", "invoice", "points")
    for i in range(n):
        body = " ".join(f"{words[(i + j) % len(words)]} item {i} line {j}." for j in range(40))
        (root / f"d{i // 50}").mkdir(parents=True, exist_ok=True)
        (root / f"d{i // 50}" / f"doc{i}.md").write_text(f"# Document {i}\n\n{body}\n")
    return root


@pytest.mark.slow
def test_kill_minus_9_leaves_a_consistent_kb_and_the_next_run_completes(
    tmp_path: Path, tiny_embedder_dir: Path
) -> None:
    corpus = _many_docs(tmp_path / "many", 300)
    kb = tmp_path / "kb"
    env = {**os.environ, "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "ragkit", "index", str(corpus), "--kb", str(kb),
           "--embedder", str(tiny_embedder_dir), "--chunk-tokens", "64", "--overlap-tokens", "8"]
    killed_at = []
    for delay in (2.5, 4.0, 6.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed_at.append(delay)
        proc.wait()
        if (kb / "ragkit.json").exists():
            # After every kill the knowledge base opens and answers.
            ragkit("search", "warranty battery", "--kb", str(kb), "--json")
            ragkit("status", "--kb", str(kb), "--json")
    assert killed_at, "indexing finished before any kill; make the corpus larger"
    final = json.loads(ragkit(*cmd[3:], "--json").stdout)
    assert final["failed"] == []
    status = json.loads(ragkit("status", "--kb", str(kb), "--json").stdout)
    assert status["documents"] == 300
    assert status["index_up_to_date"] and status["vectors"] == status["chunks"]
    again = json.loads(ragkit(*cmd[3:], "--json").stdout)
    assert again["unchanged"] == 300 and again["chunks_embedded"] == 0
    hits = json.loads(ragkit("search", "item 299 line", "--kb", str(kb), "-k", "50",
                             "--mode", "keyword", "--json").stdout)
    assert any(h["source"] == "many/d5/doc299.md" for h in hits)


# Terminal controls a hostile document or file name could carry: a colour change, an OSC
# window-title write ended by BEL, an 8-bit CSI (C1), a carriage return, and a bidi override.
HOSTILE = ("\x1b[31m", "\x1b]0;owned\x07", "\x9b2J", "\r", "\u202e")


def test_control_characters_from_documents_and_names_are_not_printed_raw(
    tmp_path: Path, tiny_embedder_dir: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    name = "evil\x1b[31m\u202ename.md"
    (docs / name).write_text("# Kettle \x1b]0;owned\x07 guide\n\nDescale the kettle \x1b[2J with "
                             "citric \x9b2J acid \u202e every month, root:x:0:0.\r\n", encoding="utf-8")
    (docs / "bad\x1b[5m.pdf").write_bytes(b"%PDF-1.7\n1 0 obj garbage")
    kb = tmp_path / "kb"
    runs = [index(docs, kb, tiny_embedder_dir, "--dry-run"), index(docs, kb, tiny_embedder_dir),
            ragkit("search", "citric acid", "--kb", str(kb)),
            ragkit("status", "--kb", str(kb))]
    for proc in runs:
        for stream in (proc.stdout, proc.stderr):
            assert not any(h in stream for h in HOSTILE), repr(stream)
    assert "\\x1b[31m" in runs[0].stdout and "\\u202e" in runs[0].stdout  # shown, escaped
    assert "bad\\x1b[5m.pdf" in runs[1].stderr  # the skipped file, named safely
    assert "citric \\x9b2J acid" in runs[2].stdout
    assert "root:x:0:0" in runs[2].stdout  # no emoji codes rendered from document text
    # JSON keeps the exact text (a parser gets it back) but no raw C1 or bidi character.
    raw = ragkit("search", "citric acid", "--kb", str(kb), "--json").stdout
    assert "\x9b" not in raw and "\u202e" not in raw and "\x1b" not in raw
    hit = json.loads(raw)[0]
    assert hit["source"] == f"docs/{name}" and "citric \x9b2J acid \u202e" in hit["text"]


def test_a_killed_run_shows_as_interrupted_not_running(tmp_path: Path,
                                                       tiny_embedder_dir: Path) -> None:
    import sqlite3

    corpus = _many_docs(tmp_path / "many", 300)
    kb = tmp_path / "kb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragkit", "index", str(corpus), "--kb", str(kb), "--embedder",
         str(tiny_embedder_dir), "--chunk-tokens", "64", "--overlap-tokens", "8"],
        env={**os.environ, "NO_COLOR": "1"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240  # safety net only: the row appears in seconds
        running = []
        while not running and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            if (kb / "kb.sqlite").exists():
                try:
                    with sqlite3.connect(f"file:{kb / 'kb.sqlite'}?mode=ro", uri=True) as db:
                        running = db.execute(
                            "SELECT id FROM runs WHERE status = 'running'").fetchall()
                except sqlite3.OperationalError:  # tables not created yet
                    pass
        assert running and proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    status = json.loads(ragkit("status", "--kb", str(kb), "--json").stdout)
    assert status["last_runs"][0]["status"] == "interrupted"
    human = ragkit("status", "--kb", str(kb)).stdout
    assert "interrupted" in human and "running" not in human
    # The next run records the dead one as interrupted for good, and completes.
    index(corpus, kb, tiny_embedder_dir)
    runs = json.loads(ragkit("status", "--kb", str(kb), "--json").stdout)["last_runs"]
    assert [r["status"] for r in runs[:2]] == ["ok", "interrupted"]


def test_a_postgres_url_works_wherever_a_directory_does(
        tmp_path: Path, corpus: Path, tiny_embedder_dir: Path, pg_url: str) -> None:
    """index / search / status on a URL (also through RAGKIT_KB_URL), and migrate from a
    directory into Postgres without re-embedding."""
    first = json.loads(index(corpus, pg_url, tiny_embedder_dir, "--json").stdout)
    assert first["added"] == 4
    again = json.loads(index(corpus, pg_url, tiny_embedder_dir, "--json").stdout)
    assert (again["unchanged"], again["chunks_embedded"]) == (4, 0)
    hits = json.loads(ragkit("search", "citric acid", "--kb", pg_url, "--json").stdout)
    assert hits[0]["source"] == "docs/manuals/kettle.txt"
    env_hits = ragkit("search", "退款", "--mode", "keyword",
                      env={"RAGKIT_KB_URL": pg_url}).stdout
    assert "docs/zh/退款.md" in env_hits
    status = json.loads(ragkit("status", "--kb", pg_url, "--json").stdout)
    assert status["documents"] == 4 and status["index_type"] == "hnsw"
    assert status["path"].startswith("postgresql://")

    kb_dir = tmp_path / "kb"
    index(corpus, kb_dir, tiny_embedder_dir)
    target = pg_url + "_copy"
    moved = json.loads(ragkit("migrate", "--from", str(kb_dir), "--to", target,
                              "--json").stdout)
    assert (moved["documents"], moved["skipped"]) == (4, 0)
    synced = json.loads(index(corpus, target, tiny_embedder_dir, "--json").stdout)
    assert (synced["unchanged"], synced["chunks_embedded"]) == (4, 0)
    missing = ragkit("search", "x", "--kb", pg_url + "_none", check=False)
    assert missing.returncode != 0 and "no knowledge base at" in missing.stderr


def test_guard_lists_of_a_postgres_knowledge_base(tmp_path: Path, corpus: Path,
                                                  tiny_embedder_dir: Path, pg_url: str) -> None:
    """`ragkit guard add/list` on a postgresql:// knowledge base (given with --kb, or by
    RAGKIT_KB_URL) keep its own word lists in this machine's side folder for it, the folder
    its RAG pipeline reads them from."""
    env = {"RAGKIT_HOME": str(tmp_path / "home")}
    missing = ragkit("guard", "list", "--kb", pg_url, env=env, check=False)
    assert missing.returncode != 0 and "ragkit index PATH --kb" in missing.stderr
    index(corpus, pg_url, tiny_embedder_dir, env=env)
    ragkit("guard", "add", "zebrawood", "-c", "profanity", "--kb", pg_url, env=env)
    listed = ragkit("guard", "list", "--json", env={**env, "RAGKIT_KB_URL": pg_url}).stdout
    assert "zebrawood" in listed
    assert list((tmp_path / "home" / "postgres").glob("*/guard/*"))


def test_a_missing_path_creates_no_knowledge_base(tmp_path: Path) -> None:
    p = ragkit("index", str(tmp_path / "nope"), "--kb", str(tmp_path / "kb"), check=False)
    assert p.returncode != 0 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "kb").exists()


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(
        tmp_path: Path, corpus: Path, tiny_embedder_dir: Path) -> None:
    """Captured output (a log, CI) gets progress lines, the embedder's loading included, so a
    slow first step is explained rather than silent."""
    err = index(corpus, tmp_path / "kb", tiny_embedder_dir).stderr
    lines = err.splitlines()
    assert "loading the embedder (first use of a model takes a while)" in lines
    assert "loading the embedder: done" in lines
    assert any(line.startswith("reading files 0/") for line in lines)
    assert "embedding chunks" in err and "writing" in err
    # each stage counts its own files: "reading files 0/3" never ends as "6/6" (seen in a walk)
    files = {line.split()[-1].split("/")[1] for line in lines
             if line.startswith(("reading files ", "parsing new and changed files "))}
    assert len(files) == 1, lines


def test_progress_lines_are_rate_limited_per_stage() -> None:
    from ragkit.cli.kb import _progress_lines

    now = [0.0]
    lines: list[str] = []
    tick = _progress_lines(clock=lambda: now[0], write=lines.append)
    for i in range(100):
        now[0] = i * 0.1  # 10 s in all: start, every 5 s, end
        tick("embed", i, 100)
    tick("embed", 100, 100)
    tick("embed", 100, 100)  # a repeat of the end prints nothing
    assert lines == ["embedding chunks 0/100", "embedding chunks 50/100",
                     "embedding chunks 100/100"]
