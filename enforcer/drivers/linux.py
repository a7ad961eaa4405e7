"""Linux hosts and routers: an enforcer-owned nftables table, restated in one ``nft -f`` transaction.

The managed section is one table (``inet enforcer`` unless ``optional_args.table`` says otherwise);
everything else in the ruleset is never read or touched. The candidate (``templates/nftables/
push.j2``) empties the table in place and states it whole in one ``nft -f`` transaction, checked
first with ``nft -c``; the table is never deleted and re-created, which would let packets through
for a moment (:mod:`enforcer.nftables`). When only set elements change, the candidate is those
elements' ``delete element``/``add element`` alone, in one transaction as well.

Every step that must survive enforcer losing its session — checkpoint, commit, the revert timer —
runs on the device as a small shell script through a :class:`Runner`. :class:`NetnsRunner` runs it
locally (inside a network namespace, as in the lab); a remote host needs only a runner that sends
the same ``argv`` and stdin over SSH, nothing else changes.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import subprocess
from abc import ABC, abstractmethod
from pathlib import PurePosixPath
from typing import Any

from .. import nftables
from ..counters import Counter, nft_counters
from ..inventory import Device
from ..render import PlatformInfo
from .base import CommitRefused, Driver, DriverError, extract_managed


class StaleTable(CommitRefused):
    """The table is not the listing the push was planned on (a reused read, :meth:`LinuxDriver.reuse_reads`):
    nothing was applied; plan again from a fresh read. A refusal: the push discards, never rolls back."""


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
#: Exit status of a commit refused because the table is not the listing the push was planned on.
STALE_REFUSED = 4
#: Exit status of a commit whose candidate nft refused (one transaction: nothing applied).
CANDIDATE_REFUSED = 5
_COMMIT = (
    _LIVE_TIMER
    + r"""
set -e
mkdir -p "$1"
cat > "$1/candidate.nft"
if timer "$1" >/dev/null; then
  echo "commit refused: a commit-confirm is pending (timer pid $(cat "$1/pending")); confirm or roll it back"
  exit 3
fi
# The checkpoint turns the candidate's table back into the live one the way the candidate was built
# (enforcer/nftables.py): emptied in place, never deleted, so a rollback lapses nothing either.
nft list table $2 > "$1/live.nft" 2>/dev/null || : > "$1/live.nft"
# Planned on a listing not read in this push ($4: its digest, counters left out): only if the table
# is still that one.
# In the C locale: sed's multibyte UTF-8 matching made this 20-38 ms of a 10,000-element listing (8-17 ms in C).
norm() { LC_ALL=C sed 's/counter packets [0-9]* bytes [0-9]*/counter/g'; }
if [ -n "$4" ] && [ "$(norm < "$1/live.nft" | sha256sum | cut -d' ' -f1)" != "$4" ]; then
  echo "commit refused: the table changed since the listing this push was planned on; plan again"
  exit 4
fi
tab=$(printf '\t')
{
  echo "table $2"
  if [ ! -s "$1/live.nft" ]; then
    echo "delete table $2"
  elif grep -q '^table ' "$1/candidate.nft"; then
    # A candidate that restates the table names its objects: those the live table lacks are
    # deleted, the sets and maps it has emptied, before the live listing is stated again.
    echo "flush table $2"
    sed -n "s/^$tab\(set\|map\|chain\|flowtable\|counter\|quota\|limit\|secmark\|synproxy\) \([^ ]*\) {\$/\1 \2/p" \
      "$1/candidate.nft" | while read -r kind name; do
      if grep -qxF "$tab$kind $name {" "$1/live.nft"; then
        case $kind in set|map) echo "flush $kind $2 $name" ;; esac
      else
        echo "delete $kind $2 $name"
      fi
    done
  else
    # One of set elements alone (no "table" line) keeps every live object: each live set and map
    # is emptied before the listing refills it, in one pass over the listing.
    echo "flush table $2"
    sed -n "s/^$tab\(set\|map\) \([^ ]*\) {\$/flush \1 $2 \2/p" "$1/live.nft"
  fi
  cat "$1/live.nft"
} > "$1/checkpoint.nft"
# The candidate's one check: nft -f is one transaction, so a candidate nft refuses applies nothing.
nft -f "$1/candidate.nft" || { echo "candidate refused by nft -f, nothing applied"; exit 5; }
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
# The read-back, in the same round trip: the table as nft lists it now, without the counters'
# numbers (-s, stateless: what norm leaves of a listing, byte for byte, so its digest is the one the
# next push's check computes; a third fewer bytes to send back and parse).
nft -s list table $2
"""
)
_ROLLBACK = (
    _CANCEL
    + """
