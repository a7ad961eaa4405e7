"""Issue 14.2 beyond nftables: ACL hit counters read through NAPALM's ``cli()`` on IOS and EOS.

The running configurations are the vendor-format fixtures of ``tests/fixtures/running/`` (enforcer's
spam ACL entry 101 on each box); the ``show ip access-lists`` captures below are written the way each
platform prints them (Cisco IOS XE and Arista EOS command references: IOS ``(N matches)`` after the
entry, EOS ``[match N packets, H:MM:SS ago]`` with ``counters per-entry`` and the remarks listed).
Both go through NAPALM's real IOS and EOS drivers, over a session that answers as the router does.
"""

from __future__ import annotations

import pytest
from napalm.eos.eos import EOSDriver
from napalm.ios.ios import IOSDriver

from enforcer.counters import Counter
from enforcer.drivers.acl_hits import acl_counters, entry_owners
from enforcer.drivers.napalm import NapalmDriver
from enforcer.inventory import Platform, load_inventory
from tests.test_running_fixtures import EDGE, REPO
from tests.test_running_fixtures import RUNNING as FIXTURES

SHOW_IOS = """\
Extended IP access list ENFORCER-ACL-V4
    20 deny tcp host 198.51.100.20 any eq smtp (1543 matches)
    30 permit ip any any (2119882 matches)
Extended IP access list MGMT-IN
    10 permit tcp 192.0.2.0 0.0.0.31 any eq 22 (57 matches)
    20 deny ip any any
"""

SHOW_EOS = """\
IP Access List ENFORCER-ACL-V4
        counters per-entry
        10 remark 101 spam ticket 101
        20 deny tcp host 198.51.100.20 any eq smtp [match 1543 packets, 0:00:03 ago]
        30 permit ip any any [match 2119882 packets, 0:00:00 ago]

        Total rules configured: 3
        Configured on Ingress: Ethernet1
        Active on     Ingress: Ethernet1

IP Access List MGMT-IN
        10 permit tcp 192.0.2.0/27 any eq ssh
        20 deny ip any any [match 9 packets, 1:02:11 ago]
"""


class _Router:
    """The session NAPALM's driver talks to: the two show commands, printed as the router prints them."""

    def __init__(self, running: str, acls: str):
        self.answers = {"show running-config": running, "show ip access-lists": acls}

    def send_command(self, command: str, **_kw) -> str:  # netmiko (ios)
        return self.answers[command]

    def run_commands(self, commands, **_kw):  # pyeapi (eos)
        return [{"output": self.answers[c]} for c in commands]

    def disconnect(self) -> None:
        pass

    close_session = disconnect
    connection = None


def _napalm(platform: Platform, acls: str, monkeypatch: pytest.MonkeyPatch) -> NapalmDriver:
    base = {Platform.IOS: IOSDriver, Platform.EOS: EOSDriver}[platform]
    running = (FIXTURES / platform.value / "enforced.txt").read_text()

    def open_(self) -> None:
        self.device = _Router(running, acls)

    offline = type(f"Offline{base.__name__}", (base,), {"open": open_, "_netmiko_close": lambda self: None,
                                                         "discard_config": lambda self: None})
    monkeypatch.setenv("CORE1_USER", "noc")
    monkeypatch.setenv("CORE1_PASS", "secret")
    name, _ = EDGE[platform]
    dev = load_inventory(REPO / "inventory" / "example").device(name)
    dev = dev.model_copy(update={"username_env": "CORE1_USER", "password_env": "CORE1_PASS"})
    return NapalmDriver(dev, network_driver=offline)


@pytest.mark.parametrize(("platform", "acls"), [(Platform.IOS, SHOW_IOS), (Platform.EOS, SHOW_EOS)],
                         ids=["ios", "eos"])
def test_the_spam_acl_deny_hits_count_for_its_enforcement_and_the_operators_entries_do_not(
        platform, acls, monkeypatch):
    with _napalm(platform, acls, monkeypatch) as driver:
        counts = driver.get_counters()
    # entry 20 of ENFORCER-ACL-V4 follows the remark "101 spam": its 1543 hits are enforcement 101's;
    # the final permit, and MGMT-IN's deny (the operator's), belong to no enforcement
    assert counts == {101: Counter(packets=1543, bytes=0)}


def test_an_entry_shared_by_several_enforcements_counts_for_each_and_a_foreign_remark_ends_the_block():
    running = """\
ip access-list extended ENFORCER-ACL-V4
 10 remark 7+9 spam
 20 deny   tcp host 203.0.113.10 any eq smtp
 30 deny   tcp host 203.0.113.10 any eq submission
 40 remark operator's own
 50 deny   ip host 192.0.2.66 any
 1000000 permit ip any any
"""
    assert entry_owners(running) == {("ENFORCER-ACL-V4", 20): [7, 9], ("ENFORCER-ACL-V4", 30): [7, 9]}
    shown = """\
Extended IP access list ENFORCER-ACL-V4
    20 deny tcp host 203.0.113.10 any eq smtp (40 matches)
    30 deny tcp host 203.0.113.10 any eq submission (2 matches)
    50 deny ip host 192.0.2.66 any (700 matches)
    1000000 permit ip any any (9000 matches)
"""
    assert acl_counters(Platform.IOS, running, shown) == {7: Counter(packets=42), 9: Counter(packets=42)}


def test_a_platform_without_acl_counters_gives_no_figure():
    name, _ = EDGE[Platform.JUNOS]
    dev = load_inventory(REPO / "inventory" / "example").device(name)
    assert NapalmDriver(dev).get_counters() == {}  # no session opened: nothing to read, no zero claimed
