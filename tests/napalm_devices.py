"""Devices that NAPALM's real drivers talk to in tests: sessions that answer and change state as
the vendor's box does, below the NAPALM driver (netmiko, ncclient, PyEZ's NETCONF).

Each box holds its configuration the way the device prints it (the vendor-format fixtures of
``tests/fixtures/running``) and applies what arrives with the vendor's semantics, modelled here
independently of enforcer's own diff code:

* the line CLIs (NX-OS over SSH, IOS XR over NETCONF with the CLI encoding) merge a file line by
  line: a line enters its parent's context by indentation, ``no X`` removes the entries of that
  context that are ``X`` or start with ``X ``, anything else is added if absent. NX-OS's
  ``rollback running-config file F`` and IOS XR's ``roll-back-configuration-last`` restore a whole
  earlier configuration, as the devices do.
* EOS over eAPI takes commands without indentation, in configuration sessions: a command that
  opens a mode (``interface``, ``ip access-list``, ``router bgp`` …, or any line the box prints with
  children) enters it, ``exit`` leaves it, and a global-mode command (``ip route``, another
  ``interface``) leaves the sub-mode first, as EOS does; ``commit timer`` commits with a checkpoint the timer (or ``abort``)
  restores whole, and ``configure replace flash:rollback-0`` restores the startup copy.
* Junos keeps ``set`` lines: ``set X`` adds, ``delete X`` removes ``X`` and everything under it; a
  commit keeps the previous configurations (``rollback N``); ``commit confirmed`` is pending until
  any later commit, and any commit confirms it (the operator's too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from xml.sax.saxutils import escape

from lxml import etree

# ------------------------------------------------------------------ the line CLIs


#: Lines that close the block opened at their own indentation (IOS XR's RPL): part of that block.
CLOSERS = ("end-policy", "end-set")


@dataclass
class Line:
    text: str
    children: list[Line] = field(default_factory=list)
    pad: str = ""  # the indentation the device prints it with

    def matching(self, what: str) -> list[Line]:
        return [c for c in self.children if c.text == what or c.text.startswith(what + " ")]


def _parse(config: str) -> Line:
    root = Line("")
    _add(root, config, merging=False)
    return root


def _add(root: Line, text: str, merging: bool) -> None:
    """Lines into ``root`` by indentation; with ``merging`` False a plain parse, else a merge."""
    stack: list[tuple[int, Line]] = [(-1, root)]
    for raw in text.splitlines():
        cmd = raw.strip()
        if not cmd or cmd.startswith("!") or cmd in ("exit",) or cmd.startswith("Building configuration"):
            continue
        if cmd in ("root", "end"):
            stack = [(-1, root)]
            continue
        indent = len(raw) - len(raw.lstrip())
        closed = None
        while stack[-1][0] >= indent:
            closed = stack.pop()
        if cmd in CLOSERS and closed is not None and closed[0] == indent:
            if not closed[1].children or closed[1].children[-1].text != cmd:
                closed[1].children.append(Line(cmd, pad=raw[:indent]))
            continue
        parent = stack[-1][1]
        if merging and cmd.startswith("no "):
            gone = parent.matching(cmd[3:])
            parent.children = [c for c in parent.children if c not in gone]
            continue
        node = next((c for c in parent.children if c.text == cmd), None) if merging else None
        if node is None:
            node = Line(cmd, pad=raw[:indent])
            parent.children.append(node)
        stack.append((indent, node))


class CliBox:
    """A running configuration of an indented CLI, merged into as the device merges a file."""

    def __init__(self, printed: str):
        self.root = _parse(printed)
        self.files: dict[str, Line] = {}

    def merge(self, text: str) -> None:
        _add(self.root, text, merging=True)

    def show(self) -> str:
        out = ["Building configuration...", "!"]

        def walk(node: Line, depth: int) -> None:
            for c in node.children:
                out.append(c.pad + c.text)
                walk(c, depth + 1)
                if depth == 0:
                    out.append("!")

        walk(self.root, 0)
        return "\n".join(out + ["end", ""])

    def paths(self) -> set[tuple[str, ...]]:
        """Every line with its parents: the configuration, order aside."""
        found: set[tuple[str, ...]] = set()

        def walk(node: Line, above: tuple[str, ...]) -> None:
            for c in node.children:
                found.add((*above, c.text))
                walk(c, (*above, c.text))

        walk(self.root, ())
        return found

    def snapshot(self) -> Line:
        return _parse(self.show())

    def restore(self, saved: Line) -> None:
        self.root = _parse(_print(saved))


def _print(root: Line) -> str:
    box = CliBox("")
    box.root = root
    return box.show()


class NxosSsh:
    """The netmiko session under NAPALM's nxos_ssh driver: show, config mode, checkpoint, rollback."""

    def __init__(self, box: CliBox):
        self.box = box

    def send_command(self, command: str, **_kw) -> str:
        if command == "show running-config":
            return self.box.show()
        if command.startswith("dir "):
            name = command.split()[1]
            return f"   1234  Jan 01 00:00:00 2026  {name}" if name in self.box.files else "No such file or directory"
        raise AssertionError(command)

    def send_config_set(self, commands: list[str], **_kw) -> str:
        self.box.merge("\n".join(commands))
        return "config term\n" + "\n".join(commands) + "\nend"

    def send_multiline(self, commands: list[str], **_kw) -> str:
        out = []
        for cmd in commands:
            if cmd.startswith("checkpoint file "):
                self.box.files[cmd.split()[-1]] = self.box.snapshot()
                out.append("Done")
            elif cmd.startswith("rollback running-config file "):
                self.box.restore(self.box.files[cmd.split()[-1]])
                out.append("Rollback completed successfully.")
            elif cmd not in ("terminal dont-ask", "no terminal dont-ask"):
                raise AssertionError(cmd)
        return "\n".join(out)

    def save_config(self, *_a, **_kw) -> str:
        return "[########################################] 100%\nCopy complete."

    def set_base_prompt(self, *_a, **_kw) -> str:
        return "nxos-edge1"

    def disconnect(self) -> None:
        pass


