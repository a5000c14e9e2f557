"""The report's fonts: Noto Sans KR (OFL 1.1) cut to Latin and the country's Hangul.

See ``data/fonts/SOURCES.md`` for where they come from and how to make a new
subset (``python -m sitroom.sitrep.fontsubset``).
"""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path

FONTS = Path(__file__).resolve().parent.parent / "data" / "fonts"
REGULAR = FONTS / "NotoSansKR-Regular.subset.ttf"
BOLD = FONTS / "NotoSansKR-Bold.subset.ttf"
LICENCE = FONTS / "OFL.txt"

#: The family name charts and pages ask for, with fallbacks for other characters.
FONT_FAMILY = "Noto Sans KR"
FONT_STACK = (
    "'Noto Sans KR', 'Noto Sans CJK KR', 'Malgun Gothic', 'Apple SD Gothic Neo', sans-serif"
)

#: The credit line of the fonts, printed with the report's attributions.
CREDIT = "Font: Noto Sans KR, SIL Open Font License 1.1 (subset)."


@cache
def data_uri(path: Path = REGULAR) -> str:
    """The font as a ``data:`` URI, for an ``@font-face`` in a page that loads nothing."""
    return "data:font/ttf;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