test -f "$1/checkpoint.nft" || { echo "no checkpoint to roll back to"; exit 1; }
nft -f "$1/checkpoint.nft" && exit 0
# The checkpoint deletes what the commit added, so it applies once. If it failed because the revert
# timer got there first, the table already is the one the commit replaced: that is a rollback too.
norm() { LC_ALL=C sed 's/counter packets [0-9]* bytes [0-9]*/counter/g'; }
if [ -s "$1/live.nft" ] && [ "$(nft list table $2 2>/dev/null | norm)" = "$(norm < "$1/live.nft")" ]; then
  exit 0
fi
exit 1
"""
)
_PENDING = _LIVE_TIMER + 'timer "$1" || true'
#: Confirm in one round trip: refused when no commit waits (nothing to confirm), else the timer ends.
_CONFIRM = _LIVE_TIMER + 'timer "$1" >/dev/null || { echo "no commit pending confirmation"; exit 1; }' + _CANCEL
#: The candidate's result, listed by nft itself in a throwaway empty network namespace. stdin holds
#: the live table, then the candidate: one transaction, so the candidate's own flushes and deletes run
#: against what the device holds (a set it failed to flush would show as left-over elements).
#: The listing may bind objects to interfaces (a flowtable's ``devices``, a netdev or ingress chain's
#: ``device``), which nft refuses to load where they do not exist: each name the listing binds
#: (the arguments after the table) becomes a veth of that name in the throwaway namespace first.
_PREDICT = """
table=$1; shift; i=0
for dev in "$@"; do
  ip link add "$dev" type veth peer name "enforcer-p$i" || exit 1
  i=$((i + 1))
