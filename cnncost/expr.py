"""A small, safe expression evaluator for YAML arguments.

Expressions are Python-like (``2 * width``, ``s if i == 0 else 1``,
``make_divisible(32 * width, 8)``) but are walked node by node from ``ast``;
nothing is ever passed to ``eval``. Only arithmetic, comparisons, boolean
logic, conditionals and a fixed set of functions are allowed.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from functools import lru_cache
from typing import Any, Callable, Mapping, NoReturn

from .errors import CnnCostError, did_you_mean


def make_divisible(value, divisor=8, min_value=None):
    """Round channels to a multiple of divisor, never below 90% of value.

    The rule of MobileNetV2/V3 and EfficientNet reference implementations.
    """
    if min_value is None:
        min_value = divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _round_half_up(x, ndigits=None):
    if ndigits is not None and abs(ndigits) > 30:  # round(5, -10**9) would compute 10**(10**9)
        raise ValueError("ndigits must be between -30 and 30")
    return round(x, ndigits) if ndigits is not None else int(math.floor(x + 0.5))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "int": int,
    "float": float,
    "round": _round_half_up,
    "floor": lambda x: int(math.floor(x)),
    "ceil": lambda x: int(math.ceil(x)),
    "min": min,
    "max": max,
    "abs": abs,
    "make_divisible": make_divisible,
    "len": len,
    "sum": lambda values, start=0: _sum(values, start),
}


def _sum(values, start):
    # numbers only: sum(lists, []) builds a list per step, quadratic work that a short expression could ask for
    if not isinstance(values, (list, tuple)) or not all(_is_number(v) for v in [*values, start]):
        raise TypeError("sum() adds numbers only")
    return sum(values, start)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

CONSTANTS = {"true": True, "false": False, "True": True, "False": False, "none": None, "None": None}

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_MAX_ABS = 10**30  # beyond any real network; stops 10**10**10 from eating the machine
_MAX_LENGTH = 500
MAX_ITEMS = 10_000  # characters of a string, or values of a list counted through nested lists: 'a' * 10**9 and
# [0] * 10**9 are refused before they are built


@lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Expression:
    if len(text) > _MAX_LENGTH:
        raise CnnCostError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise CnnCostError(f"cannot parse expression '{text}'") from None


@lru_cache(maxsize=4096)
def _names_read(text: str) -> tuple[str, ...]:
    return tuple(sorted({n.id for n in ast.walk(_parse(text)) if isinstance(n, ast.Name)}))


# Expressions are pure, so a value is reused for the same text and the same values of the
# names it reads (a block called 50 times evaluates the same few). Only immutable values
# are keyed and kept: type is part of the key (1 and True differ), floats are keyed exactly.
_PLAIN = (int, str, bool, type(None))
_ABSENT = object()
_RESULTS: dict = {}
_MAX_RESULTS = 50_000


def _cache_key(text: str, names: Mapping[str, Any]):
    key: list[Any] = [text]
    for name in _names_read(text):
        value = names.get(name, _ABSENT)
        kind = type(value)
        if kind is float:
            key.append(value.hex())  # tells -0.0 from 0.0
        elif kind in _PLAIN or value is _ABSENT:
            key.append((kind, value))
        else:
            return None  # a list: not kept
    return tuple(key)


def evaluate(text: str, names: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` with ``names`` in scope; raise CnnCostError on any problem."""
    key = _cache_key(text, names)  # parses text the first time, failing as _parse does
    if key is not None:
        value = _RESULTS.get(key, _ABSENT)
        if value is not _ABSENT:
            return value
    value = _Evaluator(text, names).visit(_parse(text).body)
    if key is not None and (type(value) in _PLAIN or type(value) is float):
        if len(_RESULTS) >= _MAX_RESULTS:
            _RESULTS.clear()
        _RESULTS[key] = value
    return value


