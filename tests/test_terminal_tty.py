"""Issue 14.4: the NOC's terminal — apply's progress and result table on a TTY, tables that fit an
80-column pane, ``enforcer watch`` following the audit log. The TTY checks run the real command
inside a real terminal (a private tmux server, 80 columns wide) and read the screen back."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import EXAMPLE_INVENTORY

ENFORCER = str(Path(sys.executable).parent / "enforcer")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ENFORCER_DB": f"sqlite:///{tmp_path / 'enforcer.db'}",
        "ENFORCER_INVENTORY": str(EXAMPLE_INVENTORY),
        "ENFORCER_OUTPUT": str(tmp_path / "out"),
    }


def enforcer(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([ENFORCER, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


class Tmux:
    """A private tmux server (its own socket): a real 80x60 terminal whose screen we can read."""

    def __init__(self, env: dict[str, str]):
        self.socket = f"enforcer-test-{uuid.uuid4().hex[:8]}"
        self.env = env
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("ENFORCER_"))
        self._tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "60", f"env {exports} bash --norc --noprofile")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def run(self, command: str, deadline: float = 120, answer: tuple[str, str] | None = None) -> str:
        """Type ``command`` at the prompt, wait until it has finished, return the screen (wrapped
        lines joined, so a line longer than the terminal shows as one long line). ``answer``:
        (prompt, reply) — type ``reply`` once ``prompt`` shows, as the operator would."""
        marker = f"__done_{uuid.uuid4().hex[:6]}__"
        self._tmux("send-keys", "-t", "t", "clear", "Enter")
        self._tmux("send-keys", "-t", "t", f"{command}; echo {marker}$?", "Enter")
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            screen = self._tmux("capture-pane", "-p", "-J", "-t", "t", "-S", "-5000")
            lines = screen.splitlines()
            if answer is not None and any(line.startswith(answer[0]) for line in lines):
                self.type(answer[1], "Enter")
                answer = None
            done = [i for i, line in enumerate(lines) if line.startswith(marker)]
            if done:
                typed = max(i for i, line in enumerate(lines) if f"echo {marker}" in line)
                return "\n".join(lines[typed + 1 : done[0]])
            time.sleep(0.1)
        raise AssertionError(f"{command!r} did not finish:\n{screen}")

    def type(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def screen_until(self, expect, deadline: float = 60) -> str:
        """The screen once ``expect(screen)`` holds (a live display never 'finishes')."""
        end = time.monotonic() + deadline
        while True:
            screen = self._tmux("capture-pane", "-p", "-J", "-t", "t")
            if expect(screen):
                return screen
            assert time.monotonic() < end, screen
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux(env: dict[str, str]) -> Iterator[Tmux]:
    t = Tmux(env)
    yield t
    t.kill()


def assert_progress_then_results(screen: str, devices: int) -> None:
    """What every apply on a terminal ends with: the bar over all devices, then the result table."""
    assert f"{devices}/{devices} devices" in screen, screen
    assert "━" in screen, screen  # the bar itself
    header = next(line for line in screen.splitlines() if line.split()[:3] == ["device", "result", "changes"])
    assert screen.index(f"{devices}/{devices} devices") < screen.index(header)
    rows = screen.split(header, 1)[1].splitlines()
    assert sum(" applied " in f" {r} " for r in rows) >= 2, screen
    assert all(len(line) <= 80 for line in screen.splitlines()), screen


def test_apply_on_a_terminal_shows_progress_over_the_devices_then_a_result_table(env, tmux):
    enforcer(env, "block", "203.0.113.7", "--violation", "spam", "--ttl", "2h")
    devices = len(json.loads(enforcer(env, "plan", "--json")))
    assert devices > 1

    screen = tmux.run(f"{ENFORCER} apply --yes")

    assert_progress_then_results(screen, devices)


def changing(plans: list[dict]) -> int:
    """How many devices a saved plan pushes to: those it changes (or that failed to plan)."""
    return sum(bool(p["added"] or p["changed"] or p["removed"] or p["error"]) for p in plans)


def test_apply_of_a_saved_plan_shows_the_same_progress_and_result_table(env, tmux, tmp_path):
    enforcer(env, "block", "203.0.113.7", "--violation", "spam", "--ttl", "2h")
    devices = changing(json.loads(enforcer(env, "plan", "--out", str(tmp_path / "spam.plan"), "--json")))
    assert devices > 1

    screen = tmux.run(f"{ENFORCER} apply {tmp_path / 'spam.plan'}")

    assert_progress_then_results(screen, devices)


def test_interactive_apply_shows_the_same_progress_and_result_table_once_confirmed(env, tmux):
    enforcer(env, "block", "203.0.113.7", "--violation", "spam", "--ttl", "2h")
    devices = changing(json.loads(enforcer(env, "plan", "--json")))

    screen = tmux.run(f"{ENFORCER} apply", answer=("Send these commands?", "y"))

    assert "Send these commands? [y/N]: y" in screen, screen
    assert_progress_then_results(screen.split("Send these commands?", 1)[1], devices)


def test_history_fits_80_columns_one_line_per_entry_with_long_reasons_cut(env, tmux):
    long_reason = "customer's mail server relayed 40,000 messages to addresses harvested from a forum " * 2
    enforcer(env, "block", "203.0.113.7", "--violation", "spam", "--reason", long_reason)
    enforcer(env, "block", "198.51.100.9", "--violation", "phishing", "--reason", "kit at /login.php")
    enforcer(env, "apply", "--yes")
    enforcer(env, "unblock", "203.0.113.7", "--reason", "customer removed the relay")
    entries = json.loads(enforcer(env, "history", "--json"))

    screen = tmux.run(f"{ENFORCER} history")

    lines = [line for line in screen.splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines), "\n".join(f"{len(x):3} {x}" for x in lines)
    by_id = {line.split()[0]: line for line in lines if line.split()[0].isdigit()}
    assert sorted(by_id, key=int) == [str(e["id"]) for e in entries]  # every entry, each on its own line
    block = by_id[str(entries[0]["id"])]
    assert re.search(r" \d\d-\d\d \d\d:\d\d ", block), block  # the time is whole, not "12-…"
    assert "203.0.113.7/32" in block and "…" in block


def test_list_fits_80_columns_and_never_cuts_an_address(env, tmux):
    enforcer(env, "block", "2001:db8:abcd:1234::/64", "--violation", "malware-hosting")
    enforcer(env, "block", "203.0.113.7", "--violation", "spam")

    screen = tmux.run(f"{ENFORCER} list")

    assert all(len(line) <= 80 for line in screen.splitlines()), screen
    assert "203.0.113.7/32" in screen
    assert "null-route" in "".join(screen.split())  # the action is never cut either
    lines = screen.splitlines()
    row = next(i for i, line in enumerate(lines) if "2001:db8" in line)
    col = lines[row].index("2001:db8")
    folded = lines[row][col:].split()[0] + lines[row + 1][col:].split()[0]
    assert folded == "2001:db8:abcd:1234::/64"  # folded onto a second line in its column, all there


def test_watch_piped_prints_one_json_line_per_new_decision_and_push(env):
    enforcer(env, "history")  # the store exists before the watch looks: no race on its creation
    # Whether the watch starts before or after the block is stored, it prints it once: the latest
    # events first (as ``tail -f`` does), then the new ones.
    watch = subprocess.Popen(
        [ENFORCER, "watch", "--json", "--interval", "0.2"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        enforcer(env, "block", "203.0.113.7", "--violation", "spam")
        enforcer(env, "apply", "--yes", "--device", "linux-edge1")
        seen: list[dict] = []
        while not any(e["action"] == "apply" for e in seen):
            line = watch.stdout.readline()  # the test's pytest-timeout bounds a watch that never prints
            assert line, "watch ended"
            seen.append(json.loads(line))
    finally:
        watch.terminate()
        watch.wait()
    assert [e["action"] for e in seen] == ["block", "apply"]
    assert seen[0]["target"] == "203.0.113.7/32" and seen[1]["target"] == "linux-edge1"


def test_watch_plain_lines_carry_no_control_characters_from_a_detector_reason():
    from datetime import UTC, datetime

    from enforcer.console.terminal import event_line
    from enforcer.tables import AuditEntry

    entry = AuditEntry(
        id=1, at=datetime(2026, 12, 1, tzinfo=UTC), actor="fastnetmon", source="hook", action="block",
        target="203.0.113.7/32", decision_id=1, violation="spam", clause="", reason="x\x1b[2Jy\rz", detail={},
    )
    line = event_line(entry)
    assert "\x1b" not in line and "\r" not in line and "reason=x\\x1b[2Jy\\x0dz" in line  # shown, not obeyed


def test_watch_on_a_terminal_is_a_live_screen_that_shows_a_new_block_without_scrolling(env, tmux):
    enforcer(env, "history")
    tmux.type(f"{ENFORCER} watch --interval 0.3", "Enter")
    tmux.screen_until(lambda s: "active decisions" in s)

    enforcer(env, "block", "203.0.113.7", "--violation", "spam", "--reason", "seen live")

    screen = tmux.screen_until(lambda s: "203.0.113.7/32" in s and "seen live" in s)
    assert screen.count("active decisions") == 1  # redrawn in place, not printed again and again
    assert all(len(line) <= 80 for line in screen.splitlines())
    tmux.type("C-c")
