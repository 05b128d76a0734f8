"""The model service: one long-lived process holding the models, shared by every ragkit command.

Owns:
- the service file, ``$RAGKIT_HOME/service.json`` (URL, pid, generator, start time): written
  atomically by ``ragkit serve`` once it listens, removed when it stops;
- :func:`find_service`: where a client finds a running service. ``RAGKIT_SERVER`` (a URL)
  wins, ``RAGKIT_SERVER=off`` turns the service off for this process, else the service file
  when its process is alive and ``/health`` answers within a fraction of a second; a stale
  file (the process died) is ignored;
- :func:`create_service_app`: the generator's OpenAI-compatible app
  (:func:`~ragkit.generation.server.create_app`: ``/v1/chat/completions``, ``/v1/models``)
  plus the routes ragkit's own clients use for the other models, under ``/ragkit/v1``:
  ``embedder`` (a model's id, dim, max_tokens), ``embed`` (query or passage vectors, float32
  base64), ``count_tokens``, ``relevance`` (a :class:`~ragkit.relevance.Relevance` mode run
  over the texts), and OpenAI's ``/v1/embeddings`` for other clients. Models other than the
  generator load on first request (``preload`` loads the defaults before serving) and stay.
The client side of these routes is :mod:`ragkit.remote`. The generator is served without the
guard: the service answers ragkit's pipelines, which guard their own input and output; expose
``ragkit serve-model`` (guarded) to anyone else.
Does not: decide which commands use the service (the CLI does, through ``sdk.attach_service``).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ragkit.config import ragkit_home
from ragkit.errors import ConfigError

SERVICE_FILE = "service.json"
ENV = "RAGKIT_SERVER"
PROBE_TIMEOUT_S = 0.5


# -- discovery (clients) -------------------------------------------------------------------------
def service_file() -> Path:
    return ragkit_home() / SERVICE_FILE


def write_service_file(url: str, generator: str) -> Path:
    """Announce a running service (atomic: a reader sees the old file or the new one)."""
    path = service_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "generator": generator,
                               "started": time.time()}))
    os.replace(tmp, path)
    return path


def remove_service_file() -> None:
    """Withdraw this process's announcement (another service's file is left alone)."""
    path = service_file()
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=PROBE_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


def find_service() -> tuple[str | None, str]:
    """(URL of a running service or None, a line saying how it was found or why not)."""
    env = os.environ.get(ENV, "").strip()
    if env.lower() in ("off", "0", "no", "none"):
        return None, f"{ENV}={env}: models load in this process"
    if env:
        url = env.rstrip("/").removesuffix("/v1")
        if _answers(url):
            return url, f"using the ragkit service at {url} ({ENV})"
        return None, (f"{ENV}={env} does not answer; loading models in this process "
                      f"(start it with `ragkit serve`, or unset {ENV})")
    try:
        data = json.loads(service_file().read_text())
        url, pid = str(data["url"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, "no ragkit service is running; loading models in this process " \
                     "(`ragkit serve` keeps them loaded for every command)"
    if _alive(pid) and _answers(url):
        return url, f"using the ragkit service at {url} (pid {pid})"
    return None, (f"the ragkit service announced in {service_file()} is not running; loading "
                  "models in this process (`ragkit serve` starts it again)")


# -- the app (the service process) ------------------------------------------------------------
def encode_vectors(vectors: Any) -> str:
    import numpy as np

    return base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode()


def decode_vectors(data: str, dim: int) -> Any:
    import numpy as np

    return np.frombuffer(base64.b64decode(data), dtype="<f4").reshape(-1, dim).copy()


def create_service_app(generator: Any, model_name: str, *,
                       load_embedder: Callable[[str], Any],
                       load_relevance: Callable[[str, Any], Any],
                       quantization: str = "none") -> Any:
    """The service's FastAPI app. ``load_embedder(name)`` and ``load_relevance(mode,
    embedder)`` build models once (the composition root passes its cached loaders)."""
    from fastapi import Body
    from starlette.concurrency import run_in_threadpool

    from ragkit.embedder import index_vectors
    from ragkit.errors import RagkitError
    from ragkit.generation.openai_wire import ApiError
    from ragkit.generation.server import create_app

    app = create_app(generator, model_name)
    locks: dict[str, threading.Lock] = {}  # one model call at a time per model (torch threads)
    guard = threading.Lock()
    served = {"embed": 0, "relevance": 0}

    def lock_for(name: str) -> threading.Lock:
        with guard:
            return locks.setdefault(name, threading.Lock())

    def embedder(name: str) -> Any:
        try:
            return load_embedder(name)
        except RagkitError as err:
            raise ApiError(400, str(err), param="model") from err

    def texts_of(body: dict[str, Any], key: str = "texts") -> list[str]:
        texts = body.get(key)
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ApiError(400, f"`{key}` must be a list of strings", param=key)
        return texts

    def describe(name: str) -> dict[str, Any]:
        emb = embedder(name)
        return {"id": emb.id, "dim": emb.dim, "max_tokens": emb.max_tokens,
                "path": str(getattr(emb, "path", ""))}

    @app.post("/ragkit/v1/embedder")
    async def embedder_info(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return await run_in_threadpool(describe, str(body.get("model", "")))

    def embed(body: dict[str, Any]) -> dict[str, Any]:
        name, kind = str(body.get("model", "")), body.get("kind", "passage")
        if kind not in ("query", "passage", "index"):
            raise ApiError(400, "`kind` is query, passage or index", param="kind")
        texts = texts_of(body)
        emb = embedder(name)
        run = {"query": emb.embed_queries, "passage": emb.embed_passages,
               "index": index_vectors(emb)}[kind]
        with lock_for(f"embed:{emb.id}"):
            vecs = run(texts)
        served["embed"] += 1
        return {"id": emb.id, "dim": emb.dim, "vectors": encode_vectors(vecs)}

    @app.post("/ragkit/v1/embed")
    async def embed_route(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return await run_in_threadpool(embed, body)

    def count(body: dict[str, Any]) -> dict[str, Any]:
        emb = embedder(str(body.get("model", "")))
        return {"counts": [emb.count_tokens(t) for t in texts_of(body)]}

    @app.post("/ragkit/v1/count_tokens")
    async def count_route(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return await run_in_threadpool(count, body)

    def relevance(body: dict[str, Any]) -> dict[str, Any]:
        mode, name = str(body.get("mode", "auto")), str(body.get("embedder", ""))
        query = body.get("query")
        if not isinstance(query, str):
            raise ApiError(400, "`query` must be a string", param="query")
        try:
            scorer = load_relevance(mode, embedder(name) if name else None)
        except RagkitError as err:
            raise ApiError(400, str(err), param="mode") from err
        if scorer is None:
            raise ApiError(400, "relevance mode 'off' scores nothing", param="mode")
        texts = texts_of(body)
        if not texts:  # a client asking which scorer this is (and loading it)
            return {"name": scorer.name, "scores": []}
        with lock_for(f"relevance:{scorer.name}"):
            scores = scorer.score(query, texts, translation=str(body.get("translation", "")))
        served["relevance"] += 1
        return {"name": scorer.name, "scores": [float(s) for s in scores]}

    @app.post("/ragkit/v1/relevance")
    async def relevance_route(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return await run_in_threadpool(relevance, body)

    def openai_embeddings(body: dict[str, Any]) -> dict[str, Any]:
        emb = embedder(str(body.get("model", "")))
        texts = texts_of(body, "input")
        with lock_for(f"embed:{emb.id}"):
            vecs = emb.embed_passages(texts)
        return {"object": "list", "model": emb.id, "usage": {"prompt_tokens": 0,
                                                              "total_tokens": 0},
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                         for i, v in enumerate(vecs)]}

    @app.post("/v1/embeddings")
    async def embeddings_route(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return await run_in_threadpool(openai_embeddings, body)

    @app.get("/ragkit/v1/info")
    def info() -> dict[str, Any]:
        from ragkit import __version__

        return {"ragkit": __version__, "generator": model_name, "quantization": quantization,
                "pid": os.getpid(), "served": dict(served)}

    return app


def check_port_free(host: str, port: int) -> None:
    """A clear error when something already listens where the service would."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as err:
            raise ConfigError(f"{host}:{port} is taken ({err.strerror}); is `ragkit serve` "
                              "already running? Pass --port to use another") from err


def run_service(app: Any, host: str, port: int, generator: str,
                announce: Callable[[str], None]) -> None:
    """Serve ``app`` until interrupted (blocking); the service file exists while it listens."""
    import uvicorn

    check_port_free(host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def publish() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            write_service_file(url, generator)
            announce(url)

    threading.Thread(target=publish, daemon=True).start()
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down on SIGTERM, then raises it again under the handler it found:
        # make that an exit that runs the cleanup below instead of the default kill
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run()
    finally:
        remove_service_file()