class _Evaluator:
    def __init__(self, text: str, names: Mapping[str, Any]):
        self.text = text
        self.names = names

    def fail(self, why: str, hint: str | None = None) -> NoReturn:
        raise CnnCostError(f"in expression '{self.text}': {why}", hint=hint)

    def check(self, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if abs(value) > _MAX_ABS or value != value:
                self.fail("value out of range")
        elif isinstance(value, complex):  # (-8) ** 0.5
            self.fail("the value is not a real number")
        elif isinstance(value, (str, list, tuple)) and _size(value) > MAX_ITEMS:
            self.fail(f"a string or list longer than {MAX_ITEMS:,}")
        return value

    def check_size(self, op, left, right):
        """Refuse a string or list operation whose result would be too long, before it is built."""
        if op is operator.mul:
            sequence, count = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                if max(count, 0) * max(_size(sequence), 1) > MAX_ITEMS:
                    self.fail(f"a string or list longer than {MAX_ITEMS:,}")
        elif op is operator.add and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            if _size(left) + _size(right) > MAX_ITEMS:
                self.fail(f"a string or list longer than {MAX_ITEMS:,}")
        elif op is operator.mod and isinstance(left, str):  # '%0999999999d' % 1
            self.fail("'%' formats no strings in expressions; it takes numbers")

    def visit(self, node):
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            self.fail(f"'{type(node).__name__}' is not allowed in expressions")
        return method(node)

    def visit_Constant(self, node):
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        self.fail(f"constant {node.value!r} is not allowed")

    def visit_Name(self, node):
        if node.id in self.names:
            return self.names[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        self.fail(
            f"unknown name '{node.id}'",
            did_you_mean(node.id, list(self.names) + list(FUNCTIONS)),
        )

    def visit_BinOp(self, node):
        op = _BINOPS.get(type(node.op))
        if op is None:
            self.fail(f"operator '{type(node.op).__name__}' is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if op is operator.pow and isinstance(right, (int, float)) and abs(right) > 64:
            self.fail("exponent too large")
        self.check_size(op, left, right)
        try:
            return self.check(op(left, right))
        except ZeroDivisionError:
            self.fail("division by zero")
        except (TypeError, OverflowError, ValueError) as exc:
            self.fail(str(exc))

    def visit_UnaryOp(self, node):
        try:
            return _UNARY[type(node.op)](self.visit(node.operand))
        except KeyError:
            self.fail(f"operator '{type(node.op).__name__}' is not allowed")
        except TypeError as exc:
            self.fail(str(exc))

    def visit_BoolOp(self, node):
        if isinstance(node.op, ast.And):
            result = True
            for value in node.values:
                result = self.visit(value)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = self.visit(value)
            if result:
                return result
        return result

    def visit_Compare(self, node):
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.visit(comparator)
            fn = _COMPARE.get(type(op))
            if fn is None:
                self.fail(f"comparison '{type(op).__name__}' is not allowed")
            try:
                if not fn(left, right):
                    return False
            except TypeError as exc:
                self.fail(str(exc))
            left = right
        return True

    def visit_IfExp(self, node):
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node):
        container, index = self.visit(node.value), self.visit(node.slice)
        if not isinstance(container, (list, tuple)):
            self.fail(f"only lists can be indexed, not {container!r}")
        if isinstance(index, bool) or not isinstance(index, int):
            self.fail(f"a list index must be an integer, got {index!r}")
        if not -len(container) <= index < len(container):
            self.fail(f"index {index} is outside the list of {len(container)}")
        return container[index]

    def visit_List(self, node):
        return [self.visit(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = getattr(node.func, "id", "?")
            self.fail(f"unknown function '{name}'", did_you_mean(name, FUNCTIONS))
        if node.keywords:
            self.fail("keyword arguments are not allowed in expressions")
        args = [self.visit(a) for a in node.args]
        try:
            return self.check(FUNCTIONS[node.func.id](*args))
        except ZeroDivisionError:
            self.fail("division by zero")
        except (TypeError, ValueError, OverflowError) as exc:
            self.fail(f"{node.func.id}(): {exc}")


def _size(value) -> int:
    """Characters of a string; values of a list, counting those of nested lists (once per distinct list:
    [[0] * 100] * 100 shares one inner list, but whatever walks it walks 10,000 values)."""
    if isinstance(value, str):
        return len(value)
    total = len(value)
    for item in value:
        if isinstance(item, (list, tuple)):
            total += _size(item)
            if total > MAX_ITEMS:
                break
    return total


_TEMPLATE = re.compile(r"\$\{([^}]*)\}")


def interpolate(text: str, names: Mapping[str, Any]) -> str:
    """Replace each ``${expr}`` in text by its value."""
    if "${" not in text:
        return text

    def one(match):
        value = evaluate(match.group(1), names)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)

    return _TEMPLATE.sub(one, text)
