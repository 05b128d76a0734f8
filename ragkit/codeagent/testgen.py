"""Turn examples and model-written asserts into named, self-explaining test functions.

Owns: reading the worked examples a task's docstring shows (``>>> f(x)`` followed by the
result or ``>>> f(x) == y``; ``f(x) => y`` / ``==> y`` / ``-> y`` / ``➞ y`` / ``== y`` / ``= y``
lines; ``Input: ...`` / ``Output: ...`` pairs; ``For a = 1 the output should be y``), parsing
the asserts a model
writes as its own tests, and rendering each check as ``def test_*():`` whose failure message
states the call, what it returned and what was expected, so the repair prompt can quote it.
Does not: run tests (``ragkit.sandbox``) or choose candidates (``selection.py``).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from ragkit.codeagent.extract import fenced_blocks

_BUILTINS = frozenset(dir(builtins))
_ARROWS = ("==>", "=>", "->", "➞", "==", "should return", "returns", "gives", "→", "应返回",
           "返回", "得到", "结果为", "等于", "为", "=")
_FOR_SHOULD = re.compile(r"\bfor\s+(.+?),?\s+the\s+(?:output|result)\s+should\s+be\s+(.+?)\.?\s*$", re.I)


@dataclass(frozen=True)
class Check:
    """One expectation: ``call`` should equal ``expected`` (both Python expressions), or
    raise it when ``expected`` names a built-in exception.

    ``statement`` holds a free-form assert instead when the check is not an equality.
    """

    call: str = ""
    expected: str = ""
    statement: str = ""

    @property
    def raises(self) -> str | None:
        """The exception the call should raise, when the expected value names one
        (``assert f(0) == ValueError`` is how small models write "raises ValueError")."""
        name = self.expected.strip()
        obj = getattr(builtins, name, None) if name.isidentifier() else None
        return name if isinstance(obj, type) and issubclass(obj, BaseException) else None

    def render(self, name: str) -> str:
        if self.statement:
            return f"def {name}():\n    {self.statement}\n"
        if self.raises:
            return (
                f"def {name}():\n"
                f"    try:\n"
                f"        got = {self.call}\n"
                f"    except {self.raises}:\n"
                f"        return\n"
                f"    raise AssertionError({self.call!r} + ' returned ' + repr(got) + "
                f"', expected it to raise {self.raises}')\n"
            )
        return (
            f"def {name}():\n"
            f"    got = {self.call}\n"
            f"    want = {self.expected}\n"
            f"    if isinstance(want, float) or isinstance(got, float):\n"
            f"        import math\n"
            f"        ok = isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)\n"
            f"    else:\n"
            f"        ok = got == want\n"
            f"    assert ok, {self.call!r} + ' returned ' + repr(got) + ', expected ' + repr(want)\n"
        )


def render_tests(checks: list[Check], prefix: str) -> str:
    """A test module with one ``test_{prefix}_{i}`` function per check."""
    return "\n\n".join(c.render(f"test_{prefix}_{i}") for i, c in enumerate(checks, 1))


def _is_expr(text: str, allowed: frozenset[str] = frozenset()) -> bool:
    """``text`` is a Python expression using no free names but builtins and ``allowed``."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # hostile text: not one
        return False
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return bool(text.strip()) and names <= (_BUILTINS | allowed)


def _value(text: str) -> str | None:
    """An expected value as Python: JSON-style ``true``/``false`` become ``True``/``False``."""
    text = text.strip()
    fixed = {"true": "True", "false": "False", "null": "None"}.get(text, text)
    return fixed if _is_expr(fixed) else None


def _call_spans(line: str, name: str) -> list[tuple[int, int]]:
    """Start and end of every balanced ``name(...)`` call in ``line``, left to right."""
    spans: list[tuple[int, int]] = []
    for m in re.finditer(rf"(?<![\w.]){re.escape(name)}\s*\(", line):
        if spans and m.start() < spans[-1][1]:
            continue  # nested inside the previous call
        depth, quote = 0, ""
        for i in range(m.end() - 1, len(line)):
            ch = line[i]
            if quote:
                if ch == quote and line[i - 1] != "\\":
                    quote = ""
                continue
            if ch in "'\"":
                quote = ch
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0:
                    spans.append((m.start(), i + 1))
                    break
    return spans


MAX_INLINE_VALUE = 400  # characters of a sentence searched for an expected value
# where a value written in a sentence may end: punctuation, a conjunction, a space, the end
_VALUE_ENDS = re.compile(r"[,;，；。、]|\.(?:\s|$)|\s+|$")


def _leading_value(text: str) -> str | None:
    """The longest start of ``text`` that is a Python value and ends where a sentence may
    continue ("... returns [1, 2], and ..." -> ``[1, 2]``). Only the first
    ``MAX_INLINE_VALUE`` characters are tried: every cut is parsed, so a long line would cost
    quadratic time."""
    text = text.strip()[:MAX_INLINE_VALUE]
    best = None
    for m in _VALUE_ENDS.finditer(text):
        if m.start() == 0:
            continue
        value = _value(text[: m.start()].rstrip(",;"))
        if value is not None:
            best = value
    return best


