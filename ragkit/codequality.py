"""Code quality report for a piece of generated Python: correctness, style, complexity.

Owns :func:`quality_report` and its result types, and :func:`formatted` (``ruff format``).
Style comes from the ``ruff`` executable
(JSON output, code sent on stdin, the project's configuration ignored so every report uses the
same fixed rule set); cyclomatic complexity per function comes from a small ``ast`` visitor
here (McCabe's count: 1 + one per branch point). Correctness is whatever the caller measured in
the sandbox (``passed``/``total``, or a :class:`~ragkit.sandbox.SandboxResult`). This module
never executes the code.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragkit.sandbox import SandboxResult

#: The fixed rule set of every report (the project's own lint selection, long lines allowed).
RUFF_ARGS = ("--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
             "--select", "E,F,W,I,B,SIM,UP", "--ignore", "E501", "--target-version", "py311")
#: Functions above this are flagged in the markdown report.
COMPLEX = 10


@dataclass(frozen=True)
class Finding:
    """One ruff finding: rule code (``invalid-syntax`` for a parse error), message, line."""

    code: str
    message: str
    line: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FunctionComplexity:
    """Cyclomatic complexity of one function; nested names are dotted (``Cls.method``)."""

    name: str
    line: int
    complexity: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityReport:
    """Correctness (optional), ruff findings and per-function complexity for ``code``."""

    code: str
    passed: int | None = None
    total: int | None = None
    ruff: list[Finding] = field(default_factory=list)
    complexity: list[FunctionComplexity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def max_complexity(self) -> int:
        return max((f.complexity for f in self.complexity), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "total": self.total,
                "ruff": [f.to_dict() for f in self.ruff],
                "complexity": [c.to_dict() for c in self.complexity],
                "max_complexity": self.max_complexity, "notes": list(self.notes)}

    def to_markdown(self, *, include_code: bool = True) -> str:
        lines = ["### Code quality", ""]
        if self.total is not None:
            mark = "all passed" if self.passed == self.total else "some failing"
            lines.append(f"- **Tests:** {self.passed}/{self.total} passed ({mark})")
        else:
            lines.append("- **Tests:** not run")
        lines.append(f"- **Style (ruff):** {len(self.ruff)} finding(s)")
        for f in self.ruff:
            lines.append(f"  - line {f.line}: `{f.code}` {f.message}")
        lines.append(f"- **Complexity:** max {self.max_complexity} (cyclomatic)")
        if self.complexity:
            lines += ["", "| function | line | complexity |", "|---|---:|---:|"]
            for c in self.complexity:
                flag = " (high)" if c.complexity > COMPLEX else ""
                lines.append(f"| `{c.name}` | {c.line} | {c.complexity}{flag} |")
        lines += [f"- _{n}_" for n in self.notes]
        if include_code:
            lines += ["", "```python", self.code.rstrip("\n"), "```"]
        return "\n".join(lines) + "\n"


class _Complexity(ast.NodeVisitor):
    """Collects McCabe complexity for every function, nested ones included."""

    BRANCHES = (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler,
                ast.Assert, ast.comprehension, ast.match_case)

    def __init__(self) -> None:
        self.found: list[FunctionComplexity] = []
        self.scope: list[str] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        score = 1 + sum(_branches(stmt) for stmt in node.body)
        self.found.append(FunctionComplexity(".".join(self.scope), node.lineno, score))
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()


def _branches(node: ast.AST) -> int:
    """Branch points in ``node`` without descending into nested functions or classes."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
        return 0
    own = 0
    if isinstance(node, _Complexity.BRANCHES):
        own = 1 + (len(node.ifs) if isinstance(node, ast.comprehension) else 0)
    elif isinstance(node, ast.BoolOp):
        own = len(node.values) - 1
    return own + sum(_branches(child) for child in ast.iter_child_nodes(node))


def complexity(code: str) -> list[FunctionComplexity]:
    """Cyclomatic complexity per function, in source order. Raises SyntaxError."""
    visitor = _Complexity()
    visitor.visit(ast.parse(code))
    return sorted(visitor.found, key=lambda f: f.line)


def _ruff_command() -> list[str] | None:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:  # the ruff wheel installed into an environment whose bin/ is not on PATH
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-not-found]
    except ImportError:
        return None
    return [str(find_ruff_bin())]


def ruff_findings(code: str, *, timeout_s: float = 30.0) -> list[Finding]:
    """Run ruff on ``code`` (stdin). Raises FileNotFoundError when ruff is not installed."""
    cmd = _ruff_command()
    if cmd is None:
        raise FileNotFoundError("ruff")
    proc = subprocess.run(  # noqa: S603 - fixed arguments, code on stdin
        [*cmd, "check", *RUFF_ARGS, "--stdin-filename", "solution.py", "-"],
        input=code, capture_output=True, text=True, timeout=timeout_s, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ruff failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    items = json.loads(proc.stdout or "[]")
    findings = [Finding(code=str(i.get("code") or "invalid-syntax"), message=str(i["message"]),
                        line=int((i.get("location") or {}).get("row") or 0)) for i in items]
    return sorted(findings, key=lambda f: (f.line, f.code))


def formatted(code: str, *, timeout_s: float = 30.0) -> str | None:
    """``code`` as ``ruff format`` writes it (fixed settings, project configuration ignored),
    or None when ruff is missing or cannot format it (a syntax error)."""
    cmd = _ruff_command()
    if cmd is None:
        return None
    proc = subprocess.run(  # noqa: S603 - fixed arguments, code on stdin
        [*cmd, "format", "--isolated", "--no-cache", "--line-length", "100",
         "--stdin-filename", "solution.py", "-"],
        input=code, capture_output=True, text=True, timeout=timeout_s, check=False,
    )
    return proc.stdout if proc.returncode == 0 and proc.stdout.strip() else None


def quality_report(code: str, *, result: SandboxResult | None = None, passed: int | None = None,
                   total: int | None = None) -> QualityReport:
    """Style and complexity of ``code``; correctness from ``result`` or ``passed``/``total``."""
    if result is not None:
        passed, total = result.passed, result.total
    notes: list[str] = []
    try:
        findings = ruff_findings(code)
    except FileNotFoundError:
        findings = []
        notes.append("ruff is not installed: style not checked (pip install ruff)")
    try:
        funcs = complexity(code)
    except SyntaxError as exc:
        funcs = []
        notes.append(f"complexity not measured: SyntaxError at line {exc.lineno}: {exc.msg}")
    return QualityReport(code=code, passed=passed, total=total, ruff=findings,
                         complexity=funcs, notes=notes)
