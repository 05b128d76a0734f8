"""llama.cpp's own OpenAI-compatible HTTP server as a benchmark peer; runs INSIDE
bench/.peer-venv-xllama (built by bench/peers/setup_xllamacpp.sh).

Owns: starting llama.cpp's C++ server (``llama-server``'s code, shipped in the prebuilt
``xllamacpp`` wheel) on 127.0.0.1:PORT with N parallel slots and continuous batching, waiting
until ``/health`` answers, printing ``READY http://127.0.0.1:PORT`` on stdout, and stopping it
cleanly on SIGTERM/SIGINT. The server itself does the HTTP: ``xllamacpp.Server(params)`` binds
``params.hostnames``/``params.port`` and serves ``/health``, ``/v1/models`` and
``/v1/chat/completions`` (``"stream": true`` gives OpenAI-style SSE). No Python sits on the
request path. Imports nothing from ragkit. Logs go to stderr.

Context: llama.cpp splits ``n_ctx`` evenly over the slots, so the total is
``--ctx-per-slot × --parallel``.

Threads: the wheel's ggml uses OpenMP (libgomp), whose wait policy must be fixed before the
library loads, so it is set before the import: ``--wait-policy`` if given, else the
environment's OMP_WAIT_POLICY (empty means libgomp's default), else PASSIVE. Measured on 2
cores, 0.5B Q4_K_M, 2 threads, 64-token greedy streams:
- idle machine: libgomp's default (spin a while, then sleep) ~21 tok/s for one stream and ~58
  tok/s in total for 4; PASSIVE ~12 and ~28; ACTIVE erratic (2 to 21, and 9 to 55).
- cores shared with other work (a busy loop, or a pytest run): default collapses to 1-2 tok/s
  (2.5-8 for 4); PASSIVE ~7-12 and ~19-32.
PASSIVE is the default because benchmarks here share the cores with a client and ragkit; pass
``--wait-policy gomp-default`` for the best figure on an otherwise idle machine, and say so.

Usage::

    bench/.peer-venv-xllama/bin/python bench/peers/xllamacpp_server.py \
        --model FILE.gguf --port 8091 --parallel 4 --threads 2 --ctx-per-slot 4096

The model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, ragkit's default generator) is the file printed
by ``ragkit models path qwen2.5-coder-0.5b-instruct --gguf``. Requests may send
``"cache_prompt": false`` to stop llama.cpp reusing a slot's cached prompt prefix (on by
default, reported as ``cached_tokens``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import urllib.request


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="GGUF file")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--parallel", type=int, default=1, help="server slots (n_parallel)")
    ap.add_argument("--threads", type=int, default=2, help="decode and prompt threads")
    ap.add_argument("--ctx-per-slot", type=int, default=4096)
    ap.add_argument(
        "--wait-policy",
        choices=("passive", "active", "gomp-default"),
        help="OpenMP wait policy (default: $OMP_WAIT_POLICY, else passive; see the docstring)",
    )
    args = ap.parse_args()
    policy = args.wait_policy or os.environ.get("OMP_WAIT_POLICY", "passive").lower()
    policy = policy or "gomp-default"
    if policy not in ("passive", "active", "gomp-default"):
        ap.error(f"unknown OMP_WAIT_POLICY {policy!r}")

    # libgomp reads OMP_WAIT_POLICY when it loads, i.e. on the import below
    os.environ.pop("OMP_WAIT_POLICY", None)
    if policy != "gomp-default":
        os.environ["OMP_WAIT_POLICY"] = policy.upper()
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = args.model
    p.hostnames = ["127.0.0.1"]
    p.port = args.port
    p.n_parallel = args.parallel
    p.n_ctx = args.ctx_per_slot * args.parallel  # per-slot context = n_ctx / n_parallel
    p.cont_batching = True
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.endpoint_metrics = True  # /metrics, handy for checking slot use
    server = xlc.Server(p)  # loads the model and starts listening; HTTP runs on its own threads

    url = f"http://127.0.0.1:{args.port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            print(f"no /health answer from {url}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"READY {url}", flush=True)
    print(
        f"wait_policy={policy} slots={args.parallel} n_ctx={p.n_ctx} threads={args.threads}",
        file=sys.stderr,
        flush=True,
    )

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):  # a timed wait keeps the main thread able to run signal handlers
        pass
    del server  # ~Server stops the HTTP listener and the main loop
    return 0


if __name__ == "__main__":
    sys.exit(main())