def _expected_after(rest: str) -> str | None:
    rest = rest.strip().rstrip(".,;")
    if rest.startswith("#"):  # f(x) # => y
        rest = rest[1:].strip()
    for arrow in _ARROWS:
        if rest.startswith(arrow):
            value = rest[len(arrow) :].strip().rstrip(".,;")
            if " = " in value:  # "-> 19 - 5 - 6 = 8": the worked answer is after the last "="
                value = value.rsplit(" = ", 1)[1]
            return _value(value) or _leading_value(value)
    return None


def _params(source: str, entry_point: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry_point:
            return [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
    return []


def call_from_args(entry_point: str, args: str, params: list[str]) -> str | None:
    """``f(args)`` from example input text such as ``[1, 2]`` or ``arr = [1, 2], k = 3``.

    Named inputs become keyword arguments when every name is a parameter of the function,
    else positional arguments in the order shown.
    """
    args = args.strip().rstrip(".,;")
    if not args:
        return None
    try:
        node = ast.parse(f"{entry_point}({args})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call):
        return None
    if node.keywords and not all(k.arg in params for k in node.keywords):
        node.args = [*node.args, *(k.value for k in node.keywords)]
        node.keywords = []
    call = ast.unparse(node)
    return call if _is_expr(call, frozenset({entry_point})) else None


def _doctest(expr: str, following: str, allowed: frozenset[str]) -> tuple[Check | None, bool]:
    """``>>> expr`` with the next line as its result, or ``>>> f(x) == y`` on one line; the
    flag says whether the next line was taken as the result."""
    if not _is_expr(expr, allowed):
        return None, False
    want = _value(following) if following and not following.startswith(">>>") else None
    if want is not None:
        return Check(call=expr, expected=want), True
    test = ast.parse(expr, mode="eval").body
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        left, right = ast.unparse(test.left), ast.unparse(test.comparators[0])
        if _is_expr(right):
            return Check(call=left, expected=right), False
    return None, False


def docstring_examples(stub_source: str, entry_point: str) -> list[Check]:
    """The worked examples a task's text shows for ``entry_point``, as checks.

    ``>>> expr`` lines take the following non-empty, non-prompt line as the expected value
    (or hold ``== value`` themselves); inline forms need an arrow-like separator;
    ``Input:`` lines pair with the next ``Output:`` line. Examples whose input or expected
    value is not a Python expression (prose, bare words) are skipped.
    """
    allowed = frozenset({entry_point})
    params = _params(stub_source, entry_point)
    lines = [ln.strip() for ln in stub_source.splitlines()]
    checks: list[Check] = []
    seen: set[tuple[str, str]] = set()

    def add(check: Check | None) -> None:
        if check is not None and (check.call, check.expected) not in seen:
            seen.add((check.call, check.expected))
            checks.append(check)

    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        following = lines[i] if i < len(lines) else ""
        if line.startswith(">>>"):
            expr = line[3:].strip()
            if entry_point in expr:
                check, took_next = _doctest(expr, following, allowed)
                i += took_next
                add(check)
            continue
        if line.lower().startswith("input:"):
            j = i
            while j < len(lines) and not lines[j]:
                j += 1
            if j < len(lines) and lines[j].lower().startswith("output:"):
                call = call_from_args(entry_point, line[6:], params)
                want = _value(lines[j][7:].split(" #", 1)[0].rstrip(".,; "))
                if call and want is not None:
                    add(Check(call=call, expected=want))
            continue
        m = _FOR_SHOULD.search(line)
        if m is not None:
            call = call_from_args(entry_point, m.group(1), params)
            want = _value(m.group(2))
            if call and want is not None:
                add(Check(call=call, expected=want))
            continue
        if line.startswith("def "):
            continue
        for start, end in _call_spans(line, entry_point):
            call = line[start:end]
            want = _expected_after(line[end:])
            if want is not None and _is_expr(call, allowed):
                add(Check(call=call, expected=want))
    return checks


def parse_asserts(reply: str, entry_point: str | None, limit: int) -> list[Check]:
    """Up to ``limit`` distinct asserts from a model's reply, each checked by ``ast``.

    Only asserts that call ``entry_point`` (when known) are kept; ``assert f(x) == y`` becomes
    an equality check with a descriptive message, any other assert is kept as written.
    """
    sources = fenced_blocks(reply) or [reply]
    lines: list[str] = []
    for src in sources:
        lines.extend(src.splitlines())
    checks: list[Check] = []
    seen: set[str] = set()
    for raw in lines:
        line = raw.strip()
        if not line.startswith("assert ") or line in seen:
            continue
        try:
            node = ast.parse(line).body[0]
        except SyntaxError:
            continue
        if not isinstance(node, ast.Assert):
            continue
        if entry_point and not _calls(node.test, entry_point):
            continue
        seen.add(line)
        test = node.test
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)
            and node.msg is None
        ):
            checks.append(Check(call=ast.unparse(test.left), expected=ast.unparse(test.comparators[0])))
        else:
            checks.append(Check(statement=ast.unparse(node)))
        if len(checks) >= limit:
            break
    return checks


def _calls(expr: ast.expr, name: str) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        for n in ast.walk(expr)
    )
