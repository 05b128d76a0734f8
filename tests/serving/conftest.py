"""Fixtures for the serving tests: a tiny real Qwen2 model, a real LocalGenerator on it, and the
real OpenAI-compatible server running under uvicorn on an ephemeral loopback port."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tiny_models import DEFAULT_CORPUS, build_tiny_causal_lm

MODEL_NAME = "tiny-qwen2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_request(base_url: str, body: bytes, headers: dict[str, str]) -> socket.socket:
    """Open a connection and send a POST's head and ``body`` (all, part, or none of it)."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    head = "".join(f"{k}: {v}\r\n" for k, v in
                   {"Host": host, "Content-Type": "application/json", **headers}.items())
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\n{head}\r\n".encode() + body)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of the answer on ``sock`` (read until the server closes it)."""
    sock.settimeout(30)  # a server still waiting for the rest of the body never answers
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    sock.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


@contextmanager
def running_server(generator: Any, model_name: str, **options: Any) -> Iterator[tuple[str, Any]]:
    """Run the real app under uvicorn in a background thread; yields (base URL, app).

    ``options`` go to :func:`~ragkit.generation.server.create_app` (e.g. ``max_body_bytes``)."""
    import uvicorn

    from ragkit.generation.server import create_app

    app = create_app(generator, model_name, **options)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def long_running_prompt(generator: Any, max_tokens: int) -> str:
    """A prompt the tiny model answers without stopping for ``max_tokens`` tokens (greedy)."""
    from ragkit.generation.base import SamplingParams
    from ragkit.types import Message

    for text in ["Tell me everything about refunds.", "退款", "def add(a, b):", "Shipping?",
                 "Settings and Security", "password password password"]:
        result = generator.generate([Message("user", text)], SamplingParams(max_tokens=max_tokens))
        if result.finish_reason == "length":
            return text
    pytest.fail("every probe prompt stopped early; change the probe prompts")


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), DEFAULT_CORPUS)


@pytest.fixture(scope="session")
def local_generator(tiny_lm_dir: Path) -> Any:
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    generator = LocalGenerator(GeneratorConfig(model=str(tiny_lm_dir), device="cpu"))
    load = getattr(generator, "load", None)
    if callable(load):
        load()
    return generator


@pytest.fixture(scope="session")
def served(local_generator: Any) -> Iterator[tuple[str, Any]]:
    with running_server(local_generator, MODEL_NAME) as pair:
        yield pair


@pytest.fixture(scope="session")
def base_url(served: tuple[str, Any]) -> str:
    return served[0]


@pytest.fixture()
def client(base_url: str) -> Iterator[Any]:
    from ragkit.generation.openai_client import OpenAICompatibleGenerator

    gen = OpenAICompatibleGenerator(base_url, MODEL_NAME, timeout=120)
    yield gen
    gen.close()
