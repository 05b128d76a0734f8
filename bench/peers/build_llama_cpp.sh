#!/usr/bin/env bash
# Build (once) and install the llama.cpp peer used by bench/generation_bench.py.
#
# llama-cpp-python has no prebuilt CPU wheel on PyPI: it compiles llama.cpp from source, which
# takes ~25 minutes on 2 cores. The wheel is cached in bench/.cache/wheels and reused; the peer
# lives in its own virtual environment (bench/.peer-venv) so the main environment stays clean.
# Both paths are git-ignored. Re-running this script is cheap once the wheel exists.
#
# Usage: bash bench/peers/build_llama_cpp.sh            # build if needed, then install
#        FORCE_REBUILD=1 bash bench/peers/build_llama_cpp.sh
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WHEELS="$ROOT/bench/.cache/wheels"
VENV="$ROOT/bench/.peer-venv"
PYTHON="${PYTHON:-python3}"

mkdir -p "$WHEELS"
wheel="$(ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [[ -n "$wheel" && -z "${FORCE_REBUILD:-}" ]]; then
    echo "reusing $wheel"
else
    echo "building llama-cpp-python==$VERSION from source (about 25 minutes on 2 cores)..."
    export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}"
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
    nice -n 10 "$PYTHON" -m pip wheel --no-deps --no-cache-dir \
        "llama-cpp-python==$VERSION" -w "$WHEELS"
    wheel="$(ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl | head -n1)"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install --quiet "$wheel"
"$VENV/bin/python" -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, 'ready in', '$VENV')"
