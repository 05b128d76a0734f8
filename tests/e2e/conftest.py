"""End-to-end fixtures: the app served by `ragkit ui` in a subprocess, driven by a real headless
Chromium through Playwright.

Chromium is Debian's package (`apt-get install -y chromium`), never a Playwright browser
download; override its path with RAGKIT_CHROMIUM. Tests here skip with a reason when the browser
or the `playwright` package is missing. Screenshots go to tests/e2e/screenshots/ (or
RAGKIT_E2E_SCREENSHOTS) and their paths are printed.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import tiny_kb  # noqa: F401  (shared fixture)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("RAGKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("RAGKIT_E2E_SCREENSHOTS", ROOT / "tests" / "e2e" / "screenshots"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the served app in a real headless Chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m ragkit ui ...` on a free loopback port; its output is kept for failures."""

    def __init__(self, args: list[str], cwd: Path, timeout: float = 300.0) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False",
               "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ragkit", "ui", "--port", str(self.port), *args],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        ready: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if "ragkit UI running at " in line:
                    ready.put(line.split("running at ", 1)[1].split()[0])

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.url = ready.get(timeout=1.0)
                return
            except queue.Empty:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("`ragkit ui` did not start:\n" + self.log()) from None

    def log(self) -> str:
        return "".join(self.lines[-80:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(180_000)
    yield pg
    context.close()


def screenshot(page, name: str, docs: str | None = None) -> Path:  # type: ignore[no-untyped-def]
    """Save the page as ``name``.png; with ``docs`` and RAGKIT_UPDATE_SCREENSHOT set, also as
    docs/``docs`` (the README's pictures)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    if docs and os.environ.get("RAGKIT_UPDATE_SCREENSHOT"):
        shutil.copy(path, ROOT / "docs" / docs)
    return path


def open_tab(page, url: str, tab: str) -> None:  # type: ignore[no-untyped-def]
    if page.url.rstrip("/") != url.rstrip("/"):
        page.goto(url)
        page.wait_for_selector("#chatbot")
    page.get_by_role("tab", name=tab).click()


def has_support_assistant() -> bool:
    from ragkit.ui.backend import has_module

    return has_module("ragkit.support", "SupportAssistant")
