"""Linux hosts and routers: an enforcer-owned nftables table, restated in one ``nft -f`` transaction.

The managed section is one table (``inet enforcer`` unless ``optional_args.table`` says otherwise);
everything else in the ruleset is never read or touched. The candidate (``templates/nftables/
push.j2``) empties the table in place and states it whole in one ``nft -f`` transaction, checked
first with ``nft -c``; the table is never deleted and re-created, which would let packets through
for a moment (:mod:`enforcer.nftables`).

Every step that must survive enforcer losing its session — checkpoint, commit, the revert timer —
runs on the device as a small shell script through a :class:`Runner`. :class:`NetnsRunner` runs it
locally (inside a network namespace, as in the lab); a remote host needs only a runner that sends
the same ``argv`` and stdin over SSH, nothing else changes.
"""

from __future__ import annotations

import difflib
import re
import subprocess
from abc import ABC, abstractmethod
from pathlib import PurePosixPath
from typing import Any

from ..counters import Counter, nft_counters
from ..inventory import Device
from ..render import PlatformInfo
from .base import CommitRefused, Driver, DriverError, extract_managed

DEFAULT_TABLE = "inet enforcer"


class Runner(ABC):
    """Runs a command on the device: ``(exit status, stdout, stderr)``; raises OSError if unreachable."""

    @abstractmethod
    def run(self, argv: list[str], stdin: str | None = None, timeout: float = 30.0) -> tuple[int, str, str]: ...

    def close(self) -> None:  # noqa: B027 - optional: only a runner that keeps a connection has one to release
        """Release the connection, if the runner keeps one (a local runner keeps none)."""

    def alive(self) -> bool:
        """Whether the kept connection still works (a local runner has none to lose)."""
        return True


class NetnsRunner(Runner):
    """This machine, inside network namespace ``netns`` (or the host's own when None)."""

    def __init__(self, netns: str | None):
        self.netns = netns

    def run(self, argv: list[str], stdin: str | None = None, timeout: float = 30.0) -> tuple[int, str, str]:
        cmd = ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr


# Device-side scripts, run as ``sh -c SCRIPT sh DIR TABLE [SECONDS]``; the candidate comes on stdin.
# Every value reaches the scripts as a positional argument, never pasted into script text, and the
# driver checks DIR and TABLE against a strict pattern first: no inventory value can run a command.
_LIVE_TIMER = """
timer() {
  pid=$(cat "$1/pending" 2>/dev/null) || return 1
  grep -qs checkpoint.nft "/proc/$pid/cmdline" && echo "$pid"
}
"""
_CANCEL = (
    _LIVE_TIMER
    + """
if pid=$(timer "$1"); then
  # The timer shell first (a shell with SIGTERM's default action dies at once), then its sleep.
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  rm -f "$1/pending"
  kill -TERM "$pid" 2>/dev/null; [ -z "$kids" ] || kill -TERM $kids 2>/dev/null
fi
rm -f "$1/pending"
true
"""
)
#: Exit status of a commit refused because another commit-confirm is pending (NAPALM's contract).
PENDING_REFUSED = 3
_COMMIT = (
    _LIVE_TIMER
    + r"""
set -e
mkdir -p "$1"
cat > "$1/candidate.nft"
nft -c -f "$1/candidate.nft"
if timer "$1" >/dev/null; then
  echo "commit refused: a commit-confirm is pending (timer pid $(cat "$1/pending")); confirm or roll it back"
  exit 3
fi
# The checkpoint turns the candidate's table back into the live one the way the candidate was built
# (enforcer/nftables.py): emptied in place, never deleted, so a rollback lapses nothing either.
nft list table $2 > "$1/live.nft" 2>/dev/null || : > "$1/live.nft"
tab=$(printf '\t')
{
  echo "table $2"
  if [ -s "$1/live.nft" ]; then
    echo "flush table $2"
    sed -n "s/^$tab\(set\|map\|chain\|flowtable\|counter\|quota\|limit\|secmark\|synproxy\) \([^ ]*\) {\$/\1 \2/p" \
      "$1/candidate.nft" | while read -r kind name; do
      if grep -qxF "$tab$kind $name {" "$1/live.nft"; then
        case $kind in set|map) echo "flush $kind $2 $name" ;; esac
      else
        echo "delete $kind $2 $name"
      fi
    done
    cat "$1/live.nft"
  else
    echo "delete table $2"
  fi
} > "$1/checkpoint.nft"
nft -f "$1/candidate.nft"
if [ -n "$3" ]; then
  # nohup execs the shell in place, so $! is the timer itself (setsid may fork and hide it).
  # The timer restores only while "pending" still names it: a confirm or a newer commit removes
  # or rewrites that file first, so a timer woken early by a kill can never revert anything.
  nohup sh -c '
    sleep "$1"
    [ "$(cat "$2/pending" 2>/dev/null)" = "$$" ] && nft -f "$2/checkpoint.nft" && rm -f "$2/pending"
  ' checkpoint.nft "$3" "$1" </dev/null >/dev/null 2>&1 &
  echo $! > "$1/pending"
fi
"""
)
_ROLLBACK = (
    _CANCEL
    + """
test -f "$1/checkpoint.nft" || { echo "no checkpoint to roll back to"; exit 1; }
nft -f "$1/checkpoint.nft" && exit 0
# The checkpoint deletes what the commit added, so it applies once. If it failed because the revert
# timer got there first, the table already is the one the commit replaced: that is a rollback too.
norm() { sed 's/counter packets [0-9]* bytes [0-9]*/counter/g'; }
if [ -s "$1/live.nft" ] && [ "$(nft list table $2 2>/dev/null | norm)" = "$(norm < "$1/live.nft")" ]; then
  exit 0
fi
exit 1
"""
)
_PENDING = _LIVE_TIMER + 'timer "$1" || true'
#: The candidate's result, listed by nft itself in a throwaway empty network namespace. stdin holds
#: the live table, then the candidate: one transaction, so the candidate's own flushes and deletes run
#: against what the device holds (a set it failed to flush would show as left-over elements).
_PREDICT = "nft -f /dev/stdin && nft list table $1"
#: What ``optional_args`` may hold for the values that reach a device command.
_STATE_DIR = re.compile(r"^/[A-Za-z0-9._/-]+$")
_TABLE = re.compile(r"^(ip|ip6|inet|arp|bridge|netdev) [A-Za-z_][A-Za-z0-9_-]*$")