class XrNetconf:
    """The ncclient manager under NAPALM's iosxr_netconf driver (CLI encoding): a candidate
    datastore committed as a whole, and the commit history ``roll-back-configuration-last`` uses."""

    NS = "http://cisco.com/ns/yang/Cisco-IOS-XR-cli-cfg"
    server_capabilities: tuple[str, ...] = ()

    def __init__(self, box: CliBox):
        self.box = box
        self.staged: list[str] = []
        self.history: list[Line] = []

    def get_config(self, source: str, filter=None):  # noqa: A002 - ncclient's name
        return SimpleNamespace(xml=f'<rpc-reply><data><cli xmlns="{self.NS}">{escape(self.box.show())}</cli></data></rpc-reply>')

    def edit_config(self, config: str, **_kw) -> None:
        self.staged.append(etree.fromstring(config).findtext(f"{{{self.NS}}}cli"))

    def commit(self) -> None:
        self.history.append(self.box.snapshot())
        for text in self.staged:
            self.box.merge(text)
        self.staged = []

    def discard_changes(self) -> None:
        self.staged = []

    def dispatch(self, rpc):
        assert rpc.tag.endswith("roll-back-configuration-last"), rpc.tag
        self.box.restore(self.history.pop())
        return SimpleNamespace(xml="<rpc-reply><ok/></rpc-reply>")

    def lock(self, *_a, **_kw) -> None:
        pass

    unlock = lock

    def close_session(self) -> None:
        pass


class EosEapi:
    """The pyeapi Node under NAPALM's eos driver: ``run_commands`` with configuration sessions."""

    #: Commands of the global mode (EOS leaves a sub-mode for them), and the ones that open a mode.
    GLOBAL = re.compile(r"^(interface |ip access-list |ipv6 access-list |router |route-map |policy-map |class-map |"
                        r"ip prefix-list |ipv6 prefix-list |ip route |ipv6 route )")
    OPENS = re.compile(r"^(interface |ip access-list |ipv6 access-list |router |route-map |policy-map |class-map |"
                       r"address-family )")

    def __init__(self, box: CliBox):
        self.box = box
        self.startup = box.show()
        self.files: dict[str, str] = {}
        self.sessions: dict[str, list[str]] = {}
        self.pending: dict[str, Line] = {}  # session → checkpoint its timer (or abort) restores

    def run_commands(self, commands: list[str], encoding: str = "json", **_kw) -> list[dict]:
        out: list[dict] = []
        session: str | None = None
        for cmd in commands:
            m = re.fullmatch(r"configure session (\S+)(?: (commit|abort)(?: timer (\S+))?)?", cmd)
            if session is not None and cmd != "end":
                self.sessions[session].append(cmd)
            elif m and m.group(2) is None:
                session = m.group(1)
                self.sessions.setdefault(session, [])
            elif m and m.group(2) == "commit":
                self._commit(m.group(1), timer=m.group(3) is not None)
            elif m and m.group(2) == "abort":
                if m.group(1) in self.pending:
                    self.box.restore(self.pending.pop(m.group(1)))
                self.sessions.pop(m.group(1), None)
            elif cmd == "end":
                session = None
            elif cmd == "copy startup-config flash:rollback-0":
                self.files["rollback-0"] = self.startup
            elif cmd == "write memory":
                self.startup = self.box.show()
            elif cmd == "configure replace flash:rollback-0":
                self.box.restore(_parse(self.files["rollback-0"]))
            elif cmd == "show running-config":
                out.append({"output": self.box.show()})
                continue
            elif cmd == "show version":
                out.append({"version": "4.28.3M", "uptime": 1000.0})
                continue
            elif cmd.startswith("show configuration sessions"):
                states = {n: {"state": "pendingCommitTimer" if n in self.pending else "pending", "commitBy": 1060.0}
                          for n in self.sessions}  # fmt: skip
                out.append({"sessions": states})
                continue
            else:
                raise AssertionError(cmd)
            out.append({})
        return out

    def _commit(self, name: str, timer: bool) -> None:
        if name in self.pending and not timer:  # the confirmation of a commit timer
            del self.pending[name]
            self.sessions.pop(name, None)
            return
        checkpoint = self.box.snapshot()
        self._apply(self.sessions.get(name, []))
        if timer:
            self.pending[name] = checkpoint
        else:
            self.sessions.pop(name, None)

    def _apply(self, commands: list[str]) -> None:
        """Commands without indentation, applied in EOS's modes."""
        path: list[Line] = []
        for cmd in commands:
            if cmd == "exit":
                path = path[:-1]
                continue
            if cmd.startswith("!") or not cmd:
                continue
            negated = cmd.startswith("no ")
            if self.GLOBAL.match(cmd[3:] if negated else cmd):
                path = []  # a global-mode command: EOS leaves the sub-mode for it
            here = path[-1] if path else self.box.root
            if negated:
                gone = here.matching(cmd[3:])
                here.children = [c for c in here.children if c not in gone]
                continue
            node = next((c for c in here.children if c.text == cmd), None)
            if node is None:
                node = Line(cmd, pad="   " * len(path))
                here.children.append(node)
            if self.OPENS.match(cmd) or node.children:
                path.append(node)


