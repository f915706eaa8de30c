"""Tests judged by the grader, not by the process that runs the model's code.

An MBPP test is an `assert` line such as `assert remove_Occ("hello", "l") == "heo"`. `split` takes it
apart with `ast`: the sub-expressions that need the solution (here the call) become *probes*, which the
sandbox evaluates and sends back as plain data (`svgap.tasks.sandbox` encodes and decodes them); the
rest (the comparison and the expected side) stays here, and `judge` evaluates it with the probes'
values in their place. The sandboxed process never sees an expected value and never decides a test:
the most its code can do is send wrong values.

How a test splits (docs/sandbox.md):
- Kept by the grader: `and`, `or`, `not`, comparisons, arithmetic, `*` unpacking, `abs`, `round`,
  `math.*`, and every sub-expression built only from constants, literals, the pure builtins of
  `PARENT_NAMES` and `math`: the grader's own, whatever the solution binds, unless the test names
  nothing else of the solution (then a rebound builtin is the function under test: `sum(10, 15)`).
- A probe: any other sub-expression that names something else (the solution's functions and classes,
  names of the setup code, modules), e.g. `f(x)`, `set(f(x))`, `Pair(1, 2).a`.
- Parent-judged: every probe is free of comparisons and boolean logic (so none holds the test's
  verdict), and the verdict is anchored (`_anchored`): every comparison has an operand, every `math`
  call an argument, that the sandbox does not touch. Other tests (not a single `assert`,
  `assert all(f(i) == 2 * i for i in r)`, `assert f(1) == f(2)`) are *child-judged*: the sandbox runs
  the statement and reports whether it raised. `run_tests(child_judged=...)` says what happens to those:
  "fail" (the default: they fail, counted) or "run" (they run the old way, counted, forgeable).
"""

from __future__ import annotations

import ast
import builtins
import math
import warnings
from dataclasses import dataclass

# Builtins the grader evaluates itself: pure functions of plain data (no I/O, no introspection).
PARENT_NAMES = frozenset({
    "abs", "all", "any", "bool", "bytes", "complex", "dict", "divmod", "enumerate", "filter", "float",
    "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "pow", "range", "reversed", "round",
    "set", "sorted", "str", "sum", "tuple", "zip", "True", "False", "None", "math",
})
# Of those, the ones the grader looks through when their argument needs the solution: numeric functions,
# whose argument stays a probe of its own (`abs(f(x) - 3.0) < 1e-6`: the probe is `f(x)`, not the difference
# with the expected 3.0). Other calls of a probe, such as `set(f(x))`, are part of the probe.
_TRANSPARENT_CALLS = frozenset({"abs", "round", "pow", "divmod", "float", "int", "complex"})
_DECIDING = (ast.Compare, ast.BoolOp)
PROBE = "__svgap_probe_"


@dataclass(frozen=True)
class Split:
    """One test taken apart: `probes` (source of each sub-expression the sandbox evaluates) and `check`
    (the test's expression with the probes replaced by names `__svgap_probe_<k>`), or `check` None for a
    child-judged test, whose one probe is the whole statement, run by the sandbox."""

    probes: tuple[str, ...]
    check: str | None

    @property
    def parent_judged(self) -> bool:
        return self.check is not None


def _parse(source: str, mode: str = "exec") -> ast.AST:
    """`ast.parse` without the warnings a dataset's code raises (invalid escapes such as '\\d' in a regex
    string): the sandbox compiles the code itself, this is only its shape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(source, mode=mode)


def solution_names(*sources: str) -> frozenset[str]:
    """The names the code binds at its top level (functions, classes, assignments, imports), so that a test
    of a solution that defines its own `sum` calls that one (`split`). Code that does not parse binds
    nothing here (the sandbox reports its SyntaxError)."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = _parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                               ast.ClassDef)) else (node,):
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(sub.name)
                elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
                elif isinstance(sub, ast.alias):
                    names.add((sub.asname or sub.name).partition(".")[0])
    return frozenset(names)


