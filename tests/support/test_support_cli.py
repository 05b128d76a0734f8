"""`ragkit support` as a user runs it: real subprocesses, one-turn JSON mode, agent reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.support_helpers import EN_EMAIL, EN_ORDER, ROOT

pytestmark = pytest.mark.real_model  # the intent classifier embeds with the default embedder


def ragkit(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    p = subprocess.run([sys.executable, "-m", "ragkit", *args], capture_output=True, text=True,
                       env=env, timeout=600, cwd=ROOT)
    if check and p.returncode != 0:
        raise AssertionError(f"ragkit {args} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p


def test_json_turns_share_a_thread_across_processes(tmp_path):
    db = str(tmp_path / "store.db")
    base = ("support", "--no-kb", "--db", db, "--json", "--thread", "c1")
    first = json.loads(ragkit(*base, "--message", f"where is order {EN_ORDER}?").stdout)
    assert first["state"]["intent"] == "order_status"
    assert first["state"]["slots"] == {"order_id": EN_ORDER}
    second = json.loads(ragkit(*base, "--message", EN_EMAIL).stdout)
    assert [c["name"] for c in second["tool_calls"]] == ["lookup_order"]


def test_json_mode_needs_thread_and_message(tmp_path):
    p = ragkit("support", "--no-kb", "--db", str(tmp_path / "s.db"), "--json", check=False)
    assert p.returncode != 0 and "--thread" in p.stderr and "Traceback" not in p.stderr


def test_bad_domain_file_is_reported_without_traceback(tmp_path):
    bad = tmp_path / "d.yaml"
    bad.write_text("name: x\nslots: {}\nintents: {}\nconfirmation: {affirm: {}, deny: {}}\n"
                   "unknown_key: 1\n")
    p = ragkit("support", "--no-kb", "--domain", str(bad), "--json", "--thread", "t",
               "--message", "hi", check=False)
    assert p.returncode != 0 and "unknown_key" in p.stderr and "Traceback" not in p.stderr


def test_train_reports_the_stored_model_and_takes_the_domain_either_side(tmp_path):
    out = json.loads(ragkit("support", "train", "--kb", str(tmp_path / "none"), "--json").stdout)
    assert out["domain"] == "brightcart" and out["folder"]
    held = out["metrics"]["held_out"]
    assert held["_all"]["support"] > 0 and "policy_question" in held
    bad = tmp_path / "bad.yaml"
    bad.write_text("- not a mapping\n", encoding="utf-8")
    for args in (("support", "train", "--domain", str(bad)),
                 ("support", "--domain", str(bad), "train")):
        p = ragkit(*args, check=False)
        assert p.returncode != 0 and "must be a mapping" in p.stderr, args


def test_message_without_json_answers_one_turn_and_exits(tmp_path):
    """`--message` is one turn, not a chat: no prompt waits on stdin (closed here), the reply
    streams to stdout and stderr says how to continue the conversation."""
    p = subprocess.run([sys.executable, "-m", "ragkit", "support", "--no-kb", "--db",
                        str(tmp_path / "s.db"), "--message", f"where is order {EN_ORDER}?"],
                       capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
                       timeout=600, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith("bot> ") and "you>" not in p.stdout
    assert "--thread" in p.stderr and "continue" in p.stderr
