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
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sitroom.country import PeriodType, RuleConfig
from sitroom.errors import ConfigError
from sitroom.surveillance.periods import label, shift, steps_between

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
    #: The period is the first day of a day, an ISO week or a month.
    period_type: PeriodType = "daily"

    @property
    def period_label(self) -> str:
        return label(self.period, self.period_type)

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
            "period": self.period_label,
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
    return int(number) if float(number).is_integer() else float(number)


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


FloatGrid = NDArray[np.float64]


@dataclass(frozen=True)
class Grid:
    """Values as arrays: one (org units x days) array per element, NaN where missing.

    ``children`` sums the rows of each unit's children; ``present`` marks the
    (unit, day) cells that have any value at all (rules are checked there only).
    """

    units: list[str]
    first: date
    arrays: dict[str, FloatGrid]
    children: NDArray[np.float64]  # (units x units): 1 where column is a child of row
    present: NDArray[np.bool_]
    #: A column is a day, an ISO week or a month from ``first`` on.
    period_type: PeriodType = "daily"

    def column(self, period: date) -> int:
        """The column of the period starting on ``period`` (may be out of range)."""
        return steps_between(self.first, period, self.period_type)

    def period_at(self, column: int) -> date:
        return shift(self.first, column, self.period_type)

    @classmethod
    def build(
        cls, values: Values, children: Mapping[str, list[str]], elements: Iterable[str]
    ) -> Grid:
        units = sorted({unit for unit, _ in values})
        index = {unit: k for k, unit in enumerate(units)}
        first = min(period for _, period in values)
        n_days = (max(period for _, period in values) - first).days + 1
        wanted = set(elements)
        arrays = {e: np.full((len(units), n_days), np.nan) for e in wanted}
        present = np.zeros((len(units), n_days), dtype=bool)
        for (unit, period), row in values.items():
            u, d = index[unit], (period - first).days
            present[u, d] = True
            for element, value in row.items():
                if element in wanted:
                    arrays[element][u, d] = value
        matrix = np.zeros((len(units), len(units)))
        for parent, kids in children.items():
            if parent in index:
                for kid in kids:
                    if kid in index:
                        matrix[index[parent], index[kid]] = 1.0
        return cls(units, first, arrays, matrix, present)


ArrayEvaluator = Callable[[Grid], FloatGrid]
_ARRAY_ARITH: dict[type[ast.operator], Callable[[FloatGrid, FloatGrid], FloatGrid]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
}