def split(test: str, solution: frozenset[str] = frozenset()) -> Split:
    """Take `test` apart (see the module docstring). `solution`: the names the solution binds
    (`solution_names`). A builtin the solution rebinds is the solution's only where the test names nothing
    else of it (`assert sum(10, 15) == 6` of a solution that defines `sum`); where the test names a function
    of the solution, builtins and `math` are the grader's whatever the solution binds (so that `set = ...`
    or `math.isclose = ...` cannot move the expected side into the sandbox)."""
    try:
        tree = _parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Split((test,), None)  # the sandbox runs it and reports the SyntaxError as a failed test
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return Split((test,), None)
    probes: list[str] = []
    named = {sub.id for sub in ast.walk(tree) if isinstance(sub, ast.Name)}
    grader = PARENT_NAMES if named - PARENT_NAMES else PARENT_NAMES - (named & solution)

    def needs_solution(node: ast.AST) -> bool:
        return any(isinstance(sub, ast.Name) and sub.id not in grader for sub in ast.walk(node))

    def probe(node: ast.expr) -> ast.expr:
        probes.append(ast.unparse(node))
        return ast.Name(id=f"{PROBE}{len(probes) - 1}", ctx=ast.Load())

    def visit(node: ast.expr) -> ast.expr:
        if not needs_solution(node):
            return node
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List, ast.Starred)):
            return _map_children(node, visit)
        if isinstance(node, ast.Call) and not node.keywords and _transparent(node.func, grader):
            return ast.Call(func=node.func, args=[visit(arg) for arg in node.args], keywords=[])
        if isinstance(node, ast.Call) and _is_math(node.func, grader):
            return ast.Call(func=node.func, args=[visit(arg) for arg in node.args],
                            keywords=[ast.keyword(arg=k.arg, value=visit(k.value)) for k in node.keywords])
        return probe(node)

    check = visit(tree.body[0].test)
    try:
        parsed = [_parse(source, "eval") for source in probes]
        check_source = ast.unparse(check)
        _parse(check_source, "eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Split((test,), None)
    if any(isinstance(sub, _DECIDING) for tree in parsed for sub in ast.walk(tree)) or not _anchored(check):
        return Split((test,), None)
    return Split(tuple(probes), check_source)


def _has_probe(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Name) and sub.id.startswith(PROBE) for sub in ast.walk(node))


def _anchored(node: ast.expr) -> bool:
    """Whether the verdict compares the sandbox's values with something the sandbox cannot touch: every
    comparison has an operand without probes (`f(x) == 3`, not `f(x) == g(y)`), every `math` call an
    argument without probes (`isclose(f(x), 12.56)`), and a bare probe is its truth value (`assert f(x)`)."""
    if not _has_probe(node):
        return True
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Compare):
        return any(not _has_probe(operand) for operand in (node.left, *node.comparators))
    if isinstance(node, ast.BoolOp):
        return all(_anchored(value) for value in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _anchored(node.operand)
    if isinstance(node, ast.Call) and _is_math(node.func):
        return any(not _has_probe(arg) for arg in (*node.args, *(k.value for k in node.keywords)))
    return False


def _transparent(func: ast.expr, grader: frozenset[str]) -> bool:
    return isinstance(func, ast.Name) and func.id in _TRANSPARENT_CALLS and func.id in grader


def _is_math(func: ast.expr, grader: frozenset[str] = PARENT_NAMES) -> bool:
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math"
            and "math" in grader)


def _map_children(node: ast.expr, visit) -> ast.expr:
    """A copy of `node` with `visit` applied to its direct sub-expressions."""
    fields = {}
    for name, value in ast.iter_fields(node):
        if isinstance(value, ast.expr) and not isinstance(value, ast.expr_context):
            fields[name] = visit(value)
        elif isinstance(value, list):
            fields[name] = [visit(item) if isinstance(item, ast.expr) else item for item in value]
        else:
            fields[name] = value
    return type(node)(**fields)


