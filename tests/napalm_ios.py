"""An IOS XE box as the netmiko session under NAPALM's ios driver sees it (see tests/napalm_devices.py).

NAPALM's ios driver merges by copying a file into the running config (``copy flash:/merge_config.txt
running-config``), takes a commit-confirm with the ``archive`` feature (``configure terminal revert
timer N``; ``show archive config rollback timer`` while it runs; ``configure confirm``; ``configure
revert now`` restores the archived configuration whole) and rolls back with ``configure replace
flash:/rollback_config.txt force``, a whole configuration saved before the commit. Only the file
transfer itself (SCP or TCL, netmiko's ``FileTransfer``) is not the real code: the test's driver
class writes the file into :attr:`IosSsh.flash` directly.
"""

from __future__ import annotations

import re

from tests.napalm_devices import CliBox, Line, _parse

#: ``show archive config rollback timer`` while a timer runs, in the form NAPALM's ios driver parses.
ROLLBACK_TIMER = """\
Time configured(or reset): 14:00:00 UTC Tue Dec 1 2026
Timer type: Rollback timer
Timer value: 1 min
User: {user}
"""


class IosSsh:
    """The netmiko ``cisco_ios`` session: show and file commands, the archive's revert timer."""

    def __init__(self, box: CliBox, user: str):
        self.box = box
        self.user = user
        self.flash: dict[str, str | Line] = {}
        self.archived: Line | None = None  # what ``configure revert`` restores while a timer runs

    def find_prompt(self, *_a, **_kw) -> str:
        return "ios-edge1#"

    def set_base_prompt(self, *_a, **_kw) -> str:
        return "ios-edge1"

    def send_config_set(self, commands: list[str], **_kw) -> str:
        assert all(c.endswith("file prompt quiet") for c in commands), commands
        return ""

    def config_mode(self, config_command: str = "configure terminal", **_kw) -> str:
        m = re.fullmatch(r"configure terminal revert timer (\d+)", config_command)
        assert m, config_command
        self.archived = self.box.snapshot()
        return "ios-edge1(config)#"

    def exit_config_mode(self, *_a, **_kw) -> str:
        return "ios-edge1#"

    def save_config(self, *_a, **_kw) -> str:
        return "Building configuration...\n[OK]"

    def send_command(self, command: str, **_kw) -> str:
        if command == "show running-config":
            return self.box.show()
        if command == "show archive":
            return "The maximum archive configurations allowed is 10.\nThe next archive file will be named flash:/arch-1"
        if command == "show archive config rollback timer":
            return ROLLBACK_TIMER.format(user=self.user) if self.archived is not None else (
                "%No Rollback Confirmed Change pending")
        if command.startswith("dir "):
            path = command.split()[1]
            if path in self.flash:
                return f"Directory of {path}\n\n   33  -rw-        5592  Dec 1 2026 14:00:00 +00:00  {path}"
            return f"%Error opening {path} (File not found)"
        if m := re.fullmatch(r"copy (\S+) running-config", command):
            self.box.merge(str(self.flash[m.group(1)]))
            return "Destination filename [running-config]? \n123 bytes copied in 0.112 secs"
        if m := re.fullmatch(r"copy running-config (\S+)", command):
            self.flash[m.group(1)] = self.box.snapshot()
            return "1234 bytes copied"
        if m := re.fullmatch(r"copy null: (\S+)", command):
            self.flash[m.group(1)] = ""
            return ""
        if m := re.fullmatch(r"configure replace (\S+) force", command):
            saved = self.flash[m.group(1)]
            self.box.restore(saved if isinstance(saved, Line) else _parse(saved))
            return "Total number of passes: 1\nRollback Done"
        if command == "configure confirm":
            self.archived = None
            return ""
        if command == "configure revert now":
            assert self.archived is not None
            self.box.restore(self.archived)
            self.archived = None
            return "Rollback Done"
        raise AssertionError(command)

    def disconnect(self) -> None:
        pass
