#!/usr/bin/env bash
# Create (idempotently) the virtual environment of the LlamaIndex peer used by
# bench/ingest_peer_bench.py: bench/.peer-venv-llamaindex (git-ignored).
#
# The venv is clean (no --system-site-packages) so LlamaIndex and its dependency tree never
# touch ragkit's environment. torch is installed first and pinned (==2.13.0, the CPU build) so
# nothing later can swap in a CUDA build.
#
# Usage: bash bench/peers/setup_llamaindex.sh           # create or update, then verify
#        FORCE=1 bash bench/peers/setup_llamaindex.sh   # delete and re-create
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/bench/.peer-venv-llamaindex"
REQS="$ROOT/bench/peers/llamaindex-requirements.txt"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.requirements.sha256"

if [[ -n "${FORCE:-}" ]]; then
    rm -rf "$VENV"
fi
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "LlamaIndex peer venv is up to date: $VENV"
else
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    pip=("$VENV/bin/python" -m pip install --quiet)
    "${pip[@]}" "$(grep -E '^torch==' "$REQS")"
    "${pip[@]}" -r "$REQS" -c "$REQS"
    echo "$want" > "$STAMP"
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import torch
assert not torch.version.cuda, f"CUDA torch in the peer venv ({torch.__version__}); re-run with FORCE=1"
names = ("llama-index-core", "llama-index-embeddings-huggingface", "llama-index-readers-file",
         "sentence-transformers", "torch")
print("peer ready:", ", ".join(f"{n} {md.version(n)}" for n in names))
PY
