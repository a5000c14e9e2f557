"""Counts: whole, non-negative numbers, read the same way from every file.

The import and ``sitroom analyze --input`` both read counts with
:func:`parse_count`, so a file is not refused by one and accepted by the other.
"""

from __future__ import annotations

#: Largest count accepted (a sanity bound far above any population).
MAX_COUNT = 10**12


def parse_count(text: str) -> int:
    """A non-negative whole count from ``text``; ValueError with a plain reason."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        if len(text.lstrip("0")) > len(str(MAX_COUNT)):
            raise ValueError(f"{text[:20]}... ({len(text)} digits) is too large for a count")
        number = int(text)
        if number > MAX_COUNT:
            raise ValueError(f"{text} is too large for a count")
        return number
    if text.isdigit() or (text[:1] in "+-" and text[1:].isdigit()):
        if not text.isascii():
            raise ValueError(f"{text!r} uses digits other than 0-9; write counts with 0-9")
        if text.startswith("-"):
            raise ValueError(f"{text} is negative: a count cannot be below zero")
        raise ValueError(f"{text} has a sign; write counts without + or -")
    try:
        number_f = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if number_f < 0:
        raise ValueError(f"{text} is negative: a count cannot be below zero")
    raise ValueError(f"{text} is not a whole number; counts are whole numbers")


__all__ = ["MAX_COUNT", "parse_count"]