def _compile_array(node: ast.expr) -> ArrayEvaluator:
    """The same expression as :func:`_compile`, on whole grids (NaN plays None)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        number = float(node.value)
        return lambda grid: np.full(grid.present.shape, number)
    if isinstance(node, ast.Name):
        code = node.id
        return lambda grid: grid.arrays[code]
    if isinstance(node, ast.UnaryOp):
        inner = _compile_array(node.operand)
        return lambda grid: -inner(grid)
    if isinstance(node, ast.BinOp):
        op = _ARRAY_ARITH[type(node.op)]
        left, right = _compile_array(node.left), _compile_array(node.right)
        return lambda grid: op(left(grid), right(grid))
    # Only prev(x) and children(x) are left: _compile has refused everything else.
    call = node
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and isinstance(call.args[0], ast.Name)
    ):
        raise ConfigError(f"not a rule expression: {ast.unparse(node)}")
    code = call.args[0].id
    if call.func.id == "prev":

        def prev(grid: Grid) -> FloatGrid:
            values = grid.arrays[code]
            shifted = np.full(values.shape, np.nan)
            shifted[:, 1:] = values[:, :-1]
            return shifted

        return prev

    def sum_children(grid: Grid) -> FloatGrid:
        values = grid.arrays[code]
        reported = ~np.isnan(values)
        total = grid.children @ np.where(reported, values, 0.0)
        count = grid.children @ reported.astype(float)
        return np.where(count > 0, total, np.nan)

    return sum_children


def _names(node: ast.AST) -> set[str]:
    """The element codes an expression reads."""
    functions = {"prev", "children"}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id not in functions}


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
    left_array: ArrayEvaluator
    right_array: ArrayEvaluator
    elements: frozenset[str]

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
            left_array=_compile_array(tree.left),
            right_array=_compile_array(tree.comparators[0]),
            elements=frozenset(_names(tree)),
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
        terms = {code: ctx.get(code) for code in sorted(self.elements)}
        return self.finding(ctx.unit, ctx.period, left, right, slack, terms=terms)

    def failures(self, grid: Grid) -> NDArray[np.bool_]:
        """Where the rule fails on ``grid``: cells with both sides known and outside the slack."""
        left, right = self.left_array(grid), self.right_array(grid)
        known = grid.present & ~np.isnan(left) & ~np.isnan(right)
        slack = np.maximum(self.tolerance, self.relative * np.maximum(np.abs(left), np.abs(right)))
        with np.errstate(invalid="ignore"):
            holds = {
                "==": np.abs(left - right) <= slack,
                "<=": left <= right + slack,
                ">=": left + slack >= right,
                "<": left < right + slack,
                ">": left + slack > right,
            }[self.operator]
        return known & ~holds

    def finding(
        self,
        unit: str,
        period: date,
        left: float,
        right: float,
        slack: float,
        *,
        terms: Mapping[str, float | None] | None = None,
    ) -> Finding:
        """The failure at one cell; ``terms`` (the rule's elements there) may explain it.

        When an identity (``==``) misses by exactly the value of one of its
        elements, the message says so: the DPRK's cumulative cases equal
        recovered plus under treatment on the days the identity fails, as if
        the deaths had been left out.
        """
        message = (
            f"{self.text}: {left:,.0f} {self.operator} {right:,.0f} fails"
            f" (difference {left - right:+,.0f}, tolerance {slack:,.0f})"
        )
        gap = abs(left - right)
        if self.operator == "==" and terms and gap > 0:
            same = sorted(code for code, value in terms.items() if value == gap)
            if same:
                message += (
                    f"; the gap is exactly {same[0]} ({gap:,.0f}): the other figures add up"
                    f" without it, as if {same[0]} had been left out"
                )
        return Finding(
            rule=self.code,
            name=self.name,
            org_unit=unit,
            period=period,
            left=left,
            right=right,
            operator=self.operator,
            severity=self.severity,
            message=message,
        )


def check_rules(
    rules: Iterable[Rule],
    values: Values,
    children: Mapping[str, list[str]],
    periods: Iterable[date] | None = None,
) -> list[Finding]:
    """Every failure of ``rules`` over ``values``, for the given periods (default: all).

    Evaluated on whole arrays (:class:`Grid`): each rule is a few array
    operations over every org unit and day, and only the failures become
    Python objects. :func:`check_rules_rowwise` is the cell-by-cell reference.
    """
    rules = list(rules)
    if not values or not rules:
        return []
    grid = Grid.build(values, children, set().union(*(r.elements for r in rules)))
    return check_rules_on(rules, grid, periods)


def check_rules_on(
    rules: list[Rule], grid: Grid, periods: Iterable[date] | None = None
) -> list[Finding]:
    """:func:`check_rules` on values already laid out as a :class:`Grid`."""
    n_days = grid.present.shape[1]
    wanted = np.ones(n_days, dtype=bool)
    if periods is not None:
        wanted[:] = False
        for period in periods:
            offset = grid.column(period)
            if 0 <= offset < n_days:
                wanted[offset] = True
    found: list[tuple[int, int, int, Finding]] = []
    for r, rule in enumerate(rules):
        fails = rule.failures(grid) & wanted[None, :]
        if not fails.any():
            continue
        left, right = rule.left_array(grid), rule.right_array(grid)
        for u, d in zip(*np.nonzero(fails), strict=True):
            a, b = float(left[u, d]), float(right[u, d])
            slack = max(rule.tolerance, rule.relative * max(abs(a), abs(b)))
            terms = {code: float(grid.arrays[code][u, d]) for code in sorted(rule.elements)}
            finding = rule.finding(grid.units[u], grid.period_at(int(d)), a, b, slack, terms=terms)
            if grid.period_type != "daily":
                finding = replace(finding, period_type=grid.period_type)
            found.append((int(u), int(d), r, finding))
    found.sort(key=lambda item: item[:3])
    return [finding for *_, finding in found]


def check_rules_rowwise(
    rules: Iterable[Rule],
    values: Values,
    children: Mapping[str, list[str]],
    periods: Iterable[date] | None = None,
) -> list[Finding]:
    """:func:`check_rules` cell by cell, as first written (the tests' reference)."""
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
