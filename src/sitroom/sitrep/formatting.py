"""Numbers for people: the one place the report formats a value.

Every renderer (HTML, PDF, Markdown) goes through :func:`show`, so the same
number reads the same everywhere: counts with thousands separators
(392,920), ratios as percentages with enough digits to be non-zero
(1.55e-5 -> 0.0016 %), rates per 100,000 with one decimal, R with two.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from sitroom.sitrep.model import Kind, Value

#: What a missing value looks like.
MISSING = "—"


def count(value: float | None) -> str:
    """A whole number with thousands separators: 392920 -> "392,920"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{round(value):,}"


def _significant(value: float, digits: int) -> str:
    """``value`` with ``digits`` significant digits, never in exponent form."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent(ratio: float | None, digits: int = 2) -> str:
    """A ratio as a percentage, ``digits`` significant digits: 1.55e-5 -> "0.0016 %".

    Ratios of 1 % and more keep one decimal at most (0.4132 -> "41.3 %").
    """
    if ratio is None or not math.isfinite(ratio):
        return MISSING
    value = ratio * 100
    if abs(value) >= 1:
        return f"{value:,.1f}".rstrip("0").rstrip(".") + " %"
    return _significant(value, digits) + " %"


def change(ratio: float | None) -> str:
    """A relative change, signed: 0.123 -> "+12.3 %", -0.5 -> "\u221250 %" (a minus sign)."""
    if ratio is None or not math.isfinite(ratio):
        return MISSING
    text = percent(abs(ratio))
    if ratio > 0:
        return "+" + text
    if ratio < 0:
        return "\u2212" + text
    return text


def per100k(value: float | None) -> str:
    """A rate per 100,000 people: one decimal below 100, whole above (1,234)."""
    if value is None or not math.isfinite(value):
        return MISSING
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 0.1:
        return _significant(value, 2)
    return f"{value:,.1f}"


def ratio(value: float | None) -> str:
    """A ratio such as R: two decimals (1.09), three significant digits below 0.1."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value != 0 and abs(value) < 0.1:
        return _significant(value, 2)
    return f"{value:,.2f}"


def days(value: float | None) -> str:
    """A duration in days: "4.3 days", "1 day", "≥ 90 days" for very long ones."""
    if value is None or not math.isfinite(value):
        return MISSING
    shown = f"{abs(value):,.1f}".rstrip("0").rstrip(".")
    return f"{shown} day" + ("" if shown == "1" else "s")


def day(value: date | datetime | str | None) -> str:
    """A date as 2022-05-20 (ISO: unambiguous in every language)."""
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def show(value: Value, kind: Kind = "count") -> str:
    """``value`` formatted as its ``kind`` says (see :data:`sitroom.sitrep.model.Kind`)."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if kind in ("text", "date"):
        return str(value)
    number = float(value)
    if kind == "count":
        return count(number)
    if kind == "percent":
        return percent(number)
    if kind == "per100k":
        return per100k(number)
    if kind == "ratio":
        return ratio(number)
    if kind == "days":
        return days(number)
    if kind == "change":
        return change(number)
    return str(value)


def interval(low: Value, high: Value, kind: Kind = "count") -> str:
    """A 95 % interval: "(1.05 to 1.12)"; empty when either end is missing.

    "to", not a dash: a dash between negative numbers reads as a minus.
    """
    if low is None or high is None:
        return ""
    return f"({show(low, kind)} to {show(high, kind)})"
