"""Text from the store, a detector or a device, made safe to print on an operator's terminal.

A reason, an actor, an audit target (a request path) or a device's error message can hold
control characters: ``ESC [2J`` clears the screen, ``ESC ]0;…BEL`` retitles the window, a C1
``CSI`` does the same in one byte, U+202E reverses the line (Trojan Source). Rich prints all of
them raw. Every place the CLI prints stored or remote text passes it through :func:`shown` (Rich
markup, table cells) or :func:`plain` (``markup=False`` prints): each such character becomes a
visible escape (``\\x1b``, ``\\u202e``), and nothing else changes.
"""

from __future__ import annotations

import re

#: C0 controls but tab and newline, DEL, C1 controls, and the Unicode format characters that
#: reorder or break a line (bidi embeddings, overrides and isolates; marks; line/paragraph separators).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: The same, plus tab and newline: for text that must stay on one line (a table cell, a log line).
_UNSAFE_ONE_LINE = re.compile("[\t\n" + _UNSAFE.pattern[1:])
#: The ASCII characters neither pattern holds (space to ``~``), and those plus tab and newline.
_ASCII_SAFE = bytes(range(0x20, 0x7F))
_ASCII_SAFE_LINES = _ASCII_SAFE + b"\t\n"


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: object, one_line: bool = True) -> str:
    """``text`` with every control character shown as an escape; ``one_line=False`` keeps newlines and tabs.

    ASCII text with nothing left once its safe characters are deleted (a C loop over its bytes)
    holds nothing to escape and is returned as it is: the regex substitution over a
    100,000-enforcement plan's 21 MB of diff was a thirtieth of that plan, for no change."""
    text = str(text)
    if text.isascii() and not text.encode("ascii").translate(None, _ASCII_SAFE if one_line else _ASCII_SAFE_LINES):
        return text
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_escaped, text)


def shown(text: object, one_line: bool = True) -> str:
    """:func:`plain`, and Rich markup escaped: for a table cell or a message printed with markup on."""
    from rich.markup import escape  # here: the notify client prints with plain() and imports no Rich

    return escape(plain(text, one_line))