# ------------------------------------------------------------------ Junos


class JunosBox:
    """A Junos box over NETCONF as PyEZ talks to it: ``set`` configuration, candidate, commits."""

    connected = True
    timeout = 30
    _device_handler = SimpleNamespace(transform_reply=None)

    def __init__(self, printed_set: str):
        self.running = [ln for ln in printed_set.splitlines() if ln.startswith("set ")]
        self.candidate: list[str] | None = None
        self.history: list[list[str]] = []  # rollback 1, 2, …: the configurations before each commit
        self.confirmed: bool = False

    # the operator at the CLI: configure, edit, commit
    def operator_commit(self, *commands: str) -> None:
        self._load("\n".join(commands))
        self._commit(confirmed=False)

    def _load(self, text: str) -> None:
        cand = list(self.running if self.candidate is None else self.candidate)
        for cmd in text.splitlines():
            cmd = cmd.strip()
            if cmd.startswith("delete "):
                path = "set " + cmd[len("delete "):]
                cand = [ln for ln in cand if ln != path and not ln.startswith(path + " ")]
            elif cmd.startswith("set ") and cmd not in cand:
                cand.append(cmd)
            elif cmd and not cmd.startswith("set "):
                raise AssertionError(cmd)
        self.candidate = cand

    def _commit(self, confirmed: bool) -> None:
        if self.candidate is not None:
            self.history.insert(0, self.running)
            self.running, self.candidate = self.candidate, None
        self.confirmed = confirmed  # any commit confirms a pending one

    def rpc(self, cmd, *_filter):
        tag = cmd.tag
        body = "<ok/>"
        if tag == "get-configuration" and cmd.get("format") == "set":
            body = f"<configuration-set>{escape(chr(10).join(self.running))}</configuration-set>"
        elif tag == "load-configuration" and cmd.get("rollback") is not None:
            n = int(cmd.get("rollback"))
            self.candidate = list(self.running if n == 0 else self.history[n - 1])
            body = "<load-configuration-results><ok/></load-configuration-results>"
        elif tag == "load-configuration":
            assert cmd.get("action") == "set", etree.tostring(cmd)
            self._load(cmd.findtext("configuration-set"))
            body = "<load-configuration-results><ok/></load-configuration-results>"
        elif tag == "commit-configuration":
            self._commit(confirmed=cmd.find("confirmed") is not None)
            body = "<commit-results><routing-engine><name>re0</name><commit-success/></routing-engine></commit-results>"
        elif tag == "get-commit-revision-information":
            comment = "<comment>commit confirmed, rollback in 1mins</comment>" if self.confirmed else ""
            body = (f'<commit-revision-information><date-time seconds="1767225600">2026-01-01 00:00:00 UTC'
                    f"</date-time><revision>re0-1767225600-1</revision>{comment}</commit-revision-information>")
        elif tag == "get-system-uptime-information":
            body = ('<system-uptime-information><current-time><date-time seconds="1767225610">'
                    "2026-01-01 00:00:10 UTC</date-time></current-time></system-uptime-information>")
        elif tag not in ("lock-configuration", "unlock-configuration"):
            raise AssertionError(etree.tostring(cmd))
        doc = etree.fromstring(f"<rpc-reply>{body}</rpc-reply>")
        return SimpleNamespace(_NCElement__doc=doc)

    def close_session(self) -> None:
        pass
