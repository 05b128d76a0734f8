#!/usr/bin/env bash
# Create (idempotently) the virtual environment of the llama.cpp server peer run by
# bench/peers/xllamacpp_server.py: bench/.peer-venv-xllama (git-ignored).
#
# It holds only the prebuilt `xllamacpp` wheel (llama.cpp's C++ server with Python bindings; a
# manylinux abi3 wheel with no dependencies, AVX2/FMA build without AVX-512), so no compiler is
# needed and nothing touches ragkit's environment.
#
# Usage: bash bench/peers/setup_xllamacpp.sh           # create or update, then verify
#        FORCE=1 bash bench/peers/setup_xllamacpp.sh   # delete and re-create
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/bench/.peer-venv-xllama"
PIN="xllamacpp==2026.10.11549"
PYTHON="${PYTHON:-python3}"

if [[ -n "${FORCE:-}" ]]; then
    rm -rf "$VENV"
fi
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
have="$("$VENV/bin/python" -m pip show xllamacpp 2>/dev/null | sed -n 's/^Version: //p')"
if [[ "$have" != "${PIN#*==}" ]]; then
    "$VENV/bin/python" -m pip install --quiet "$PIN"
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import xllamacpp
print("peer ready: xllamacpp", md.version("xllamacpp"), "|", xllamacpp.get_system_info().strip())
PY
