"""Tests judged by the grader, not by the process that runs the model's code.

An MBPP test is an `assert` line such as `assert remove_Occ("hello", "l") == "heo"`. `split` takes it
apart with `ast`: the sub-expressions that need the solution (here the call) become *probes*, which the
sandbox evaluates and sends back as plain data (`svgap.tasks.sandbox` encodes and decodes them); the
rest (the comparison and the expected side) stays here, and `judge` evaluates it with the probes'
values in their place. The sandboxed process never sees an expected value and never decides a test:
the most its code can do is send wrong values.

How a test splits (docs/sandbox.md):
- Kept by the grader: `and`, `or`, `not`, comparisons, arithmetic, `abs`, `round`, `math.*`, and every
  sub-expression built only from constants, literals, the pure builtins of `PARENT_NAMES` and `math`.
- A probe: any other sub-expression that names something of the solution (a name the solution or the
  setup code binds, or any name the grader does not know), e.g. `f(x)`, `set(f(x))`, `Pair(1, 2).a`.
- Parent-judged: every probe is free of comparisons and boolean logic (so none holds the test's
  verdict). A test that is not a single `assert`, or whose probe would hold a comparison
  (`assert all(f(i) == 2 * i for i in r)`), is *child-judged*: the sandbox runs the statement and
  reports whether it raised. `run_tests(child_judged=...)` says what happens to those: "fail" (the
  default: they fail, counted) or "run" (they run the old way, counted, forgeable by the code).
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
    naming `max` is sent to the sandbox when the solution defines its own `max`. Code that does not parse
    binds nothing here (the sandbox reports its SyntaxError)."""
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
    """Take `test` apart (see the module docstring). `solution`: the names the solution binds."""
    try:
        tree = _parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Split((test,), None)  # the sandbox runs it and reports the SyntaxError as a failed test
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return Split((test,), None)
    probes: list[str] = []

    def needs_solution(node: ast.AST) -> bool:
        return any(isinstance(sub, ast.Name) and (sub.id in solution or sub.id not in PARENT_NAMES)
                   for sub in ast.walk(node))

    def probe(node: ast.expr) -> ast.expr:
        probes.append(ast.unparse(node))
        return ast.Name(id=f"{PROBE}{len(probes) - 1}", ctx=ast.Load())

    def visit(node: ast.expr) -> ast.expr:
        if not needs_solution(node):
            return node
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List)):
            return _map_children(node, visit)
        if isinstance(node, ast.Call) and not node.keywords and _parent_call(node.func, solution):
            return ast.Call(func=node.func, args=[visit(arg) for arg in node.args], keywords=[])
        if isinstance(node, ast.Call) and _is_math(node.func, solution):
            return ast.Call(func=node.func, args=[visit(arg) for arg in node.args],
                            keywords=[ast.keyword(arg=k.arg, value=visit(k.value)) for k in node.keywords])
        return probe(node)

    check = visit(tree.body[0].test)
    if any(isinstance(sub, _DECIDING) for source in probes for sub in ast.walk(_parse(source, "eval"))):
        return Split((test,), None)
    return Split(tuple(probes), ast.unparse(check))


def _parent_call(func: ast.expr, solution: frozenset[str]) -> bool:
    return isinstance(func, ast.Name) and func.id in _TRANSPARENT_CALLS and func.id not in solution


def _is_math(func: ast.expr, solution: frozenset[str]) -> bool:
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math"
            and "math" not in solution)


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


_SAFE_BUILTINS = {name: getattr(builtins, name) for name in PARENT_NAMES if hasattr(builtins, name)}


def judge(check: str, values: list[object]) -> bool:
    """Evaluate a parent-judged test's `check` with the probes' decoded values; True when it holds.
    Raises what the expression raises (a TypeError comparing a list with an int, say): the test fails."""
    namespace: dict[str, object] = {"__builtins__": _SAFE_BUILTINS, "math": math}
    namespace.update({f"{PROBE}{k}": value for k, value in enumerate(values)})
    return bool(eval(compile(check, "<test>", "eval"), namespace))  # noqa: S307 - the dataset's text, plain data
