"""The one contract every device transport implements (after NAPALM's ``NetworkDriver``).

The push path is identical for every platform: read the live managed section, render the merge
candidate (``templates/<platform>/push.j2``), ``load_merge_candidate``, ``compare_config``,
``commit_config(revert_in=…)``, read back, ``confirm_commit``; on any failure ``discard_config`` or
``rollback``. A new platform adds a driver (if its transport is new) and a template folder.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..compose import live_section
from ..inventory import Device
from ..model import EnforcerError
from ..render import PlatformInfo, platform_info


class DriverError(EnforcerError):
    """A device could not be reached, refused the candidate, or failed to commit; names the device."""

    def __init__(self, device: str, reason: str):
        self.device = device
        self.reason = reason
        super().__init__(f"{device}: {reason}")


class DeviceUnreachable(DriverError):
    """The device could not be reached, or stopped answering mid-session (management lost).

    Raised after a commit was sent, it means enforcer cannot know whether the change landed, nor
    undo it: only the device's own commit-confirmed timer (``revert_in``) can.
    """


class AuthenticationFailed(DriverError):
    """The device answered and refused enforcer's credentials (or the key would not open): reachable,
    so retrying the network changes nothing; the inventory's secrets need fixing."""


class CommitRefused(DriverError):
    """The device holds another commit-confirm that is still pending: NAPALM's contract is to refuse,
    never to cancel another pusher's revert timer."""


