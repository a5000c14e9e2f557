"""Validation rules: expressions over data elements, checked per org unit and period.

Pure code: no database. A rule is a comparison such as
``cum_fever == cum_recovered + under_treatment + cum_deaths`` whose sides are
built from element codes, numbers, ``+ - *``, ``prev(x)`` (the value of x in the
previous period of the same org unit) and ``children(x)`` (the sum of x over
the org unit's children that reported it). A rule is checked only where every
value it names exists, so a missing report is a completeness problem, not a
validation one.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sitroom.country import RuleConfig
from sitroom.errors import ConfigError

#: values[(org_unit_code, period)][element_code] = value
Values = Mapping[tuple[str, date], Mapping[str, int]]

_COMPARE: dict[type[ast.cmpop], tuple[str, Callable[[float, float, float], bool]]] = {
    ast.Eq: ("==", lambda a, b, tol: abs(a - b) <= tol),
    ast.LtE: ("<=", lambda a, b, tol: a <= b + tol),
    ast.GtE: (">=", lambda a, b, tol: a + tol >= b),
    ast.Lt: ("<", lambda a, b, tol: a < b + tol),
    ast.Gt: (">", lambda a, b, tol: a + tol > b),
}
_ARITH: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed check: which rule, where, when, the two sides and how bad."""

    rule: str
    name: str
    org_unit: str
    period: date
    left: float | None
    right: float | None
    operator: str
    severity: str
    message: str

    @property
    def difference(self) -> float | None:
        if self.left is None or self.right is None:
            return None
        return self.left - self.right

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "org_unit": self.org_unit,
            "period": self.period.isoformat(),
            "left": _plain(self.left),
            "right": _plain(self.right),
            "operator": self.operator,
            "difference": _plain(self.difference),
            "severity": self.severity,
            "message": self.message,
        }


def _plain(number: float | None) -> float | int | None:
    if number is None:
        return None
    return int(number) if float(number).is_integer() else round(number, 3)


class _Context:
    """Where an expression is evaluated: one org unit, one period."""

    __slots__ = ("children", "period", "unit", "values")

    def __init__(
        self, values: Values, children: Mapping[str, list[str]], unit: str, period: date
    ) -> None:
        self.values = values
        self.children = children
        self.unit = unit
        self.period = period

    def get(self, element: str) -> int | None:
        row = self.values.get((self.unit, self.period))
        return None if row is None else row.get(element)

    def prev(self, element: str) -> int | None:
        row = self.values.get((self.unit, self.period - timedelta(days=1)))
        return None if row is None else row.get(element)

    def sum_children(self, element: str) -> int | None:
        got = [
            row[element]
            for child in self.children.get(self.unit, ())
            if (row := self.values.get((child, self.period))) is not None and element in row
        ]
        return sum(got) if got else None


Evaluator = Callable[[_Context], float | None]


def _compile(node: ast.expr, elements: set[str], text: str) -> Evaluator:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        number = float(node.value)
        return lambda _ctx: number
    if isinstance(node, ast.Name):
        code = node.id
        if code not in elements:
            raise ConfigError(f"rule {text!r}: unknown data element {code!r}")
        return lambda ctx: ctx.get(code)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _compile(node.operand, elements, text)

        def negate(ctx: _Context) -> float | None:
            got = inner(ctx)
            return None if got is None else -got

        return negate
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        fn = _ARITH[type(node.op)]
        left, right = _compile(node.left, elements, text), _compile(node.right, elements, text)

        def arith(ctx: _Context) -> float | None:
            a = left(ctx)
            if a is None:
                return None
            b = right(ctx)
            return None if b is None else fn(a, b)

        return arith
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("prev", "children")
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and not node.keywords
    ):
        code = node.args[0].id
        if code not in elements:
            raise ConfigError(f"rule {text!r}: unknown data element {code!r}")
        if node.func.id == "prev":
            return lambda ctx: ctx.prev(code)
        return lambda ctx: ctx.sum_children(code)
    raise ConfigError(
        f"rule {text!r}: only element codes, numbers, + - *, prev(x) and children(x) are allowed"
    )


@dataclass(frozen=True)
class Rule:
    """A compiled validation rule."""

    code: str
    name: str
    text: str
    operator: str
    left: Evaluator
    right: Evaluator
    holds: Callable[[float, float, float], bool]
    tolerance: float
    relative: float
    severity: str

    @classmethod
    def compile(cls, config: RuleConfig, elements: Iterable[str]) -> Rule:
        known = set(elements)
        try:
            tree = ast.parse(config.expression, mode="eval").body
        except SyntaxError as exc:
            raise ConfigError(f"rule {config.code}: not an expression: {exc.msg}") from exc
        if not (
            isinstance(tree, ast.Compare) and len(tree.ops) == 1 and type(tree.ops[0]) in _COMPARE
        ):
            raise ConfigError(f"rule {config.code}: must compare two sides with == <= >= < or >")
        symbol, holds = _COMPARE[type(tree.ops[0])]
        return cls(
            code=config.code,
            name=config.name,
            text=config.expression,
            operator=symbol,
            left=_compile(tree.left, known, config.expression),
            right=_compile(tree.comparators[0], known, config.expression),
            holds=holds,
            tolerance=config.tolerance,
            relative=config.relative,
            severity=config.severity,
        )

    def check(self, ctx: _Context) -> Finding | None:
        left = self.left(ctx)
        if left is None:
            return None
        right = self.right(ctx)
        if right is None:
            return None
        slack = max(self.tolerance, self.relative * max(abs(left), abs(right)))
        if self.holds(left, right, slack):
            return None
        return Finding(
            rule=self.code,
            name=self.name,
            org_unit=ctx.unit,
            period=ctx.period,
            left=left,
            right=right,
            operator=self.operator,
            severity=self.severity,
            message=(
                f"{self.text}: {left:,.0f} {self.operator} {right:,.0f} fails"
                f" (difference {left - right:+,.0f}, tolerance {slack:,.0f})"
            ),
        )


def check_rules(
    rules: Iterable[Rule],
    values: Values,
    children: Mapping[str, list[str]],
    periods: Iterable[date] | None = None,
) -> list[Finding]:
    """Every failure of ``rules`` over ``values``, for the given periods (default: all)."""
    wanted = set(periods) if periods is not None else None
    rules = list(rules)
    findings = []
    for unit, period in sorted(values):
        if wanted is not None and period not in wanted:
            continue
        ctx = _Context(values, children, unit, period)
        for rule in rules:
            finding = rule.check(ctx)
            if finding is not None:
                findings.append(finding)
    return findings
