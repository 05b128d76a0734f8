"""The wheel works outside the checkout: build it with ``python -m build``, install it into a
fresh virtual environment in a temporary folder, and run the installed ``ragkit`` from there.

The venv sees the site-packages of the interpreter running the tests (so torch and the other
dependencies are not fetched again, also when the tests themselves run in a venv, as the
Quickstart's do) and the wheel is installed with ``--no-deps``; every command runs with its working
directory outside the repository and without PYTHONPATH, and the test checks that ``ragkit``
is imported from the venv, not from the editable checkout. The bundled sample store, support
domain, orders data and prompts must all come from the installed package.
"""

from __future__ import annotations

import json
import os
import queue
import site
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import ragkit
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Run by the installed interpreter: every kind of bundled data is found and parses.
CHECK_DATA = """
import json, sys
from pathlib import Path
import ragkit
from ragkit.codeagent.prompts import plan_messages
from ragkit.data import sample_store, support_data, support_domain
from ragkit.rag.prompts import render
from ragkit.support.db import open_db
from ragkit.support.domain import load_domain

domain = load_domain()
db = open_db(Path(sys.argv[1]))  # built from the bundled orders data
orders = json.loads((support_data() / "orders.json").read_text(encoding="utf-8"))
print(json.dumps({
    "ragkit": ragkit.__file__, "store": str(sample_store()), "domain": str(support_domain()),
    "data": str(support_data()), "products": len(domain.products),
    "facts": sorted(domain.facts)[:3], "retry_prompt": render("retry", "zh"),
    "plan": plan_messages("add two numbers")[-1].content,
    "orders": len(orders), "found": all(db.get_order(o["order_id"]) for o in orders),
}))
"""


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300,
        ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def see_dependencies(venv: Path) -> None:
    """Let ``venv`` import what this interpreter has installed. --system-site-packages alone
    gives the base interpreter's site-packages, not those of a venv the tests run in. Plain
    path lines: no .pth hooks run, so the checkout's editable-install finder stays out."""
    dirs = [p for p in dict.fromkeys([*site.getsitepackages(), *sys.path])
            if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    purelib = run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path("
                  "'purelib'))", cwd=venv, env={}).stdout.strip()
    (Path(purelib) / "_ragkit_test_deps.pth").write_text("\n".join(dirs) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """(venv, environment, working directory) with the freshly built wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(RAGKIT_HOME=str(tmp / "home"), NO_COLOR="1", COLUMNS="200",
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    dist = tmp / "dist"
    # --no-isolation: build with the setuptools installed here instead of fetching one
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT, cwd=work,
        env=env)
    wheels, sdists = list(dist.glob("ragkit-*.whl")), list(dist.glob("ragkit-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    assert f"-{ragkit.__version__}-" in wheels[0].name
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv, cwd=work, env=env)
    see_dependencies(venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index",
        "--force-reinstall", "--quiet", wheels[0], cwd=work, env=env)
    return venv, env, work


def test_wheel_and_sdist_hold_the_bundled_data_as_real_files(installed) -> None:
    venv, env, work = installed
    dist = next(work.parent.glob("dist"))
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as whl:
        infos = whl.infolist()
    names = {i.filename for i in infos}
    assert not [i.filename for i in infos if (i.external_attr >> 16) & 0o170000 == 0o120000]
    for need in ("ragkit/data/store_domain.yaml", "ragkit/data/store_facts.json",
                 "ragkit/data/support/orders.json", "ragkit/data/store/policies/returns.md",
                 "ragkit/data/store/policies/warranty_terms.pdf",
                 "ragkit/prompts/rag/retry.en.txt", "ragkit/prompts/codeagent/plan.txt",
                 "ragkit/py.typed"):
        assert need in names, need
    repo_store = {p.relative_to(ROOT).as_posix()
                  for p in (ROOT / "ragkit" / "data" / "store").rglob("*") if p.is_file()}
    assert repo_store <= names  # every sample document ships
    with tarfile.open(next(dist.glob("*.tar.gz"))) as sdist:
        members = sdist.getmembers()
    assert not [m.name for m in members if m.issym() or m.islnk()]
    assert any(m.name.endswith("ragkit/data/support/orders.json") for m in members)


def test_installed_wheel_reads_its_own_data(installed, tmp_path: Path) -> None:
    venv, env, work = installed
    site = venv / "lib"
    out = run(venv / "bin" / "python", "-c", CHECK_DATA, tmp_path / "orders.db", cwd=work,
              env=env).stdout
    got = json.loads(out)
    for key in ("ragkit", "store", "domain", "data"):
        assert Path(got[key]).is_relative_to(site), (key, got[key])  # not the checkout's
    assert got["products"] > 10 and got["orders"] > 10 and got["found"] and got["facts"]
    assert got["retry_prompt"].strip() and "add two numbers" in got["plan"]


def test_installed_cli_version_index_search_and_ui(installed, tiny_embedder_dir: Path) -> None:
    venv, env, work = installed
    cli = venv / "bin" / "ragkit"
    assert run(cli, "--version", cwd=work, env=env).stdout.strip() == f"ragkit {ragkit.__version__}"

    sample = Path(run(venv / "bin" / "python", "-c",
                      "from ragkit.data import sample_store; print(sample_store())",
                      cwd=work, env=env).stdout.strip())
    assert sample.is_relative_to(venv) and sample.is_dir()
    n_docs = sum(1 for p in sample.rglob("*") if p.is_file())
    kb = work / "kb"
    report = json.loads(run(cli, "index", sample, "--kb", kb, "--embedder", tiny_embedder_dir,
                            "--json", cwd=work, env=env).stdout)
    assert report["failed"] == [] and report["added"] == n_docs and report["chunks_embedded"] > 0

    hits = json.loads(run(cli, "search", "descale the kettle", "--kb", kb, "--mode", "keyword",
                          "--json", cwd=work, env=env).stdout)
    assert hits and hits[0]["source"] == "store/manuals/kettle_aurora.md"
    assert json.loads(run(cli, "search", "refund", "--kb", kb, "--json", cwd=work,
                          env=env).stdout)  # hybrid search over the tiny embedder's vectors

    # the UI with the default (bundled) support domain; --no-preload loads no generator
    port = free_port()
    proc = subprocess.Popen([str(cli), "ui", "--kb", str(kb), "--no-preload", "--port", str(port)],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    urls: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "ragkit UI running at " in line:
                urls.put(line.split("running at ", 1)[1].split()[0])

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 240  # a safety net, not a speed check
        url = None
        while url is None:
            try:
                url = urls.get(timeout=1.0)
            except queue.Empty:
                assert proc.poll() is None and time.monotonic() < deadline, "".join(lines[-60:])
        with urllib.request.urlopen(url, timeout=60) as resp:
            assert resp.status == 200
            assert b"gradio" in resp.read().lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
