"""Control characters in stored or remote text never reach the operator's terminal.

A reason, actor or audit target can carry ``ESC [2J`` (clear screen), ``ESC ]0;…BEL`` (retitle the
window), a one-byte C1 ``CSI`` or U+202E (reverse the line): the CLI shows each as a visible escape.
"""

from __future__ import annotations

import pytest

from enforcer.terminal import plain, shown
from tests.helpers import builtin_calls

HOSTILE = "gone\x1b]0;pwned\x07 \x1b[2J\x9b31m\u202eevil\r"


@pytest.mark.parametrize(
    ("raw", "printed"),
    [
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("\x9b31m", "\\x9b31m"),
        ("abc\u202efed", "abc\\u202efed"),
        ("a\u2066b\u2069", "a\\u2066b\\u2069"),
        ("line\nnext\ttab\r", "line\\x0anext\\x09tab\\x0d"),
        ("\x00\x7f", "\\x00\\x7f"),
        ("café 日本 [bold]x[/bold] 198.51.100.7", "café 日本 [bold]x[/bold] 198.51.100.7"),
    ],
    ids=repr,
)
def test_plain_shows_every_control_character_as_an_escape(raw, printed):
    assert plain(raw) == printed


def test_multiline_text_keeps_its_lines_but_not_its_escapes():
    assert plain("- ip route x\n+ \x1b[31mip route y\n", one_line=False) == "- ip route x\n+ \\x1b[31mip route y\n"


def test_shown_also_escapes_rich_markup():
    assert shown("[red]x[/red]\x1b") == "\\[red]x\\[/red]\\x1b"


def _no_controls(text: str) -> None:
    for c in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert c not in text, repr(text)


def test_a_reason_with_control_characters_is_refused_in_one_line_that_holds_none(cli):
    code, out, err = cli("block", "203.0.113.7", "--violation", "malware-hosting", "--reason", HOSTILE)
    assert code == 2 and err.startswith("error: reason:") and len(err.strip().splitlines()) == 1
    _no_controls(out + err)


def test_history_and_list_print_stored_control_characters_as_escapes(cli):
    code, out, _ = cli(
        "block", "203.0.113.7", "--violation", "malware-hosting", "--reason", "ticket 1", "--actor", "noc\u202eadmin"
    )
    assert code == 0, out
    assert cli("unblock", "203.0.113.7", "--reason", HOSTILE)[0] == 0
    code, history, _ = cli("history")
    assert code == 0
    _no_controls(history)
    assert "gone\\x1b]0;pwned\\x07" in history
    code, listing, _ = cli("list", "--all")
    assert code == 0
    _no_controls(listing)
    assert "noc\\u202eadmin" in listing


def test_a_plan_diff_with_nothing_to_escape_is_printed_without_a_substitution():
    diff = "".join(f"+ {n * 10} deny   tcp host 10.0.{n >> 8}.{n & 255} any eq smtp\n" for n in range(2000))
    calls = builtin_calls(plain, diff, False)
    assert plain(diff, one_line=False) == diff
    assert calls["sub"] == 0


def test_a_diff_with_one_control_character_is_still_escaped_whole():
    diff = "+ ip route x\n" * 500 + "+ \x1b[31mip route y\n"
    assert plain(diff, one_line=False) == "+ ip route x\n" * 500 + "+ \\x1b[31mip route y\n"
    assert plain("tab\there") == "tab\\x09here" and plain("tab\there", one_line=False) == "tab\there"
