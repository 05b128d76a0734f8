"""``ragkit generate`` through typer's CliRunner and ``ragkit serve-model`` as a real subprocess,
both on the tiny Qwen2 model folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.cli.serve import parse_rope
from ragkit.errors import ConfigError
from ragkit.generation.base import SamplingParams
from ragkit.types import Message
from tests.serving.conftest import MODEL_NAME, free_port, raw_request, read_response

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "How do I reset my password?"


def expected(local_generator: Any, max_tokens: int = 12) -> str:
    return local_generator.generate([Message("user", PROMPT)],
                                    SamplingParams(max_tokens=max_tokens)).text


def test_generate_streams_reply_and_prints_usage(tiny_lm_dir: Path, local_generator: Any) -> None:
    result = CliRunner().invoke(app, ["generate", PROMPT, "--model", str(tiny_lm_dir),
                                      "--max-tokens", "12"])
    assert result.exit_code == 0, result.output
    assert result.stdout == expected(local_generator) + "\n"
    assert "tok/s" in result.stderr and "cached" in result.stderr and "TTFT" in result.stderr


def test_generate_json_output(tiny_lm_dir: Path, local_generator: Any) -> None:
    result = CliRunner().invoke(app, ["generate", PROMPT, "--model", str(tiny_lm_dir),
                                      "--max-tokens", "12", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["text"] == expected(local_generator)
    assert data["usage"]["completion_tokens"] >= 1
    assert data["finish_reason"] in ("stop", "length")


def test_generate_against_a_running_server(base_url: str, local_generator: Any) -> None:
    result = CliRunner().invoke(app, ["generate", PROMPT, "--url", base_url, "--model", MODEL_NAME,
                                      "--max-tokens", "12"])
    assert result.exit_code == 0, result.output
    assert result.stdout == expected(local_generator) + "\n"


def test_generate_with_unreachable_server_says_what_to_do() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["generate", PROMPT, "--url", url])
    assert result.exit_code != 0
    assert "ragkit serve-model" in str(result.exception)


def test_parse_rope() -> None:
    assert parse_rope("yarn:4") == {"type": "yarn", "factor": 4.0}
    assert parse_rope(None) is None
    for bad in ("yarn", "yarn:x", "yarn:1", ":4"):
        with pytest.raises(ConfigError, match="TYPE:FACTOR"):
            parse_rope(bad)


def test_serve_model_subprocess_round_trip(tiny_lm_dir: Path, local_generator: Any) -> None:
    from ragkit.generation.openai_client import OpenAICompatibleGenerator

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragkit", "serve-model", "--model", str(tiny_lm_dir),
         "--port", str(port), "--served-name", "tiny", "--max-body-mb", "0.5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve-model did not come up within 120 s"
            time.sleep(0.2)
        gen = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}/v1", "tiny")
        reply = gen.generate([Message("user", PROMPT)], SamplingParams(max_tokens=12))
        assert reply.text == expected(local_generator)
        assert reply.usage.prompt_tokens > 0
        sock = raw_request(f"http://127.0.0.1:{port}", b"", {"Content-Length": str(2**20)})
        status, refused = read_response(sock)
        assert status == 413 and "0.5 MiB" in refused["error"]["message"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert "loading" in err and f"http://127.0.0.1:{port}/v1" in err