# The grader computes with the sandbox's values: operations whose cost grows with a value (2 ** f(x), a list
# times f(x), math.factorial(f(x))) are guarded so that a value cannot make the grader work for long.
MAX_RESULT_BITS = 10**6  # integers the grader builds (about 300,000 digits)
MAX_REPEAT = 10**7  # items or characters of a repeated sequence
MAX_ARGUMENT = 10**5  # n of factorial, comb, perm


def _guard_int(value: object) -> object:
    if type(value) is int and value.bit_length() > MAX_RESULT_BITS:
        raise OverflowError(f"an integer of more than {MAX_RESULT_BITS} bits")
    return value


def _power(base: object, exponent: object, modulus: object = None) -> object:
    if modulus is None and isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if max(abs(base).bit_length() - 1, 0) * exponent > MAX_RESULT_BITS:
            raise OverflowError(f"a power of more than {MAX_RESULT_BITS} bits")
    return _guard_int(pow(base, exponent) if modulus is None else pow(base, exponent, modulus))


def _binary(op: str, left: object, right: object) -> object:
    if op == "**":
        return _power(left, right)
    if op == "<<":
        if isinstance(right, int) and isinstance(left, int) and left and right + left.bit_length() > MAX_RESULT_BITS:
            raise OverflowError(f"a shift past {MAX_RESULT_BITS} bits")
        return left << right
    for sequence, times in ((left, right), (right, left)):  # "*": a repeated sequence
        if isinstance(sequence, (str, bytes, bytearray, list, tuple)) and isinstance(times, int):
            if len(sequence) * max(times, 0) > MAX_REPEAT:
                raise MemoryError(f"a repeated sequence of more than {MAX_REPEAT} items")
    return _guard_int(left * right)


def _bounded(function):
    def guarded(*args, **kwargs):
        if any(isinstance(arg, int) and abs(arg) > MAX_ARGUMENT for arg in args):
            raise OverflowError(f"math.{function.__name__} of an argument above {MAX_ARGUMENT}")
        return _guard_int(function(*args, **kwargs))
    return guarded


def _product(iterable, *, start=1):
    result = start
    for item in iterable:
        result = _binary("*", result, item)
    return result


_MATH = type("GuardedMath", (), {
    **{name: getattr(math, name) for name in dir(math) if not name.startswith("_")},
    "pow": staticmethod(math.pow), "factorial": staticmethod(_bounded(math.factorial)),
    "comb": staticmethod(_bounded(math.comb)), "perm": staticmethod(_bounded(math.perm)),
    "lcm": staticmethod(_bounded(math.lcm)), "prod": staticmethod(_product),
})
_OPERATORS = {ast.Pow: "**", ast.LShift: "<<", ast.Mult: "*"}


class _Guard(ast.NodeTransformer):
    """`a ** b`, `a << b`, `a * b` and `pow(...)` of the check become the guarded functions above."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) in _OPERATORS:
            return ast.Call(func=ast.Name(id="__svgap_binary", ctx=ast.Load()),
                            args=[ast.Constant(_OPERATORS[type(node.op)]), node.left, node.right], keywords=[])
        return node


_SAFE_BUILTINS = {name: getattr(builtins, name) for name in PARENT_NAMES if hasattr(builtins, name)}
_SAFE_BUILTINS["pow"] = _power


def judge(check: str, values: list[object]) -> bool:
    """Evaluate a parent-judged test's `check` with the probes' decoded values; True when it holds.
    Raises what the expression raises (a TypeError comparing a list with an int, say, or OverflowError past
    the guards): the test fails."""
    tree = ast.fix_missing_locations(_Guard().visit(_parse(check, "eval")))
    namespace: dict[str, object] = {"__builtins__": _SAFE_BUILTINS, "math": _MATH, "__svgap_binary": _binary}
    namespace.update({f"{PROBE}{k}": value for k, value in enumerate(values)})
    return bool(eval(compile(tree, "<test>", "eval"), namespace))  # noqa: S307 - the dataset's text, plain data
