"""docs/reliability.md's lease figures, parsed from the page, against the settings and the lease:
``ENFORCER_LEASE_TTL``'s default and bounds, the holder's name as a second pusher is told it, and
``apply --wait``'s poll and default. The leases' behaviour is tests/test_lease.py's and the lab's."""

from __future__ import annotations

import inspect
import re
from datetime import datetime

import pytest

from enforcer import cli_devices, lease
from enforcer.errors import InvalidInput
from enforcer.settings import Settings

from .conftest import REPO

DOC = " ".join((REPO / "docs" / "reliability.md").read_text().split())


def test_the_lease_ttl_default_and_bounds_are_the_pages(monkeypatch):
    [(default, low, high)] = re.findall(r"`ENFORCER_LEASE_TTL` seconds \(default (\d+), (\d+)–(\d+);", DOC)
    monkeypatch.delenv("ENFORCER_LEASE_TTL", raising=False)
    assert Settings.from_env().lease_ttl == float(default)
    for ok in (low, high):
        monkeypatch.setenv("ENFORCER_LEASE_TTL", ok)
        assert Settings.from_env().lease_ttl == float(ok)
    for bad in (str(int(low) - 1), str(int(high) + 1), "2.9"):
        monkeypatch.setenv("ENFORCER_LEASE_TTL", bad)
        with pytest.raises(InvalidInput, match="ENFORCER_LEASE_TTL"):
            Settings.from_env()


def test_a_second_pusher_is_told_the_holders_role_host_pid_and_id():
    assert "`device busy: pushed by <role> on <host> pid <pid> [<id>] since <time>`" in DOC
    assert re.fullmatch(r"serve on \S+ pid \d+ \[[0-9a-f]{8}\]", lease.holder_name("serve"))
    busy = lease.DeviceBusy("edge", lease.holder_name("serve"), datetime(2026, 12, 3, 8, 0))
    assert re.fullmatch(r"device busy: pushed by serve on \S+ pid \d+ \[[0-9a-f]{8}\] since 2026-12-03T08:00:00",
                        str(busy))  # fmt: skip


def test_apply_wait_polls_every_half_second_and_defaults_to_0():
    assert "waits (polling every 0.5 s, bounded)" in DOC and "(`--wait 0`, the default: report busy at once)" in DOC
    assert lease.WAIT_POLL == 0.5
    assert inspect.signature(cli_devices.apply).parameters["wait"].default == 0.0
