"""Pure helpers of the code agent: code extraction, stubs, program assembly, example tests."""

from __future__ import annotations

from ragkit.codeagent.extract import (
    assemble_program,
    check_program,
    extract_code,
    find_stub,
    named_as_task,
    split_tests,
)
from ragkit.codeagent.testgen import call_from_args, docstring_examples, parse_asserts, render_tests

STUB = '''from typing import List


def is_even(n: int) -> bool:
    return n % 2 == 0


def evens(xs: List[int]) -> List[int]:
    """Keep the even numbers.
    >>> evens([1, 2, 3, 4])
    [2, 4]
    >>> evens([])
    []
    """
'''


def test_extract_prefers_the_block_defining_the_entry_point() -> None:
    reply = (
        "Here is a helper:\n```python\nvalues = [1, 2, 3]\ntotal = sum(values)\n```\n"
        "And the answer:\n```python\ndef f(a):\n    return a\n```\nDone."
    )
    assert extract_code(reply, "f") == "def f(a):\n    return a"
    assert extract_code(reply) == "values = [1, 2, 3]\ntotal = sum(values)"


def test_extract_reads_an_unclosed_fence_and_bare_code() -> None:
    assert extract_code("```python\ndef f():\n    return 1\n", "f") == "def f():\n    return 1"
    assert extract_code("def f():\n    return 1\n") == "def f():\n    return 1"


def test_find_stub_picks_the_function_to_write() -> None:
    stub = find_stub(STUB)
    assert stub is not None
    assert stub.entry_point == "evens"
    assert stub.signature == "def evens(xs: List[int]) -> List[int]:"
    fenced = find_stub("Please implement this:\n```python\ndef g(x):\n    pass\n```\n")
    assert fenced is not None and fenced.entry_point == "g"
    assert find_stub("Write a function that reverses a string.") is None


def test_assemble_adds_the_stubs_imports_and_helpers_the_code_lacks() -> None:
    stub = find_stub(STUB)
    code = "def evens(xs: List[int]) -> List[int]:\n    return [x for x in xs if is_even(x)]"
    program = assemble_program(code, stub)
    assert program.startswith("from typing import List")
    assert "def is_even" in program and program.count("def evens") == 1
    ns: dict = {}
    exec(compile(program, "p", "exec"), ns)  # trusted test input, not model output
    assert ns["evens"]([1, 2, 3, 4]) == [2, 4]


def test_assemble_places_a_bare_body_under_the_signature() -> None:
    stub = find_stub(STUB)
    program = assemble_program("    return [x for x in xs if x % 2 == 0]", stub)
    assert check_program(program, "evens") is None
    assert "def evens(xs: List[int]) -> List[int]:" in program


def test_check_program_reports_syntax_errors_and_a_missing_function() -> None:
    error = check_program("def f(x)\n    return x\n", "f")
    assert error is not None and error.startswith("SyntaxError") and "line 1" in error
    assert "`f`" in (check_program("def g():\n    return 1\n", "f") or "")
    assert check_program("def f():\n    return 1\n", "f") is None


def test_docstring_examples_become_named_tests_with_clear_messages() -> None:
    checks = docstring_examples(STUB, "evens")
    assert [(c.call, c.expected) for c in checks] == [("evens([1, 2, 3, 4])", "[2, 4]"),
                                                      ("evens([])", "[]")]
    src = render_tests(checks, "example")
    assert list(split_tests(src)) == ["test_example_1", "test_example_2"]
    ns: dict = {"evens": lambda xs: xs}
    exec(compile(src, "t", "exec"), ns)
    try:
        ns["test_example_1"]()
    except AssertionError as e:
        assert str(e) == "evens([1, 2, 3, 4]) returned [1, 2, 3, 4], expected [2, 4]"
    else:
        raise AssertionError("a wrong function must fail the example")


def test_inline_examples_and_unusable_examples() -> None:
    text = (
        'def dsum(s):\n    """Examples:\n        dsum("") => 0\n        dsum("ab") -> 1 + 2 = 3\n'
        '        dsum(n) => 5\n        dsum("x") ➞ true\n    """\n'
    )
    got = [(c.call, c.expected) for c in docstring_examples(text, "dsum")]
    assert got == [('dsum("")', "0"), ('dsum("ab")', "3"), ('dsum("x")', "True")]


