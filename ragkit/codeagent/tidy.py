"""Clean final code: what a small model leaves around a solution that a person would delete.

Owns one pure function, :func:`tidy`, that removes, by line ranges of the parsed program (so
the comments and layout of everything kept stay as written):

* module-level statements that only demonstrate the code: ``print(...)``, calls of the
  code's own functions (``f(3)``), bare names, ``if __name__ == "__main__":`` blocks and
  top-level ``assert`` lines (other calls, such as ``sys.setrecursionlimit(...)``, stay);
* scaffolding functions (``check_solution``, ``test_*``, ``main``, ...) that nothing else in
  the code uses and the task does not name;
* ``print(...)`` statements inside functions, unless the task itself asks for printing
  ("print", "display", "打印", "显示") -- a solution that returns its answer does not print
  debugging lines;
* the comment lines directly above a removed statement (they described the removed line);

and says what it removed. A function body left empty gets ``pass`` so the program still
compiles. Imports, definitions, constants and docstrings are kept. Code that does not parse
is returned unchanged. Whether the tidied program still passes its tests is for the caller to
check (the agent re-runs them and keeps the original when they differ).
:func:`demo_stops` gives the stop strings that end a code reply where such demo code starts,
so the model does not spend time writing what tidy() would delete.
Does not: format code (``ruff format`` is the caller's choice) or run anything.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ragkit.codeagent.extract import SCAFFOLDING

PRINT_ASKED = re.compile(r"\bprint|\bdisplay|\bshow\b|打印|显示", re.I)

# Column-0 openings of demo code after a solution: statements that try it out, and the
# check_*/test_* functions a model adds to do so (unless the task asks for tests itself).
DEMO_OPENINGS = ("\nprint(", "\nassert ", "\nif __name__", "\n# Example", "\n# example",
                 "\n# Test", "\n# test", "\n# Check", "\n# check", "\n# Usage", "\n# 示例",
                 "\n# 测试", "\n# 例")
SCAFFOLD_OPENINGS = ("\ndef check", "\ndef test_")
TESTS_ASKED = re.compile(r"\btest|\bcheck|测试|检查", re.I)


def demo_stops(task: str) -> tuple[str, ...]:
    """Stop strings for a code reply: where demo code begins. Not when the task asks for
    printing (a top-level ``print`` may be the point); scaffolding functions only when the
    task does not mention tests or checks."""
    if PRINT_ASKED.search(task):
        return ()
    return DEMO_OPENINGS + (() if TESTS_ASKED.search(task) else SCAFFOLD_OPENINGS)


@dataclass(frozen=True)
class Tidied:
    code: str
    removed: list[str] = field(default_factory=list)  # the removed statements' first lines

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def _is_print(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "print")


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
    texts = {n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant)}
    return "__name__" in names and "__main__" in texts


def _is_demo(node: ast.stmt, own: set[str]) -> bool:
    """A module-level statement that only shows the code working: a ``print``, a call of a
    function the code defines itself, a bare name, an ``assert`` or a ``__main__`` block.
    Other calls (``sys.setrecursionlimit(...)``) and the module docstring stay."""
    if isinstance(node, ast.Expr):
        value = node.value
        if isinstance(value, ast.Call):
            return isinstance(value.func, ast.Name) and value.func.id in {"print", *own}
        return isinstance(value, ast.Name)
    return isinstance(node, ast.Assert) or _is_main_guard(node)


def _scaffolding(tree: ast.Module, doomed: list[ast.stmt], task: str) -> list[ast.stmt]:
    """Top-level scaffolding functions used by nothing that stays and not named in the task."""
    out: list[ast.stmt] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not SCAFFOLDING.match(node.name) or re.search(rf"\b{re.escape(node.name)}\b", task):
            continue
        users = [n for n in tree.body if n is not node and n not in doomed
                 and any(isinstance(x, ast.Name) and x.id == node.name for x in ast.walk(n))]
        if not users:
            out.append(node)
    return out


def _body_lists(tree: ast.AST) -> list[list[ast.stmt]]:
    out: list[list[ast.stmt]] = []
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                out.append(body)
        for handler in getattr(node, "handlers", []) or []:
            out.append(handler.body)
    return out


def tidy(code: str, task: str = "") -> Tidied:
    """``code`` without demo statements and debugging prints (see the module docstring)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return Tidied(code)
    own = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    doomed: list[ast.stmt] = [n for n in tree.body if _is_demo(n, own)]
    doomed += _scaffolding(tree, doomed, task)
    if not PRINT_ASKED.search(task):
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                doomed.extend(s for body in _body_lists(node) for s in body if _is_print(s))
    if not doomed:
        return Tidied(code)
    lines = code.splitlines()
    drop: set[int] = set()  # 0-based line numbers
    for node in doomed:
        start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        drop.update(range(start, end + 1))
        above = start - 1
        while above >= 0 and lines[above].strip().startswith("#"):
            drop.add(above)
            above -= 1
    # a body whose every statement goes keeps a ``pass`` at its indentation
    fills: dict[int, str] = {}
    for body in _body_lists(tree):
        if all(s in doomed for s in body) and body[0] not in tree.body:
            first = body[0].lineno - 1
            indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
            fills[first] = indent + "pass"
    kept = [fills.get(i, line) for i, line in enumerate(lines) if i not in drop or i in fills]
    text = re.sub(r"\n{3,}(?=\S|$)", "\n\n\n", "\n".join(kept).strip("\n")) + "\n"
    try:
        ast.parse(text)
    except SyntaxError:
        return Tidied(code)
    removed = [lines[n.lineno - 1].strip() for n in sorted(doomed, key=lambda n: n.lineno)]
    return Tidied(text, removed)
