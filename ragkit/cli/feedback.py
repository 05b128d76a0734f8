"""``ragkit feedback ...``: the thumbs up and down people gave answers in the UI, listed
(``list``) and written as an evaluation set (``export``) that ``ragkit eval rag --set`` reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ragkit.cli.kb import DEFAULT_KB, JsonOpt, KbDirOpt, clean, err, out

feedback_app = typer.Typer(help="Feedback on answers (the UI's thumbs and reasons): list it, "
                           "or export it as an evaluation set.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")


def _store(kb: Path):
    from ragkit.feedback import FILE, FeedbackStore

    if not (kb / FILE).is_file():
        return None
    return FeedbackStore(kb)


@feedback_app.command("list")
def list_cmd(kb: KbDirOpt = DEFAULT_KB, as_json: JsonOpt = False) -> None:
    """Every verdict given on this knowledge base's answers, oldest first."""
    store = _store(kb)
    items = store.all() if store is not None else []
    if as_json:
        print(json.dumps([f.to_dict() for f in items], ensure_ascii=False, indent=1))
        return
    if not items:
        err.print("no feedback yet: rate answers with the thumbs in `ragkit ui`")
        return
    for f in items:
        verdict = "up" if f.rating == "up" else f"down{f' ({f.reason})' if f.reason else ''}"
        out.print(f"{verdict:<28} {clean(f.question[:70])}")


@feedback_app.command("export")
def export_cmd(
    out_path: Annotated[Path, typer.Option("--out", help="The evaluation set to write "
                                           "(JSONL); rows a person must finish go to "
                                           "NAME.review.jsonl beside it.")],
    kb: KbDirOpt = DEFAULT_KB,
    as_json: JsonOpt = False,
) -> None:
    """Write the feedback as an evaluation set for `ragkit eval rag --set FILE`.

    Approved answers become questions whose facts are the figures the answer shares with its
    source; approved refusals and "should not answer" become unanswerable questions. The
    rest (a wrong answer, a refusal that should have answered, an answer with no figure to
    check) goes to a review file that says what is missing."""
    from ragkit.feedback import labelled_rows, write_jsonl

    store = _store(kb)
    ready, review = labelled_rows(store.all() if store is not None else [])
    review_path = out_path.with_name(out_path.stem + ".review.jsonl")
    write_jsonl(out_path, ready)
    write_jsonl(review_path, review)
    if as_json:
        print(json.dumps({"set": str(out_path), "questions": len(ready),
                          "review": str(review_path), "to_review": len(review)}))
        return
    out.print(f"{len(ready)} question(s) written to {clean(str(out_path))}; "
              f"{len(review)} to finish by hand in {clean(str(review_path))}")
    if ready:
        out.print(f"run them with `ragkit eval rag --set {clean(str(out_path))} --kb ...`")