done
nft -f /dev/stdin && nft list table $table
"""
#: Interface names in a listing that nft resolves when it loads it: a hook's ``device "eth0"`` or
#: ``devices = { eth0, "eth1" }``, and a rule's ``iif "eth0"`` / ``oif`` (an interface index, looked
#: up at load: "Interface does not exist"). ``iifname`` is a string match and needs nothing.
_DEVICE = re.compile(r'\b(?:device|[io]if) "([^"]+)"|\bdevice ([^"\s;,{}]+)')
_DEVICES = re.compile(r"\b(?:devices =|[io]if) \{([^}]*)\}")
#: A rule's or element's comment: free text ("…infected device 10.1.2.3/32") that names no interface.
_COMMENT = re.compile(r'\bcomment "[^"]*"')
#: A name Linux can give an interface (IFNAMSIZ, no slash, colon or space): anything else is not one.
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def bound_interfaces(listing: str) -> list[str]:
    """The interfaces that objects of ``listing`` are bound to, each once, in order of appearance."""
    listing = _COMMENT.sub('comment ""', listing)
    names = [m.group(1) or m.group(2) for m in _DEVICE.finditer(listing)]
    for m in _DEVICES.finditer(listing):
        names += [n.strip().strip('"') for n in m.group(1).split(",")]
    return list(dict.fromkeys(n for n in names if n and n != "lo" and _IFNAME.match(n)))


#: What ``optional_args`` may hold for the values that reach a device command.
_STATE_DIR = re.compile(r"^/[A-Za-z0-9._/-]+$")
_TABLE = re.compile(r"^(ip|ip6|inet|arp|bridge|netdev) [A-Za-z_][A-Za-z0-9_-]*$")


#: The word "counter" then its numbers; the lookbehind stands for a leading \b, which would keep the
#: engine from finding the literal first (5x slower over a 10,000-element listing).
_COUNTS = re.compile(r"counter(?<!\wcounter) packets \d+ bytes \d+")
#: What the commit script's sed leaves of a listing's counters (the digest of a listing it verifies).
_SED_COUNTS = re.compile(r"counter packets [0-9]* bytes [0-9]*")


def listing_digest(listing: str) -> str:
    """The digest the commit script computes of the live table (``sed`` of the counters, ``sha256sum``):
    the counters run on while the table stays the same, so they are left out on both sides."""
    return hashlib.sha256(_SED_COUNTS.sub("counter", listing).encode()).hexdigest()


def normalize(listing: str) -> str:
    """nft's listing without blank lines or trailing spaces (tabs kept: templates render the same),
    and without the counters' running numbers: a block that drops packets has not drifted."""
    # One substitution over the whole text, not one per line: a third of a 10,000-element read-back's parse.
    if "counter packets" in listing:  # a stateless listing (nft -s) has no numbers to take out
        listing = _COUNTS.sub("counter", listing)
    lines = [ln for ln in (x.rstrip() for x in listing.splitlines()) if ln]
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
        #: The listing this session last read or read back, with its managed section (parsed once).
        self._known: str | None = None
        self._known_section: tuple[str, str] | None = None
        #: The listing the last commit printed, for the one read that follows it (push's verification).
        self._readback: str | None = None
        self._reuse = False
        self._unread = False  # the listing get_config gave last was the kept one, not read in this push

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

    def reuse_reads(self, allowed: bool) -> None:
        """``allowed``: this push may plan on the listing the session last read back instead of
        listing the table again (O(N) for nft and for the parse here, per push). Safe because the
        commit then makes the device verify it: the script compares the digest of the live table
        with the listing's and refuses (:class:`StaleTable`, nothing applied) when they differ, so
        a manual change since is never overwritten unseen; serve's worker retries on a fresh read."""
        self._reuse = allowed

    def get_config(self) -> str:
        """The enforcer table as nft lists it, stateless (``nft -s``: ``counter`` without its running
        numbers, which :meth:`get_counters` reads; the plan leaves them out, and the commit's read-back
        is listed so too); empty when the table does not exist. The commit's
        read-back answers the read that follows the commit; a push allowed to (:meth:`reuse_reads`)
        gets the listing the session last saw."""
        readback, self._readback = self._readback, None
        if readback is not None:
            self._unread = False
            return readback
        self._unread = self._reuse and self._known is not None
        if self._unread:
            assert self._known is not None
            return self._known
        rc, out, err = self._run(["nft", "-s", "list", "table", *self.table.split()])
        if rc != 0:
            if "No such file or directory" in err:
                out = ""
            else:
                raise DriverError(self.device.name, f"nft -s list table {self.table}: {err.strip()[:200]}")
        self._known = out
        return out

    def get_managed_section(self) -> str:
        listing = self.get_config()
        known = self._known_section
        if known is not None and known[0] is listing:  # the same listing: parsed once
            return known[1]
        section = nftables.canonical(_managed(normalize(listing), self.info))
        self._known_section = (listing, section)
        return section

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
        """Checked by ``nft -c`` when it restates the table. A candidate of set elements alone (no
        ``table`` statement: :func:`enforcer.nftables.element_changes`) is checked by the commit's
        own ``nft -f``, one transaction that applies nothing when it refuses
        (:data:`CANDIDATE_REFUSED`): with 10,000 elements a separate ``nft -c`` of one element
        cost the device as much as the ``nft -f`` (it loads the interval set's elements too)."""
        if _restates_table(config):
            rc, out, err = self._run(["nft", "-c", "-f", "/dev/stdin"], stdin=config)
            if rc != 0:
                raise DriverError(self.device.name, f"candidate refused by nft -c: {(err or out).strip()[:300]}")
        self._candidate = config

    def compare_config(self) -> str:
        """Unified diff of the live table against the table the candidate would leave (per nft itself)."""
        if self._candidate is None:
            return ""
        listing = self.get_config()
        bound = bound_interfaces(listing + "\n" + self._candidate)
        rc, out, err = self._run(
            ["unshare", "--net", "sh", "-c", _PREDICT, "sh", self.table, *bound], stdin=listing + "\n" + self._candidate
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
        planned_on = listing_digest(self._known) if self._unread and self._known is not None else ""
        self._known = self._readback = None  # whatever happens next, the table is read again or read back
        rc, out, err = self._run(
            ["sh", "-c", _COMMIT, "sh", self.state_dir, self.table, seconds, planned_on], self._candidate, "sh"
        )
        text = (out + err).strip()
        if rc == PENDING_REFUSED:
            raise CommitRefused(self.device.name, text[:300])
        if rc == STALE_REFUSED:
            raise StaleTable(self.device.name, text[:300])
        if rc == CANDIDATE_REFUSED:
            raise DriverError(self.device.name, f"candidate refused by nft -f, nothing applied: {text[:300]}")
        if rc != 0:
            raise DriverError(self.device.name, f"commit failed, nothing changed: {text[:300]}")
        self._readback = self._known = out
        self._candidate = None

    def confirm_commit(self) -> None:
        """Ends the revert timer; one round trip (the script refuses when no commit waits)."""
        rc, text = self._script(_CONFIRM)
        if rc != 0:
            if "no commit pending" in text:
                raise DriverError(self.device.name, "no commit pending confirmation")
            raise DriverError(self.device.name, f"confirm failed: {text[:200]}")

    def has_pending_commit(self) -> bool:
        rc, text = self._script(_PENDING)
        return rc == 0 and bool(text)

    def discard_config(self) -> None:
        self._candidate = None

    def rollback(self) -> None:
        self._known = self._readback = None
        rc, text = self._script(_ROLLBACK)
        if rc != 0:
            raise DriverError(self.device.name, f"rollback failed: {text[:300]}")


def _managed(listing: str, info: PlatformInfo) -> str:
    """The managed section of a normalized listing. ``nft list table`` prints the one table: when
    its first line is managed and nothing else stands at the top level, the whole listing is the
    section (what :func:`extract_managed` finds, without its per-line pass: half of a 10,000-element
    read-back's parse); anything else goes through it. The lines are not visited in Python: one
    regex pass in C looks for a top-level line between the first and the last, and only a listing
    that holds the marker comment at all is looked at line by line for it."""
    first = listing[: listing.find("\n")]
    if not listing.endswith("}\n") or first.startswith(("\t", " ")) or nftables.other_breaks(listing):
        return _managed_by_lines(listing, info)
    if (
        not _TOP_LEVEL.search(listing, 0, len(listing) - 2)
        and any(re.search(p, first) for p in info.managed)
        and not (info.comment in listing and any(ln.strip() == info.comment for ln in listing.splitlines()))
    ):
        return listing
    return extract_managed(listing, info)


#: A line that starts at the top level (after the first): not indented by a tab or a space.
_TOP_LEVEL = re.compile(r"\n[^\t ]")


def _managed_by_lines(listing: str, info: PlatformInfo) -> str:
    """:func:`_managed` line by line (a listing not as :func:`normalize` leaves it)."""
    lines = listing.splitlines()
    if (
        lines
        and lines[-1] == "}"
        and any(re.search(p, lines[0]) for p in info.managed)
        and sum(1 for ln in lines if not ln.startswith(("\t", " "))) == 2
        and not any(ln.strip() == info.comment for ln in lines)
    ):
        return listing
    return extract_managed(listing, info)


def _restates_table(candidate: str) -> bool:
    """Whether ``candidate`` states the table (``push.j2``) rather than set elements alone: the
    commit script tells them apart by the same ``table`` line (``grep '^table '``)."""
    return candidate.startswith("table ") or "\ntable " in candidate


def _checked(device: Device, key: str, pattern: re.Pattern[str], default: str, what: str) -> str:
    """An ``optional_args`` value that ends up in a device command, refused unless it is plainly one."""
    value = str(device.optional_args.get(key, default))
    if key == "state_dir":
        value = str(PurePosixPath(value))
    if not pattern.match(value) or ".." in value.split("/"):
        raise DriverError(device.name, f"optional_args.{key}: {value!r} is not {what}")
    return value
