"""The LlamaIndex side of ``bench/ingest_peer_bench.py``; runs INSIDE bench/.peer-venv-llamaindex.

Owns: loading a folder with LlamaIndex's ``SimpleDirectoryReader`` (recursive), splitting with
``SentenceSplitter``, embedding with ``HuggingFaceEmbedding`` over a local sentence-transformers
folder, building an in-memory ``VectorStoreIndex``, timing each step, and running labelled
questions through the index's retriever. Prints one JSON object on stdout (logs go to stderr).
Does not score anything: the parent script judges relevance with ragkit's own rule, so both
frameworks are scored by the same code. Imports nothing from ragkit (it is not installed here).

Choices, all recorded in the output:
- Reader: LlamaIndex defaults (pypdf for .pdf, docx2txt for .docx, plain text for everything it
  has no reader for: .md, .txt, .json, .jsonl), except .html, which gets the package's
  ``HTMLTagReader(tag="body")`` so the peer is not fed raw markup, styles and scripts.
- Splitter: ``SentenceSplitter(chunk_size, chunk_overlap)`` counting tokens with the embedder's
  own tokenizer (ragkit's budget is measured in the same tokens); LlamaIndex's default tokenizer
  is tiktoken's, which counts differently.
- Embedding batch size is passed in (the parent uses ragkit's encode batch), vectors are
  normalised, query/passage prompts are given.
- Model load (embedder + tokenizer + one warm-up batch) is timed apart from ingestion.
- The retriever is asked for top-``k`` once; its top-5 is the prefix of that exact ranking.

Usage (the parent script builds this command)::

    bench/.peer-venv-llamaindex/bin/python bench/peers/llamaindex_run.py \
        --store knowledge/store --model DIR --questions knowledge/eval/retrieval.jsonl \
        --query-prompt "query: " --text-prompt "passage: " --threads 2
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def log(msg: str) -> None:
    print(f"[llamaindex] {msg}", file=sys.stderr, flush=True)


def load_questions(path: Path, limit: int | None) -> list[dict[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            out.append({"id": str(obj["id"]), "question": obj["question"]})
    return out[:limit] if limit else out


def load_models(model_dir: str, query_prompt: str, text_prompt: str,
                batch: int) -> tuple[Any, Any, float]:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers import AutoTokenizer

    t0 = time.perf_counter()  # library imports above are not model load time
    embed = HuggingFaceEmbedding(
        model_name=model_dir, query_instruction=query_prompt or None,
        text_instruction=text_prompt or None, embed_batch_size=batch, device="cpu",
        normalize=True,
    )
    tok = AutoTokenizer.from_pretrained(model_dir)
    embed.get_text_embedding("warm-up")
    embed.get_query_embedding("warm-up")
    return embed, tok, time.perf_counter() - t0


def read_folder(store: Path) -> tuple[list[Any], dict[str, Any]]:
    from llama_index.core import SimpleDirectoryReader
    from llama_index.readers.file import HTMLTagReader

    html = HTMLTagReader(tag="body")
    reader = SimpleDirectoryReader(
        input_dir=str(store), recursive=True, raise_on_error=False,
        file_extractor={".html": html, ".htm": html},
    )
    docs = reader.load_data(show_progress=False)
    base = store.parent
    listed = sorted(Path(p).resolve().relative_to(base).as_posix() for p in reader.input_files)
    chars: dict[str, int] = {}
    for d in docs:
        rel = Path(d.metadata["file_path"]).resolve().relative_to(base).as_posix()
        chars[rel] = chars.get(rel, 0) + len(d.text or "")
    supported = set(SimpleDirectoryReader.supported_suffix_fn()) | {".html", ".htm"}
    info = {
        "listed": len(listed),
        "loaded": sorted(f for f in chars if chars[f] > 0),
        "empty": sorted(f for f in chars if chars[f] == 0),
        "failed_or_skipped": [f for f in listed if f not in chars],
        "reader_by_suffix": {
            s: ("HTMLTagReader(tag='body')" if s in (".html", ".htm")
                else "default reader" if s in supported else "plain text (no reader)")
            for s in sorted({Path(f).suffix.lower() for f in listed})
        },
    }
    return docs, info


def ingest_once(store: Path, embed: Any, tok: Any, chunk_size: int,
                overlap: int) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter

    t0 = time.perf_counter()
    docs, files = read_folder(store)
    t1 = time.perf_counter()
    splitter = SentenceSplitter(
        chunk_size=chunk_size, chunk_overlap=overlap,
        tokenizer=lambda s: tok.encode(s, add_special_tokens=False),
    )
    nodes = splitter.get_nodes_from_documents(docs)
    t2 = time.perf_counter()
    index = VectorStoreIndex(nodes, embed_model=embed, show_progress=False)
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llamaindex-persist-") as tmp:
        index.storage_context.persist(persist_dir=tmp)
        t4 = time.perf_counter()
        persisted = sum(f.stat().st_size for f in Path(tmp).iterdir())
    run = {
        "read_s": round(t1 - t0, 3), "split_s": round(t2 - t1, 3),
        "embed_index_s": round(t3 - t2, 3), "ingest_s": round(t3 - t0, 3),
        "persist_s": round(t4 - t3, 3), "persisted_bytes": persisted,
        "documents": len(docs), "nodes": len(nodes),
    }
    return index, run, files


def retrieve(index: Any, questions: list[dict[str, str]], k: int,
             base: Path) -> tuple[dict[str, list[list[str]]], float]:
    retriever = index.as_retriever(similarity_top_k=k)
    out: dict[str, list[list[str]]] = {}
    t0 = time.perf_counter()
    for q in questions:
        ranked = []
        for hit in retriever.retrieve(q["question"]):
            path = Path(hit.node.metadata["file_path"]).resolve().relative_to(base).as_posix()
            ranked.append([path, hit.node.get_content()])
        out[q["id"]] = ranked
    ms = 1000 * (time.perf_counter() - t0) / max(1, len(questions))
    return out, ms


def main() -> int:
    ap = argparse.ArgumentParser(description="LlamaIndex ingestion + retrieval peer run")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--model", required=True, help="local sentence-transformers folder")
    ap.add_argument("--questions", type=Path, default=None, help="omit to time ingestion only")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--query-prompt", default="")
    ap.add_argument("--text-prompt", default="")
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--chunk-overlap", type=int, default=32)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="embedding batch size")
    args = ap.parse_args()

    logging.disable(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    store = args.store.resolve()
    log(f"loading {args.model}")
    embed, tok, load_s = load_models(args.model, args.query_prompt, args.text_prompt, args.batch)
    runs: list[dict[str, Any]] = []
    index = files = None
    for i in range(args.repeats):
        log(f"cold ingestion {i + 1}/{args.repeats}")
        index, run, files = ingest_once(store, embed, tok, args.chunk_size, args.chunk_overlap)
        runs.append(run)
    ranked: dict[str, list[list[str]]] = {}
    ms = 0.0
    if args.questions is not None:
        questions = load_questions(args.questions, args.limit)
        log(f"retrieving {len(questions)} questions")
        ranked, ms = retrieve(index, questions, args.k, store.parent)
    json.dump({
        "framework": "llama-index",
        "versions": {d: md.version(d) for d in (
            "llama-index-core", "llama-index-embeddings-huggingface", "llama-index-readers-file",
            "sentence-transformers", "transformers", "torch")},
        "settings": {
            "chunk_size": args.chunk_size, "chunk_overlap": args.chunk_overlap,
            "splitter_tokenizer": "embedder tokenizer (AutoTokenizer of --model)",
            "embed_batch_size": args.batch, "query_prompt": args.query_prompt,
            "text_prompt": args.text_prompt, "k": args.k, "threads": torch.get_num_threads(),
            "pid": os.getpid(),
        },
        "model_load_s": round(load_s, 3),
        "runs": runs,
        "files": files,
        "retrieval": {"ms_per_query": round(ms, 2), "ranked": ranked},
    }, sys.stdout, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