class Driver(ABC):
    """NAPALM-shaped interface. Methods raise :class:`DriverError`; ``close`` never raises."""

    #: A session worth keeping open between pushes (``enforcer serve``, :mod:`enforcer.sessions`):
    #: a login that costs round trips. Drivers that read state at construction (offline) are not.
    warm: bool = False
    #: The device renders and diffs its own state from the store when asked to ``sync()`` (the
    #: OpenFlow controller does): serve's worker then skips planning here between full passes.
    syncs_from_store: bool = False

    def __init__(self, device: Device, timeout: float = 30.0):
        self.device = device
        self.timeout = timeout
        self.info: PlatformInfo = platform_info(device.platform)

    # -- session
    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Driver:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def alive(self) -> bool:
        """Whether the open session still works, asked before a warm session is used again; cheap
        (no command on the device). A session that died in between is opened anew."""
        return True

    def reuse_reads(self, allowed: bool) -> None:
        """``enforcer serve``'s worker, pushing between full reads on the session of its last
        confirmed push, allows a driver to plan on the config that push read back instead of
        reading it again — only a driver whose device then verifies it before committing (FRR's
        ``if-running``) takes the offer; the others read every time."""
        return None

    def read_ahead(self) -> None:
        """Right after the login, before the push holds the device's lease (``enforcer apply -y``
        logs in while it starts up): read the device's config now, for the plan to use, if the
        device verifies it under its own lock before committing (FRR's ``if-running``: a config
        changed since is refused with nothing applied), and with it whether a commit is pending
        where the device refuses a commit over a pending one anyway (FRR): a "none pending" answer
        then stands for the plan's question, once. Drivers without that check read in the plan, as
        before."""
        return None

    # -- state
    @contextmanager
    def same_moment(self) -> Iterator[None]:
        """Within this block a driver may answer ``get_config`` from its first read: one plan (the
        conflicts check and the live section) or one push (compare and the commit's undo) looks at
        one moment of the device, with one round trip. Drivers whose reads are cheap ignore it."""
        self._moment: dict[str, str] | None = {}
        try:
            yield
        finally:
            self._moment = None

    def _remembered(self, key: str, read: Callable[[], str]) -> str:
        moment = getattr(self, "_moment", None)
        if moment is None:
            return read()
        if key not in moment:
            moment[key] = read()
        return moment[key]

    @abstractmethod
    def get_facts(self) -> dict[str, Any]: ...

    @abstractmethod
    def get_config(self) -> str:
        """The device's full running configuration (or its equivalent listing)."""

    def get_managed_section(self) -> str:
        """The live enforcer-managed section, normalised like ``render_section`` output.

        Read from the device, never from what enforcer last pushed: a manual change must show.
        Includes the entries enforcer placed in the operator's objects (composed slots).
        """
        config = self.get_config()
        return live_section(self.device, config, extract_managed(config, self.info))

    # -- candidate / commit
    @abstractmethod
    def load_merge_candidate(self, config: str) -> None: ...

    def load_replace_candidate(self, config: str) -> None:
        raise DriverError(self.device.name, "replace of the whole configuration is not supported; enforcer merges")

    @abstractmethod
    def compare_config(self) -> str: ...

    def set_desired_section(self, section: str) -> None:
        """Told the whole desired section before commit. Devices compute their change from the
        merge candidate and ignore it; the offline driver records it as the new live state."""
        return None

    @abstractmethod
    def commit_config(self, revert_in: int | None = None) -> None:
        """Apply the candidate; with ``revert_in`` the device reverts by itself unless confirmed."""

    @abstractmethod
    def confirm_commit(self) -> None: ...

    def has_pending_commit(self) -> bool:
        """Whether a commit-confirm is waiting on the device (its timer will revert it).

        Asked at the start of every plan, apply and reconcile pass: a pusher that died between
        commit and confirm leaves one, and it must be confirmed or rolled back on purpose.
        """
        return False

    def bgp_peers(self) -> set[str] | None:
        """The device's configured BGP neighbour addresses (``enforcer validate --live``); None: unknown."""
        return None

    def interfaces(self) -> set[str] | None:
        """The device's interface names (``enforcer validate --live``); None: unknown."""
        return None

    def conflicts(self, section: str) -> list[tuple[str, str]]:
        """``(rendered line, reason)`` for lines of ``section`` that the live device would refuse, or
        that would merge into an object the operator owns (FRR keys a static route by prefix and
        next hop: a tagged line retags the operator's route, and the unblock would delete it).
        The enforcements behind such lines are withheld, not pushed; the rest of the section is."""
        return []

    def run_after_commit(self, commands: list[str]) -> None:
        """Exec commands a platform needs once a commit is confirmed (enforcer.refresh: FRR's
        route refresh). Only platforms that declare such a command produce any, and their drivers
        override this; anything reaching here has no way to be run."""
        if commands:
            raise DriverError(self.device.name, f"this driver cannot run {commands[0]!r} after a commit")

    @abstractmethod
    def discard_config(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    def settle_unwanted(self) -> str:
        """Deal with a pending commit-confirm that does not hold the desired state (a pusher died
        between commit and confirm): roll it back, enforcer's objects only. Returns what was done."""
        self.rollback()
        return "a pending commit-confirm did not hold the desired state: rolled back on purpose"


#: Lines that only close the block opened at the same indentation; kept when that block is kept.
BLOCK_CLOSERS = frozenset({"}", "exit", "exit-address-family", "end-set", "end-policy"})


def extract_managed(config: str, info: PlatformInfo) -> str:
    """The managed lines of an indented config, with the parent lines that give them context.

    A line is managed when it, or one of its parents, matches a ``managed`` pattern from the
    platform's ``platform.yaml``. Parents of a managed line are kept (``router bgp 65000`` above a
    ``neighbor … prefix-list ENFORCER-… in``) so that the result diffs like a rendered section.
    """
    patterns = [re.compile(p) for p in info.managed]
    out: list[str] = []
    stack: list[tuple[int, str, bool]] = []  # (indent, line, emitted)
    for raw in config.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.strip() == info.comment:
            continue
        indent = len(line) - len(line.lstrip())
        opener = None
        while stack and stack[-1][0] >= indent:
            opener = stack.pop()
        if line.strip() in BLOCK_CLOSERS:
            # "}" (nftables, Junos), "end-set" (IOS-XR), "exit" (FRR) belong to the block they close.
            if opener is not None and opener[0] == indent and opener[2]:
                out.append(line)
            continue
        inherited = any(p.search(parent) for _, parent, _ in stack for p in patterns)
        managed = inherited or any(p.search(line.strip()) for p in patterns)
        if managed:
            for i, (ind, parent, emitted) in enumerate(stack):
                if not emitted:
                    out.append(parent)
                    stack[i] = (ind, parent, True)
            out.append(line)
        stack.append((indent, line, managed))
    return "\n".join(out) + "\n" if out else ""