def test_examples_written_in_a_sentence_become_checks() -> None:
    """Tasks typed as sentences show examples inline, several per line, in English or Chinese;
    the mention of the signature itself is not an example."""
    cases = {
        "Write chunk(items, size), e.g. chunk([1, 2, 3], 2) gives [[1, 2], [3]], and "
        "chunk([], 1) returns [].": [("chunk([1, 2, 3], 2)", "[[1, 2], [3]]"), ("chunk([], 1)", "[]")],
        "写一个函数 chunk(items, size)，例如 chunk([1], 1) 返回 [[1]]。": [("chunk([1], 1)", "[[1]]")],
        "chunk(xs, 2) == [[1, 2]], chunk([3], 5) -> [[3]]": [("chunk([3], 5)", "[[3]]")],
        "chunk(items, size) returns the chunks.": [],
    }
    for text, want in cases.items():
        assert [(c.call, c.expected) for c in docstring_examples(text, "chunk")] == want, text


def test_parse_asserts_keeps_valid_asserts_on_the_function() -> None:
    reply = (
        "```python\nassert f(1) == 2\nassert f(1) == 2\nassert g(3) == 4\n"
        "assert f(2 == 3\nassert f(0) in (0, 1)\nassert f(5) == 6\n```"
    )
    checks = parse_asserts(reply, "f", limit=3)
    assert [(c.call, c.expected, c.statement) for c in checks] == [
        ("f(1)", "2", ""), ("", "", "assert f(0) in (0, 1)"), ("f(5)", "6", "")]


def test_example_inputs_become_calls() -> None:
    # names that are parameters stay keywords; other names are passed by position
    assert call_from_args("f", "arr = [1, 2], k = 3", ["arr", "k"]) == "f(arr=[1, 2], k=3)"
    assert call_from_args("f", "nums = [1, 2], k = 3", ["arr", "k"]) == "f([1, 2], 3)"
    assert call_from_args("f", "[4,2,3]", ["arr"]) == "f([4, 2, 3])"
    assert call_from_args("f", "a b c", ["s"]) is None  # prose is no input
    assert call_from_args("f", "x", ["s"]) is None  # a free name is not a value


def test_inline_doctest_and_arrow_examples() -> None:
    stub = (
        "def g(xs):\n"
        '    """\n'
        "    >>> g([1, 2]) == 3\n"
        "    >>> g([])\n"
        "    0\n"
        "    g([5]) ==> 5\n"
        "    Input: [2, 2]\n"
        "    Output: 4\n"
        "    For xs = [7] the output should be 7.\n"
        '    """\n'
    )
    got = [(c.call, c.expected) for c in docstring_examples(stub, "g")]
    assert got == [("g([1, 2])", "3"), ("g([])", "0"), ("g([5])", "5"), ("g([2, 2])", "4"),
                   ("g(xs=[7])", "7")]


def test_hostile_example_text_is_no_example_and_no_crash() -> None:
    from ragkit.codeagent.testgen import MAX_INLINE_VALUE

    deep = "Write f(x), e.g. f(1) -> " + " ".join(["[1, 2]"] * 3000)  # nests past the parser
    assert all(len(c.expected) <= MAX_INLINE_VALUE for c in docstring_examples(deep, "f"))
    long_prose = "f(1) -> " + "a " * 10000
    assert docstring_examples(long_prose, "f") == []
    assert docstring_examples("f(1) -> 2\x00", "f") == []  # a NUL byte: not an example


def test_the_function_gets_the_name_the_task_asks_for() -> None:
    code = ('def binary(n):\n    """binary digits"""\n    if n < 2:\n        return str(n)  # binary\n'
            '    return binary(n // 2) + str(n % 2)\n')
    renamed = named_as_task(code, "写一个函数 to_binary(n)，把非负整数转换成二进制字符串")
    assert renamed.startswith("def to_binary(n):") and "return to_binary(n // 2)" in renamed
    assert '"""binary digits"""' in renamed and "# binary" in renamed  # words are not names
    ns: dict = {}
    exec(renamed, ns)  # noqa: S102 - our own literal
    assert ns["to_binary"](5) == "101"
    # already named, several candidates, builtins only, or not Python: unchanged
    assert named_as_task(code, "Write binary(n).") == code
    two = code + "\ndef other(x):\n    return x\n"
    assert named_as_task(two, "Write to_binary(n).") == two
    assert named_as_task(code, "Use len(s) and sorted(s).") == code
    assert named_as_task("def (", "Write f(x).") == "def ("
