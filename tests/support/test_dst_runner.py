"""The dialogue runner: fresh thread and freshly restored orders database per dialogue.

The assistant here replays the gold labels and performs the gold actions on the real SQLite
database through :class:`SupportDB`, like the real assistant's tools do. It exercises the
runner's plumbing (threads, database isolation, stopping on errors), not language
understanding; the real assistant is measured by ``ragkit eval dst``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragkit.evals.dst import Dialogue, load_dialogues, score
from ragkit.evals.dst_runner import prepare_databases, run_dialogues
from ragkit.support.db import SupportDB
from ragkit.support.records import ActionRefused

# the labelled set lives in the repository (knowledge/eval), the orders data in the package
SET = Path(__file__).resolve().parents[2] / "knowledge" / "eval" / "dialogues.jsonl"


@dataclass
class _Reply:
    handoff: bool
    tool_calls: list[dict[str, Any]]


@dataclass
class _Stream:
    reply: _Reply
    text: str = "ok"

    def __iter__(self):
        yield self.text


@dataclass
class _State:
    intent: str | None
    slots: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "slots": self.slots}


@dataclass
class ReplayAssistant:
    db: SupportDB
    dialogues: dict[str, Dialogue]
    turn: dict[str, int] = field(default_factory=dict)
    states: dict[str, _State] = field(default_factory=dict)

    def send(self, thread_id: str, text: str) -> _Stream:
        d = self.dialogues[thread_id.split("dst-run-")[-1]]
        i = self.turn.get(thread_id, 0)
        self.turn[thread_id] = i + 1
        gold = d.turns[i]
        if text == "crash":
            raise RuntimeError("assistant bug")
        calls = []
        if gold.tool:
            call = {**gold.tool, "ok": True}
            a = gold.tool["args"]
            try:
                if gold.tool["name"] == "create_return":
                    self.db.create_return(a["order_id"], a["reason"], sku=a.get("product"))
                elif gold.tool["name"] == "cancel_order":
                    self.db.cancel_order(a["order_id"])
            except ActionRefused:
                call["ok"] = False
            calls.append(call)
        self.states[thread_id] = _State(gold.intent, dict(gold.state))
        return _Stream(_Reply(gold.handoff, calls))

    def state(self, thread_id: str) -> _State:
        return self.states[thread_id]


def _twice(tag: str) -> list[Dialogue]:
    d = next(x for x in load_dialogues(SET) if x.scenario == tag)
    return [replace(d, id="first"), replace(d, id="second")]


def _run(tmp_path: Path, dialogues: list[Dialogue]):
    pristine, live = prepare_databases(tmp_path)
    with SupportDB(live) as db:
        bot = ReplayAssistant(db, {d.id: d for d in dialogues})
        seen: list[str] = []
        preds, stats = run_dialogues(bot, dialogues, live_db=live, pristine_db=pristine,
                                     run_id="run", on_dialogue=lambda d, p: seen.append(d.id))
    return preds, stats, seen


def test_each_dialogue_gets_a_fresh_database(tmp_path: Path) -> None:
    for scenario in ("return_slots", "cancel_ok"):
        dialogues = _twice(scenario)
        preds, stats, seen = _run(tmp_path / scenario, dialogues)
        assert seen == ["first", "second"]
        rep = score(dialogues, preds)
        # without the restore, the second run of the same action would be refused (ok False)
        assert rep.overall["task_success"] == 1.0, rep.failures
        assert rep.overall["joint_goal_accuracy"] == 1.0
        assert stats.turns == sum(len(d.turns) for d in dialogues)


def test_an_exception_ends_only_its_dialogue(tmp_path: Path) -> None:
    first, second = _twice("status_slots")
    broken = replace(first, turns=(replace(first.turns[0], user="crash"), *first.turns[1:]))
    preds, _, _ = _run(tmp_path, [broken, second])
    assert len(preds[0]) == 1 and "assistant bug" in preds[0][0].error
    assert len(preds[1]) == len(second.turns) and all(p.error is None for p in preds[1])
    rep = score([broken, second], preds)
    assert {f["dialogue"] for f in rep.failures} == {"first"}


def test_cli_rejects_a_bad_selection_before_loading_anything(tmp_path: Path) -> None:
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from ragkit.cli import main; main()",
                               "eval", "dst", *args], capture_output=True, text=True,
                              timeout=120)

    r = cli("--set", str(SET), "--lang", "fr")
    assert r.returncode == 2 and "unknown --lang" in r.stderr
    r = cli("--set", str(SET), "--start", "1000")
    assert r.returncode == 2 and "no dialogues selected" in r.stderr
    r = cli("--set", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "no dialogue set" in r.stderr


def test_cli_rescores_a_saved_report_without_a_model(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from ragkit.evals.dst import predictions_to_jsonable

    dialogues = _twice("return_slots")
    preds, _, _ = _run(tmp_path, dialogues)
    preds[1][-1] = replace(preds[1][-1], tool_calls=())  # the second dialogue misses its action
    gold = tmp_path / "set.jsonl"
    gold.write_text("".join(json.dumps({
        "id": d.id, "lang": d.lang, "split": d.split, "scenario": d.scenario,
        "turns": [t.__dict__ for t in d.turns]}) + "\n" for d in dialogues), encoding="utf-8")
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps({"split": "dev", "dialogues": 2, "turns": 8, "wall_s": 1.0,
                                 "predictions": dict(zip(["first", "second"],
                                                         predictions_to_jsonable(preds), strict=True))}))
    r = subprocess.run([sys.executable, "-c", "from ragkit.cli import main; main()", "eval",
                        "dst", "--set", str(gold), "--rescore", str(saved), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["metrics"]["task_success"] == 0.5
    assert report["by_scenario"]["return_slots"]["task_success"] == 0.5
    assert [f["dialogue"] for f in report["failures"]] == ["second"]
