"""Sandbox overhead: wall time of one trivial ``run_tests`` call against bare peers.

Owns timings only. Each variant runs the same trivial code and one passing test ``repeat``
times (after one warm-up); the table shows median and p90 seconds and the ratio to the bare
peer measured in the same run:

- ``bare_subprocess``: ``python -I -S -c <code + test>``, no limits, no isolation (the least a
  fresh-interpreter design can cost);
- ``sandbox_no_namespaces``: ``run_tests`` with network and file isolation switched off (uid
  drop, rlimits, fork per test, result pipe still on);
- ``sandbox_default``: ``run_tests`` with every protection this machine allows;
- ``sandbox_3_tests``: the default with three tests (one fork each), to show the per-test cost.

Run::

    python bench/sandbox_bench.py             # 20 runs per variant, about half a minute
    python bench/sandbox_bench.py --repeat 5

Writes ``bench/results/sandbox.json``. Timings on a shared 2-core machine are contended.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragkit.sandbox import SandboxLimits, run_tests  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sandbox.json"
CODE = "def add(a, b):\n    return a + b\n"
ONE = "def test_add():\n    assert add(1, 2) == 3\n"
THREE = ONE + "\ndef test_b():\n    assert add(0, 0) == 0\n\ndef test_c():\n    assert add(-1, 1) == 0\n"


def bare() -> None:
    subprocess.run([sys.executable, "-I", "-S", "-c", CODE + ONE + "test_add()\n"], check=True,
                   env={"PATH": "/usr/bin:/bin"})


def sandbox(tests: str, limits: SandboxLimits | None = None) -> Callable[[], None]:
    def go() -> None:
        res = run_tests(CODE, tests, limits=limits)
        assert res.status == "passed", res.to_dict()

    return go


def measure(fn: Callable[[], None], repeat: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    variants: dict[str, Callable[[], None]] = {
        "bare_subprocess": bare,
        "sandbox_no_namespaces": sandbox(ONE, SandboxLimits(isolate_network=False,
                                                            isolate_files=False)),
        "sandbox_default": sandbox(ONE),
        "sandbox_3_tests": sandbox(THREE),
    }
    rows = {}
    for name, fn in variants.items():
        times = sorted(measure(fn, args.repeat))
        rows[name] = {"median_s": statistics.median(times),
                      "p90_s": times[int(0.9 * (len(times) - 1))], "runs": len(times)}
    base = rows["bare_subprocess"]["median_s"]
    print(f"{'variant':<24}{'median s':>10}{'p90 s':>10}{'x bare':>8}")
    for name, row in rows.items():
        row["ratio_to_bare"] = row["median_s"] / base
        print(f"{name:<24}{row['median_s']:>10.3f}{row['p90_s']:>10.3f}"
              f"{row['ratio_to_bare']:>8.2f}")
    iso = run_tests(CODE, ONE).isolation.to_dict()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "root": os.geteuid() == 0},
        "isolation": iso, "repeat": args.repeat, "variants": rows,
        "note": "shared 2-core machine; timings are contended",
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