_COUNTS = re.compile(r"\bcounter packets \d+ bytes \d+")


def normalize(listing: str) -> str:
    """nft's listing without blank lines or trailing spaces (tabs kept: templates render the same),
    and without the counters' running numbers: a block that drops packets has not drifted."""
    lines = [_COUNTS.sub("counter", ln.rstrip()) for ln in listing.splitlines() if ln.strip()]
    return "\n".join(lines) + "\n" if lines else ""


class LinuxDriver(Driver):
    def __init__(
        self, device: Device, timeout: float = 30.0, info: PlatformInfo | None = None, runner: Runner | None = None
    ):
        if info is None:
            super().__init__(device, timeout)
        else:
            self.device, self.timeout, self.info = device, timeout, info
        self.table = _checked(device, "table", _TABLE, DEFAULT_TABLE, "a family and a name, e.g. 'inet enforcer'")
        self.state_dir = _checked(
            device, "state_dir", _STATE_DIR, f"/run/enforcer/linux/{device.name}",
            "an absolute path of letters, digits and ._/- only",
        )  # fmt: skip
        if runner is None:
            from .ssh_runner import runner_for  # SSH for a remote box (ssh_runner imports Runner from here)

            runner = runner_for(device)
        self.runner = runner
        self._candidate: str | None = None

    def _run(self, argv: list[str], stdin: str | None = None, what: str = "") -> tuple[int, str, str]:
        try:
            return self.runner.run(argv, stdin=stdin, timeout=self.timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            raise DriverError(self.device.name, f"{what or argv[0]}: {exc}") from exc

    def _script(self, script: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
        rc, out, err = self._run(["sh", "-c", script, "sh", self.state_dir, self.table, *args], stdin, "sh")
        return rc, (out + err).strip()

    # ------------------------------------------------------------------ session

    def open(self) -> None:
        rc, out, err = self._run(["nft", "--version"], what="nft")
        if rc != 0:
            where = f"network namespace {self.device.netns}" if self.device.netns else "host"
            raise DriverError(self.device.name, f"nft does not run in {where}: {(err or out).strip()[:200]}")

    def close(self) -> None:
        self.runner.close()

    warm = True

    def alive(self) -> bool:
        return self.runner.alive()

    # ------------------------------------------------------------------ state

    def get_facts(self) -> dict[str, Any]:
        _, kernel, _ = self._run(["uname", "-r"])
        _, version, _ = self._run(["nft", "--version"])
        return {
            "vendor": "Linux",
            "model": version.strip(),
            "os_version": kernel.strip(),
            "hostname": self.device.netns or self.device.hostname or self.device.name,
            "fqdn": self.device.name,
            "serial_number": "",
            "uptime": -1,
            "interface_list": [],
        }

    def get_config(self) -> str:
        """The enforcer table as nft lists it; empty when the table does not exist."""
        rc, out, err = self._run(["nft", "list", "table", *self.table.split()])
        if rc != 0:
            if "No such file or directory" in err:
                return ""
            raise DriverError(self.device.name, f"nft list table {self.table}: {err.strip()[:200]}")
        return out

    def get_managed_section(self) -> str:
        return extract_managed(normalize(self.get_config()), self.info)

    def get_counters(self) -> dict[int, Counter]:
        """Enforcement id → packets and bytes its rules and set elements dropped (``nft -j``)."""
        rc, out, err = self._run(["nft", "-j", "list", "table", *self.table.split()])
        if rc != 0:
            if "No such file or directory" in err:
                return {}
            raise DriverError(self.device.name, f"nft -j list table {self.table}: {err.strip()[:200]}")
        return nft_counters(out)

    def interfaces(self) -> set[str]:
        rc, out, err = self._run(["ip", "-o", "link", "show"])
        if rc != 0:
            raise DriverError(self.device.name, f"ip link show: {err.strip()[:200]}")
        return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ln.count(":") >= 2}

    # ------------------------------------------------------------------ candidate / commit

    def load_merge_candidate(self, config: str) -> None:
        rc, out, err = self._run(["nft", "-c", "-f", "/dev/stdin"], stdin=config)
        if rc != 0:
            raise DriverError(self.device.name, f"candidate refused by nft -c: {(err or out).strip()[:300]}")
        self._candidate = config

    def compare_config(self) -> str:
        """Unified diff of the live table against the table the candidate would leave (per nft itself)."""
        if self._candidate is None:
            return ""
        listing = self.get_config()
        rc, out, err = self._run(
            ["unshare", "--net", "sh", "-c", _PREDICT, "sh", self.table], stdin=listing + "\n" + self._candidate
        )
        if rc != 0 and "No such file or directory" not in err:
            raise DriverError(self.device.name, f"predicting the candidate failed: {err.strip()[:300]}")
        live, predicted = normalize(listing), normalize(out if rc == 0 else "")
        diff = difflib.unified_diff(live.splitlines(), predicted.splitlines(), "live", "candidate", lineterm="", n=2)
        text = "\n".join(diff)
        return text + "\n" if text else ""

    def commit_config(self, revert_in: int | None = None) -> None:
        if self._candidate is None:
            raise DriverError(self.device.name, "nothing to commit (load a candidate first)")
        seconds = "" if revert_in is None else str(int(revert_in))
        rc, text = self._script(_COMMIT, seconds, stdin=self._candidate)
        if rc == PENDING_REFUSED:
            raise CommitRefused(self.device.name, text[:300])
        if rc != 0:
            raise DriverError(self.device.name, f"commit failed, nothing changed: {text[:300]}")
        self._candidate = None

    def confirm_commit(self) -> None:
        if not self.has_pending_commit():
            raise DriverError(self.device.name, "no commit pending confirmation")
        rc, text = self._script(_CANCEL)
        if rc != 0:
            raise DriverError(self.device.name, f"confirm failed: {text[:200]}")

    def has_pending_commit(self) -> bool:
        rc, text = self._script(_PENDING)
        return rc == 0 and bool(text)

    def discard_config(self) -> None:
        self._candidate = None

    def rollback(self) -> None:
        rc, text = self._script(_ROLLBACK)
        if rc != 0:
            raise DriverError(self.device.name, f"rollback failed: {text[:300]}")


def _checked(device: Device, key: str, pattern: re.Pattern[str], default: str, what: str) -> str:
    """An ``optional_args`` value that ends up in a device command, refused unless it is plainly one."""
    value = str(device.optional_args.get(key, default))
    if key == "state_dir":
        value = str(PurePosixPath(value))
    if not pattern.match(value) or ".." in value.split("/"):
        raise DriverError(device.name, f"optional_args.{key}: {value!r} is not {what}")
    return value
