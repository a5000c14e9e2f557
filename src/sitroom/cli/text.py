"""Text from data, made safe for the terminal.

Nothing that comes from a file, the database or the command line is ever
interpreted: the consoles print with Rich markup off, our own styling is
applied by :func:`styled` around escaped data, and :func:`clean` makes
control characters visible (an ESC in a storedBy would otherwise reach the
terminal raw) and cuts very long values.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

#: Longest piece of data shown in a message before it is cut.
MAX_SHOWN_CHARS = 300

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def clean(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` as one line of plain text: controls shown as escapes, cut at ``limit``."""
    text = _CONTROL.sub(_visible, str(value)).replace("\t", " ")
    if len(text) > limit:
        text = f"{text[: limit - 1]}… ({len(text):,} characters)"
    return text


def styled(template: str, *data: object) -> Text:
    """Our markup ``template`` with ``{}`` fields filled by cleaned, escaped ``data``."""
    return Text.from_markup(template.format(*(escape(clean(d)) for d in data)))


def json_escape_controls(text: str) -> str:
    """``text`` (JSON) with every control, line-separator and bidi character as a \\u escape.

    Inside JSON these characters can only be in strings, where ``\\uXXXX`` means
    the same character: the document is unchanged for a parser.
    """
    return _CONTROL.sub(
        lambda m: m.group() if m.group() == "\n" else f"\\u{ord(m.group()):04x}", text
    )
