"""Pure text work on code: find code in a model reply, assemble a runnable program, check it.

Owns: reading fenced code out of a reply, finding the function stub in a task (its name and the
imports and helpers around it), completing a candidate with what the stub provides, the ``ast``
check that runs before anything executes, and splitting a test module into named tests.
Does not: talk to a model, run code, or decide which candidate wins (``selection.py``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:\n?```|\Z)", re.DOTALL)
_PY_LANGS = {"", "python", "py", "python3", "py3"}


@dataclass(frozen=True)
class Stub:
    """The function the task asks for: its name, the stub source, and its signature line."""

    source: str
    entry_point: str
    signature: str


def fenced_blocks(text: str) -> list[str]:
    """Python (or untagged) fenced blocks in order; an unclosed last fence counts."""
    return [body for lang, body in _FENCE.findall(text) if lang.lower() in _PY_LANGS]


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def extract_code(reply: str, entry_point: str | None = None) -> str:
    """The code the reply proposes: the fenced block defining ``entry_point``, else the longest.

    A reply without fences is taken whole (small models sometimes answer with bare code).
    """
    blocks = [b.strip("\n") for b in fenced_blocks(reply) if b.strip()]
    if not blocks:
        return reply.strip("\n")
    if entry_point:
        defining = [b for b in blocks if _defines(b, entry_point)]
        if defining:
            return max(defining, key=len)
    return max(blocks, key=len)


def find_stub(task: str) -> Stub | None:
    """The function stub in a task: the task itself when it is Python, or a fenced block.

    The entry point is the last top-level function whose body is only a docstring, ``pass`` or
    ``...``; failing that, the last top-level function.
    """
    sources = [task, *fenced_blocks(task)]
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        if not funcs:
            continue
        empty = [f for f in funcs if _is_empty_body(f)]
        func = (empty or funcs)[-1]
        return Stub(source=src, entry_point=func.name, signature=_signature(src, func))
    return None


def stub_is_empty(stub: Stub) -> bool:
    """Whether the stub's entry point still has no body (only a docstring, pass or ...)."""
    try:
        tree = ast.parse(stub.source)
    except SyntaxError:
        return False
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
             and n.name == stub.entry_point]
    return bool(funcs) and _is_empty_body(funcs[-1]) and tree.body[-1] is funcs[-1]


def _is_empty_body(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for stmt in func.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or ``...``
        return False
    return True


def _signature(src: str, func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    lines = src.splitlines()
    end = func.body[0].lineno - 1 if func.body else func.lineno
    head = "\n".join(lines[func.lineno - 1 : max(end, func.lineno)])
    return head.strip()


def assemble_program(code: str, stub: Stub | None) -> str:
    """Complete ``code`` with what the stub provides and the code lacks.

    Imports and helper definitions from the stub are prepended when the code does not define
    them itself (HumanEval prompts define helpers the model is told to use). A reply that is
    only an indented body is placed under the stub's signature.
    """
    code = code.strip("\n")
    if stub is None:
        return code + "\n"
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    if first[:1] in (" ", "\t") and not _defines(code, stub.entry_point):
        return stub.source.rstrip("\n") + "\n" + code + "\n"
    try:
        stub_tree = ast.parse(stub.source)
    except SyntaxError:
        return code + "\n"
    try:
        defined = _top_level_names(ast.parse(code))
    except SyntaxError:
        defined = set()
    preamble: list[str] = []
    for node in stub_tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if not all(name in defined for name in _top_level_names(ast.Module([node], []))):
                preamble.append(ast.get_source_segment(stub.source, node) or "")
        elif (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name != stub.entry_point
            and node.name not in defined
            and (isinstance(node, ast.ClassDef) or not _is_empty_body(node))
        ):
            preamble.append(_node_source(stub.source, node))
    if not preamble:
        return code + "\n"
    return "\n".join(p for p in preamble if p) + "\n\n\n" + code + "\n"


def _node_source(src: str, node: ast.stmt) -> str:
    lines = src.splitlines()
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[start - 1 : node.end_lineno])


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def check_program(program: str, entry_point: str | None) -> str | None:
    """Why the program cannot run (a compile error or a missing function), or None when fine."""
    try:
        tree = ast.parse(program)
    except SyntaxError as err:
        line = (err.text or "").rstrip("\n")
        where = f" (line {err.lineno}: `{line.strip()}`)" if err.lineno else ""
        return f"SyntaxError: {err.msg}{where}"
    if not program.strip():
        return "the reply contained no code"
    if entry_point and entry_point not in _top_level_names(tree):
        return f"the code does not define the function `{entry_point}` asked for in the task"
    return None


def signature_of(program: str, entry_point: str | None = None, task: str = "") -> str | None:
    """The ``def`` line of ``entry_point`` in a program; without one, of the last top-level
    function the ``task`` text names (``Write to_roman(n) ...``), else of the last one that is
    not scaffolding (``check_*``, ``test_*``, ``main``), else of the last one."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if entry_point:
        funcs = [f for f in funcs if f.name == entry_point]
    else:
        named = [f for f in funcs if re.search(rf"(?<![\w.]){re.escape(f.name)}\s*\(", task)]
        real = [f for f in funcs if not SCAFFOLDING.match(f.name)]
        funcs = named or real or funcs
    if not funcs:
        return None
    return _signature(program, funcs[-1])


#: Names of functions a model adds around a solution to try it out.
SCAFFOLDING = re.compile(r"(check|test|main$|run_tests|demo|example)", re.I)


def split_tests(tests: str) -> dict[str, str]:
    """Source of each top-level ``test_*`` function by name; the whole text as ``tests`` if none.

    This mirrors how the sandbox names tests, so feedback can quote the failing test.
    """
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return {"tests": tests}
    out = {
        node.name: _node_source(tests, node)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }
    return out or {"tests": tests}


def normalized(program: str) -> str:
    """A key equal for programs that differ only in formatting and comments."""
    try:
        return ast.dump(ast.parse(program))
    except SyntaxError:
        return program.strip()


_CALLED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(")


def named_as_task(program: str, task: str) -> str:
    """``program`` with its one function renamed to the name the task asks for, when the model
    chose another (asked for ``to_binary(n)``, it wrote ``def binary(n)``; its own tests then
    call ``binary`` and pass while the caller's ``to_binary`` does not exist). Only names the
    task writes as a call and Python does not define count; a program that already defines one
    of them, has no single candidate function, or does not parse is returned as it is.
    Renames the name's tokens only (not words in strings or comments)."""
    import builtins
    import io
    import tokenize

    wanted = [n for n in dict.fromkeys(_CALLED.findall(task)) if not hasattr(builtins, n)]
    if not wanted:
        return program
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return program
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if any(n in funcs for n in wanted):
        return program
    real = [n for n in funcs if not SCAFFOLDING.match(n)]
    if len(real) != 1 or wanted[0] in {getattr(n, "id", None) for n in ast.walk(tree)}:
        return program
    old, new = real[0], wanted[0]
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(program).readline)
                if t.type == tokenize.NAME and t.string == old]
    except (tokenize.TokenError, SyntaxError):
        return program
    lines = program.splitlines(keepends=True)
    for t in reversed(toks):
        row, col = t.start
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "".join(lines)
