"""Run the support assistant over labelled dialogues and collect per-turn predictions.

Owns: driving an assistant turn by turn (one fresh thread per dialogue) and giving every
dialogue a fresh copy of the orders database, so the actions of one dialogue (a return, a
cancellation) never change what the next one sees. The database is reset in place from a
pristine build with SQLite's backup API, so one assistant serves the whole run and its models
load once.

Does not own: scoring (``ragkit/evals/dst.py``) or printing (``ragkit/cli/eval_dst.py``).
The assistant is anything with ``send(thread_id, text)`` returning an iterable stream whose
``.reply`` has ``handoff`` and ``tool_calls``, and ``state(thread_id).to_dict()`` with
``intent`` and ``slots`` (the :class:`ragkit.support.SupportAssistant` contract).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ragkit.evals.dst import Dialogue, PredTurn
from ragkit.support.db import build_db, restore


class Assistant(Protocol):
    def send(self, thread_id: str, text: str) -> Any: ...

    def state(self, thread_id: str) -> Any: ...


@dataclass(frozen=True)
class RunStats:
    dialogues: int
    turns: int
    wall_s: float

    @property
    def s_per_turn(self) -> float:
        return self.wall_s / self.turns if self.turns else 0.0


def prepare_databases(folder: Path, data_dir: Path | None = None) -> tuple[Path, Path]:
    """Build a pristine orders database in ``folder`` and a live copy for the assistant."""
    folder.mkdir(parents=True, exist_ok=True)
    pristine = build_db(data_dir, folder / "pristine.db", force=True)
    live = folder / "live.db"
    restore(pristine, live)
    return pristine, live


def run_turn(bot: Assistant, thread_id: str, text: str) -> PredTurn:
    start = time.perf_counter()
    stream = bot.send(thread_id, text)
    for _ in stream:
        pass
    reply = getattr(stream, "reply", None)
    if reply is None:
        raise RuntimeError("the assistant's stream has no .reply after it was exhausted")
    state = bot.state(thread_id)
    st = state.to_dict() if hasattr(state, "to_dict") else dict(state)
    calls = tuple(dict(c) for c in (getattr(reply, "tool_calls", None) or ()))
    return PredTurn(st.get("intent"), dict(st.get("slots") or {}), bool(reply.handoff), calls,
                    seconds=round(time.perf_counter() - start, 3),
                    offer_human=bool(getattr(reply, "offer_human", False)))


def run_dialogue(bot: Assistant, dialogue: Dialogue, thread_id: str) -> list[PredTurn]:
    """Send every user turn; an exception ends the dialogue (later turns count as missing)."""
    preds: list[PredTurn] = []
    for turn in dialogue.turns:
        try:
            preds.append(run_turn(bot, thread_id, turn.user))
        except Exception as e:  # noqa: BLE001 - one broken dialogue must not end the run
            detail = traceback.format_exception_only(type(e), e)[-1].strip()
            preds.append(PredTurn(None, {}, error=detail))
            break
    return preds


def run_dialogues(bot: Assistant, dialogues: Sequence[Dialogue], *, live_db: Path,
                  pristine_db: Path, run_id: str,
                  on_dialogue: Callable[[Dialogue, list[PredTurn]], None] | None = None,
                  ) -> tuple[list[list[PredTurn]], RunStats]:
    """Run each dialogue on a fresh thread and a freshly restored database."""
    start = time.perf_counter()
    out: list[list[PredTurn]] = []
    for d in dialogues:
        restore(pristine_db, live_db)
        preds = run_dialogue(bot, d, f"dst-{run_id}-{d.id}")
        out.append(preds)
        if on_dialogue is not None:
            on_dialogue(d, preds)
    wall = time.perf_counter() - start
    return out, RunStats(len(dialogues), sum(len(p) for p in out), round(wall, 2))
