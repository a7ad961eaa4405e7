"""Golden renders for every platform × action × address family, and the contracts around them.

Each case builds enforcements with ``model.Enforcement`` against the example inventory's edge
device for the platform, renders the managed section, and compares it with
``tests/golden/<platform>/<case>.txt``. A template change shows up as a reviewed diff of those
files: regenerate them with ``ENFORCER_REGEN_GOLDEN=1 .venv/bin/pytest tests/test_templates.py``
and read the diff before committing.

FRR goldens are syntax-checked with ``vtysh -C``; nftables goldens with ``nft -c`` and a
load-and-list round trip in a scratch network namespace (root only: marked ``lab``).
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from enforcer.drivers.base import extract_managed
from enforcer.drivers.linux import normalize
from enforcer.inventory import Device, Inventory, Platform, load_inventory
from enforcer.model import ActionKind, ActionParams, Enforcement
from enforcer.render import build_section, platform_info, render_push, render_section

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("ENFORCER_REGEN_GOLDEN") == "1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

#: The example inventory's customer-facing device for each platform this suite covers.
EDGE = {
    Platform.IOS: "ios-edge1",
    Platform.IOSXR: "iosxr-edge1",
    Platform.JUNOS: "junos-edge1",
    Platform.EOS: "eos-edge1",
    Platform.NXOS: "nxos-edge1",
    Platform.FRR: "frr-edge1",
    Platform.NFTABLES: "linux-edge1",
}
PLATFORMS = list(EDGE)

#: Config a device holds that enforcer does not own, put before a render to check extraction.
UNMANAGED = {
    "ios": "hostname ios-edge1\n!\ninterface GigabitEthernet0/0/1\n description customer acme\n"
    " ip address 192.0.2.102 255.255.255.252\n!\nrouter bgp 65000\n neighbor 192.0.2.101 remote-as 64500\n"
    " address-family ipv4\n  neighbor 192.0.2.101 activate\n exit-address-family\n!\n"
    "ip route 0.0.0.0 0.0.0.0 192.0.2.98\nip access-list extended MGMT\n permit ip 192.0.2.0 0.0.0.255 any\n!\n",
    "iosxr": "hostname iosxr-edge1\n!\ninterface GigabitEthernet0/0/0/1\n ipv4 address 192.0.2.118 255.255.255.252\n!\n"
    "router static\n address-family ipv4 unicast\n  0.0.0.0/0 192.0.2.98\n !\n!\n"
    "route-policy PASS\n  pass\nend-policy\n!\nprefix-set MARTIANS\n  10.0.0.0/8 le 32\nend-set\n!\n",
    "junos": "set system host-name junos-edge1\nset interfaces ge-0/0/1 unit 0 family inet address 192.0.2.106/30\n"
    "set routing-options static route 0.0.0.0/0 next-hop 192.0.2.98\n"
    "set protocols bgp group CUSTOMERS neighbor 192.0.2.105 peer-as 64500\n",
    "eos": "hostname eos-edge1\n!\ninterface Ethernet1\n   no switchport\n   ip address 192.0.2.114/30\n!\n"
    "ip route 0.0.0.0/0 192.0.2.98\n!\nrouter bgp 65000\n   neighbor 192.0.2.113 remote-as 64500\n!\n",
    "nxos": "hostname nxos-edge1\n!\ninterface Ethernet1/1\n  no switchport\n  ip address 192.0.2.122/30\n!\n"
    "router bgp 65000\n  neighbor 192.0.2.121\n    remote-as 64501\n    address-family ipv4 unicast\n!\n",
    "frr": (REPO / "inventory/example/snapshots/frr-edge1.conf").read_text(),
    "nftables": "table inet filter {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
    "\t\tct state established,related accept\n\t}\n}\ntable ip nat {\n\tchain postrouting {\n"
    "\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n}\n",
}


# ------------------------------------------------------------------ building enforcements


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(REPO / "inventory" / "example")


def enforcement(eid: int, action: ActionKind | str, target: str, **kw) -> Enforcement:
    """One enforcement as the store would hand it over, created at T0, expiring a day later."""
    kw.setdefault("violation", "spam")
    kw.setdefault("comment", f"ticket {eid}")
    return Enforcement(
        id=eid, decision_id=eid, action=ActionKind(action), target=ip_network(target), created_at=T0,
        expires_at=T0 + timedelta(days=1), **kw,
    )


def _attached(inv: Inventory, device: Device, need: str, family: int) -> str:
    """A customer attached to ``device`` with a ``need`` (interface/neighbor), one with prefixes of
    ``family`` first; any customer when none is (the action then has nothing to apply to)."""
    found = [c for c in inv.customers.values()
             if any(a.device == device.name and getattr(a, need) is not None for a in c.attachments)]
    found = found or list(inv.customers.values())
    return next((c.id for c in found if any(p.version == family for p in c.prefixes)), found[0].id)


def cases(inv: Inventory, device: Device, action: ActionKind, family: int) -> list[Enforcement]:
    """The enforcements behind golden ``<action>-v<family>``: realistic, and exercising variants."""
    v4 = family == 4
    match action:
        case ActionKind.ACL:
            return [
                enforcement(101, action, "198.51.100.20" if v4 else "2001:db8:100::20",
                            params=ActionParams(protocol="tcp", ports=(25, 465))),
                enforcement(102, action, "203.0.113.64/26" if v4 else "2001:db8:200::/64", violation="scanning",
                            params=ActionParams(direction="destination")),
                enforcement(103, action, "198.51.100.23" if v4 else "2001:db8:100::23", violation="ddos-outbound",
                            params=ActionParams(protocol="icmp")),
            ]
        case ActionKind.NULL_ROUTE:
            return [enforcement(201, action, "203.0.113.7" if v4 else "2001:db8:200::7", violation="malware-hosting")]
        case ActionKind.RTBH:
            return [enforcement(301, action, "203.0.113.9" if v4 else "2001:db8:200::9", violation="ddos-victim")]
        case ActionKind.RATE_LIMIT:
            return [enforcement(401, action, "198.51.100.30" if v4 else "2001:db8:100::30",
                                violation="excessive-bandwidth",
                                params=ActionParams(rate_bps=10_000_000 if v4 else 1_000_000_000,
                                                    burst_bytes=1_250_000 if v4 else 2 * 1024 * 1024))]
        case ActionKind.PREFIX_FILTER:
            customer = _attached(inv, device, "neighbor", family)
            return [enforcement(501, action, "203.0.113.128/25" if v4 else "2001:db8:300::/48",
                                violation="bgp-hijack", customer=customer)]
        case ActionKind.ANTI_SPOOF:
            customer = _attached(inv, device, "interface", family)
            own = [p for p in inv.customers[customer].prefixes if p.version == family]
            target = str(own[0]) if own else ("192.0.2.200/29" if v4 else "2001:db8:ffff::/64")
            return [enforcement(601, action, target, violation="spoofing", customer=customer)]
    raise AssertionError(action)


def render(inv: Inventory, device: Device, enforcements: list[Enforcement]) -> str:
    return render_section(build_section(device, enforcements, inv, at=T0))


def golden_cases() -> list[tuple[Platform, ActionKind, int]]:
    return [
        (p, a, f)
        for p in PLATFORMS
        for a in platform_info(p).actions
        for f in (4, 6)
    ]


def check_golden(path: Path, text: str) -> None:
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with ENFORCER_REGEN_GOLDEN=1 and review the new file"
    expected = path.read_text()
    assert text == expected, "render differs from golden:\n" + "".join(
        difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "render")
    )


# ------------------------------------------------------------------ goldens


@pytest.mark.parametrize(("platform", "action", "family"), golden_cases(),
                         ids=lambda v: str(v) if not isinstance(v, int) else f"v{v}")
def test_each_action_renders_as_its_golden(inventory, platform, action, family):
    device = inventory.device(EDGE[platform])
    text = render(inventory, device, cases(inventory, device, action, family))
    assert text, "a supported action rendered nothing"
    check_golden(GOLDEN / platform.value / f"{action.value}-v{family}.txt", text)


def all_actions(inventory: Inventory, device: Device) -> list[Enforcement]:
    out: list[Enforcement] = []
    for action in ActionKind:
        for family in (4, 6):
            for e in cases(inventory, device, action, family):
                out.append(e.model_copy(update={"id": e.id * 10 + family, "decision_id": e.id * 10 + family}))
    return out


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_every_action_together_renders_as_the_all_golden(inventory, platform):
    device = inventory.device(EDGE[platform])
    section = build_section(device, all_actions(inventory, device), inventory, at=T0)
    unsupported = {a for _, a in section.unsupported}
    assert unsupported <= set(ActionKind) - set(platform_info(platform).actions)
    check_golden(GOLDEN / platform.value / "all.txt", render_section(section))


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_every_platform_can_null_route(platform):
    """The NOC's first tool (`enforcer block X --violation malware-hosting`) works everywhere."""
    assert ActionKind.NULL_ROUTE in platform_info(platform).actions


def test_frr_offers_no_data_plane_actions():
    """FRR is a control plane: the Linux box under it (nftables) does ACLs, policers, anti-spoof."""
    actions = set(platform_info(Platform.FRR).actions)
    assert actions.isdisjoint({ActionKind.ACL, ActionKind.RATE_LIMIT, ActionKind.ANTI_SPOOF})
    assert {ActionKind.ACL, ActionKind.RATE_LIMIT, ActionKind.ANTI_SPOOF} <= set(
        platform_info(Platform.NFTABLES).actions
    )


# ------------------------------------------------------------------ section contracts


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_live_config_yields_exactly_the_rendered_section(inventory, platform):
    """extract_managed(device config) == render: the plan diffs a live section against a render."""
    device = inventory.device(EDGE[platform])
    rendered = render(inventory, device, all_actions(inventory, device))
    info = platform_info(platform)
    assert extract_managed(UNMANAGED[platform.value] + rendered, info) == rendered
    assert extract_managed(UNMANAGED[platform.value], info) == ""


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_empty_section(inventory, platform):
    """Nothing to enforce: line platforms own no lines; nftables keeps an empty table (documented)."""
    device = inventory.device(EDGE[platform])
    expected = "table inet enforcer {\n}\n" if platform is Platform.NFTABLES else ""
    assert render(inventory, device, []) == expected
    expired = enforcement(900, "null-route", "203.0.113.7", violation="malware-hosting")
    expired = expired.model_copy(update={"expires_at": T0 - timedelta(seconds=1)})
    assert render(inventory, device, [expired]) == expected


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_removing_an_enforcement_removes_only_its_lines(inventory, platform):
    device = inventory.device(EDGE[platform])
    keep = enforcement(201, "null-route", "203.0.113.7", violation="malware-hosting")
    gone = enforcement(202, "null-route", "2001:db8:200::7", violation="malware-hosting")
    before = render(inventory, device, [keep, gone])
    after = render(inventory, device, [keep])
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    added = [d[2:] for d in diff if d.startswith("+ ")]
    removed = [d[2:] for d in diff if d.startswith("- ")]
    assert added == []
    assert removed and any("2001:db8:200::7" in r.lower() for r in removed)
    assert "2001:db8:200::7" not in after.lower() and "203.0.113.7" in after


# ------------------------------------------------------------------ push candidates


def push_from(inventory, platform, live_enf, want_enf) -> tuple[str, str, str]:
    device = inventory.device(EDGE[platform])
    live, want = render(inventory, device, live_enf), render(inventory, device, want_enf)
    removed = [d[2:] for d in difflib.ndiff(live.splitlines(), want.splitlines()) if d.startswith("- ")]
    return live, want, render_push(device, want, live, removed)


NULL_A = enforcement(201, "null-route", "203.0.113.7", violation="malware-hosting")
NULL_B = enforcement(202, "null-route", "203.0.113.8", violation="malware-hosting")


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (Platform.FRR, "no ip route 203.0.113.7/32 Null0 tag 667\n"),
        (Platform.IOS, "no ip route 203.0.113.7 255.255.255.255 Null0 name ENFORCER-201 tag 667\n"),
        (Platform.EOS, "no ip route 203.0.113.7/32 Null0 tag 667 name ENFORCER-201\n"),
        (Platform.NXOS, "no ip route 203.0.113.7/32 Null0 tag 667 name ENFORCER-201\n"),
        (Platform.IOSXR, "router static\n address-family ipv4 unicast\n  no 203.0.113.7/32 Null0 tag 667 "
                         "description ENFORCER-201\n"),
        (Platform.JUNOS, "delete groups ENFORCER routing-options static route 203.0.113.7/32\n"),
    ],
    ids=str,
)
def test_unblock_negates_exactly_the_route_in_its_context(inventory, platform, expected):
    _, _, push = push_from(inventory, platform, [NULL_A, NULL_B], [NULL_B])
    assert push == expected


@pytest.mark.parametrize("platform", [Platform.FRR, Platform.IOS, Platform.JUNOS, Platform.EOS], ids=str)
def test_block_adds_only_the_new_lines(inventory, platform):
    live, want, push = push_from(inventory, platform, [NULL_B], [NULL_A, NULL_B])
    added = [ln for ln in want.splitlines() if ln not in live.splitlines()]
    assert push.splitlines() == added


def test_frr_never_negates_the_context_it_only_enters(inventory):
    """The last prefix filter goes: negate the neighbor line under router bgp, never the router."""
    device = inventory.device(EDGE[Platform.FRR])
    hijack = cases(inventory, device, ActionKind.PREFIX_FILTER, 4)
    live, want, push = push_from(inventory, Platform.FRR, hijack, [])
    assert want == ""
    assert "router bgp 65000" in live
    lines = push.splitlines()
    assert "no router bgp 65000" not in push and not any(ln.strip().startswith("no exit") for ln in lines)
    assert lines[:3] == ["router bgp 65000", " address-family ipv4 unicast",
                         "  no neighbor 192.0.2.109 prefix-list ENFORCER-HIJACK-acme-V4 in"]
    assert "no ip prefix-list ENFORCER-HIJACK-acme-V4 seq 10 deny 203.0.113.128/25 le 32" in lines


def push_numbered(inventory, platform, live_enf, want_enf) -> tuple[str, str, str]:
    """As a plan does it: the desired section is numbered against the live one."""
    device = inventory.device(EDGE[platform])
    live = render(inventory, device, live_enf)
    want = render_section(build_section(device, want_enf, inventory, at=T0), live=live)
    return live, want, render_push(device, want, live, [])


@pytest.mark.parametrize(("platform", "acl"), [(Platform.IOS, "ip access-list extended ENFORCER-ACL-V4"),
                                               (Platform.EOS, "ip access-list ENFORCER-ACL-V4"),
                                               (Platform.NXOS, "ip access-list ENFORCER-ACL-V4"),
                                               (Platform.IOSXR, "ipv4 access-list ENFORCER-ACL-V4")], ids=str)
def test_acl_change_is_entry_by_entry_and_the_new_deny_lands_before_the_permit(inventory, platform, acl):
    """Never `no ip access-list` + rebuild: the live entries keep their numbers, the new ones
    are numbered between the last deny and the final permit, nothing is negated."""
    first, second, third = cases(inventory, inventory.device(EDGE[platform]), ActionKind.ACL, 4)
    live, want, push = push_numbered(inventory, platform, [first, second], [first, second, third])
    lines = push.splitlines()
    assert not any(ln.strip().startswith("no ") for ln in lines), push
    assert lines[0] == acl
    numbers = [int(ln.split()[0]) for ln in lines[1:]]
    old = [int(ln.split()[0]) for ln in live.splitlines() if ln.startswith(" ") and ln.split()[0].isdigit()]
    permit = max(old)
    assert all(n not in old and n < permit for n in numbers) and numbers == sorted(numbers)
    assert len(lines) == 3 and "remark 103" in lines[1]


def test_unblock_of_an_acl_entry_negates_only_its_entries(inventory):
    first, second = cases(inventory, inventory.device("ios-edge1"), ActionKind.ACL, 4)[:2]
    live, want, push = push_numbered(inventory, Platform.IOS, [first, second], [first])
    gone = [ln.strip() for ln in live.splitlines() if ln not in want.splitlines()]
    assert push.splitlines() == ["ip access-list extended ENFORCER-ACL-V4"] + [" no " + g for g in gone]
    assert all("remark 102" in g or "203.0.113.64" in g for g in gone)


@pytest.mark.parametrize(("platform", "obj", "ref"), [
    (Platform.FRR, "ip prefix-list ENFORCER-HIJACK-acme-V4 seq 10 deny", "neighbor 192.0.2.109 prefix-list"),
    (Platform.IOS, "ip prefix-list ENFORCER-HIJACK-acme-V4 seq 10 deny", "neighbor 192.0.2.101 prefix-list"),
    (Platform.NXOS, "ip prefix-list ENFORCER-HIJACK-globex-V4 seq 10 deny", "prefix-list ENFORCER-HIJACK"),
    (Platform.EOS, "ip prefix-list ENFORCER-HIJACK-acme-V4", "neighbor 192.0.2.113 prefix-list"),
], ids=str)
def test_prefix_list_exists_before_the_neighbour_references_it_and_goes_after(inventory, platform, obj, ref):
    """Bound before it exists, an empty prefix-list denies everything: the customer's legitimate
    routes were withdrawn (issue 9, against GoBGP). Unbound after it is gone, the same."""
    hijack = cases(inventory, inventory.device(EDGE[platform]), ActionKind.PREFIX_FILTER, 4)
    _, _, push = push_from(inventory, platform, [], hijack)
    lines = [ln.strip() for ln in push.splitlines()]
    at = lambda text: next(i for i, ln in enumerate(lines) if ln.startswith(text))  # noqa: E731
    assert at(obj) < at(ref)
    _, _, push = push_from(inventory, platform, hijack, [])
    lines = [ln.strip() for ln in push.splitlines()]
    assert at("no " + ref) < at("no " + obj)


def test_acl_exists_before_the_interface_binds_it(inventory):
    """The first push used to bind `ip access-group` before the ACL existed."""
    rules = cases(inventory, inventory.device("ios-edge1"), ActionKind.ACL, 4)
    _, _, push = push_from(inventory, Platform.IOS, [], rules)
    lines = push.splitlines()
    assert lines.index("ip access-list extended ENFORCER-ACL-V4") < lines.index(" ip access-group ENFORCER-ACL-V4 in")
    _, _, push = push_from(inventory, Platform.IOS, rules, [])
    lines = push.splitlines()
    assert lines.index(" no ip access-group ENFORCER-ACL-V4 in") < lines.index("no ip access-list extended ENFORCER-ACL-V4")


def test_moving_an_interface_to_another_acl_never_unbinds_it(inventory):
    """Anti-spoof arrives on an interface that has the plain ACL: stating the new access-group
    replaces the old one; negating the old one afterwards would leave the interface unfiltered."""
    device = inventory.device("ios-edge1")
    rules = cases(inventory, device, ActionKind.ACL, 4)
    spoof = cases(inventory, device, ActionKind.ANTI_SPOOF, 4)
    _, _, push = push_from(inventory, Platform.IOS, rules, rules + spoof)
    assert "no ip access-group" not in push
    assert " ip access-group ENFORCER-AS-acme-V4 in" in push.splitlines()


def test_iosxr_prefix_set_is_restated_whole_with_its_end_set(inventory):
    """RPL sets are edited whole: restating one replaces it in the same commit, never deleted first."""
    device = inventory.device(EDGE[Platform.IOSXR])
    one = cases(inventory, device, ActionKind.PREFIX_FILTER, 4)
    two = one + [enforcement(502, "prefix-filter", "198.51.100.0/25", violation="bgp-hijack",
                             customer=one[0].customer)]
    _, _, push = push_from(inventory, Platform.IOSXR, one, two)
    lines = push.splitlines()
    assert "no prefix-set ENFORCER-HIJACK-globex-V4" not in lines
    i = lines.index("prefix-set ENFORCER-HIJACK-globex-V4")
    assert lines[i:i + 5] == ["prefix-set ENFORCER-HIJACK-globex-V4", "  # 501+502 globex hijack",
                              "  198.51.100.0/25 le 32,", "  203.0.113.128/25 le 32", "end-set"]


def test_nftables_push_empties_the_table_in_place_and_restates_it(inventory):
    """A change beyond elements (here a rule leaves with its set): the kept set is flushed, never
    deleted, and the table restated: deleting the table lets packets through (enforcer/nftables.py)."""
    acl = enforcement(504, "acl", "203.0.113.9/32", violation="scanning", params={"protocol": "tcp", "ports": [25]})
    live, want, push = push_from(inventory, Platform.NFTABLES, [NULL_A, NULL_B, acl], [NULL_B])
    assert push == ("table inet enforcer\nflush table inet enforcer\ndelete set inet enforcer acl-src-tcp-25-v4\n"
                    "flush set inet enforcer null-v4\n" + want)
    assert "203.0.113.7" not in push


def test_nftables_push_of_an_unblock_and_a_block_is_those_two_elements_alone(inventory):
    """Only elements differ: ``delete element`` and ``add element`` in one transaction, no flush, no
    restatement — nothing the set keeps is removed, so nothing lapses (enforcer/nftables.py)."""
    null_c = enforcement(203, "null-route", "203.0.113.10", violation="malware-hosting")
    _, want, push = push_from(inventory, Platform.NFTABLES, [NULL_A, NULL_B], [NULL_B, null_c])
    assert push == ("delete element inet enforcer null-v4 { 203.0.113.7 }\n"
                    'add element inet enforcer null-v4 { 203.0.113.10 counter comment "203 malware-hosting ticket 203" }\n')


def test_nftables_push_deletes_only_the_objects_the_new_table_drops(inventory):
    acl = enforcement(503, "acl", "203.0.113.9/32", violation="scanning", params={"protocol": "tcp", "ports": [22]})
    _, want, push = push_from(inventory, Platform.NFTABLES, [NULL_A, acl], [NULL_A])
    head = push[: push.index(want)].splitlines()
    assert head == ["table inet enforcer", "flush table inet enforcer", "delete set inet enforcer acl-src-tcp-22-v4",
                    "flush set inet enforcer null-v4"]


def test_nftables_first_push_creates_the_table(inventory):
    """Nothing was enforced before the table existed: the create-and-delete head cannot lapse anything."""
    device = inventory.device(EDGE[Platform.NFTABLES])
    want = render(inventory, device, [NULL_A])
    push = render_push(device, want, "", [])
    assert push == "table inet enforcer\ndelete table inet enforcer\n" + want


# ------------------------------------------------------------------ syntax checks on the real tools


def frr_goldens() -> list[Path]:
    return sorted((GOLDEN / "frr").glob("*.txt"))


def test_frr_goldens_pass_vtysh_syntax_check(tmp_path):
    (tmp_path / "vtysh.conf").write_text("")
    files = frr_goldens()
    assert len(files) == 7  # 3 actions × 2 families + all
    for path in files:
        r = subprocess.run(["vtysh", "--config_dir", str(tmp_path), "-C", "-f", str(path)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{path.name}: {r.stdout}{r.stderr}"
    bad = tmp_path / "bad.conf"
    bad.write_text("ip route 203.0.113.7/32 Null0 tag 667\nip route 203.0.113.8/33 Null0\n")
    r = subprocess.run(["vtysh", "--config_dir", str(tmp_path), "-C", "-f", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, "vtysh -C accepted a bad line: the check above proves nothing"


@pytest.fixture
def netns():
    """A scratch network namespace with a unique name; removed afterwards."""
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.fail("needs root and nft (run lab tests as root, or deselect with -m 'not lab')")
    name = f"enfgold-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def nft(ns: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


@pytest.mark.lab
def test_nftables_goldens_pass_nft_check(netns):
    files = sorted((GOLDEN / "nftables").glob("*.txt"))
    assert len(files) == 9  # 4 actions × 2 families + all
    for path in files:
        r = nft(netns, "-c", "-f", str(path))
        assert r.returncode == 0, f"{path.name}: {r.stderr}"


@pytest.mark.lab
def test_nftables_render_loads_and_lists_back_identically(inventory, netns, tmp_path):
    """The render is nft's own listing: load it, list it, extract it — the same text, so drift
    detection never reports a difference that is only spelling. Then push changes and shrink."""
    device = inventory.device(EDGE[Platform.NFTABLES])
    everything = all_actions(inventory, device) + [
        enforcement(700 + i, "acl", f"198.51.100.{40 + i}") for i in range(5)
    ] + [
        enforcement(710, "acl", "198.51.100.40/30"),  # covers .40-.43: they drop out of the set
        enforcement(711, "rate-limit", "203.0.113.99", params=ActionParams(rate_bps=8 * 1024 ** 3)),
        enforcement(712, "null-route", "2001:db8:200::/48", violation="malware-hosting"),
        enforcement(713, "null-route", "2001:db8:200::1", violation="malware-hosting"),
    ]
    info = platform_info(Platform.NFTABLES)
    assert nft(netns, "-f", "-", stdin=UNMANAGED["nftables"]).returncode == 0
    live = ""
    for enforcements in (everything, everything[:6], everything[6:9], []):
        want = render(inventory, device, enforcements)
        removed = [d[2:] for d in difflib.ndiff(live.splitlines(), want.splitlines()) if d.startswith("- ")]
        candidate = tmp_path / "candidate.nft"
        candidate.write_text(render_push(device, want, live, removed))
        r = nft(netns, "-f", str(candidate))
        assert r.returncode == 0, r.stderr
        listing = nft(netns, "list", "ruleset").stdout
        live = extract_managed(normalize(listing), info)  # the driver's view: counters' numbers left out
        assert live == want, "".join(difflib.unified_diff(want.splitlines(True), live.splitlines(True)))
        assert "table inet filter" in listing, "the push touched a table enforcer does not own"


@pytest.mark.parametrize("platform", [Platform.IOS, Platform.IOSXR, Platform.EOS, Platform.NXOS, Platform.JUNOS],
                         ids=str)
def test_anti_spoof_keeps_the_customers_bgp_session_up(inventory, platform):
    """The customer's router speaks BGP from its interconnect address, outside its own prefixes:
    anti-spoof permits it (issue 9: the session dropped), and still drops other sources."""
    device = inventory.device(EDGE[platform])
    spoof = cases(inventory, device, ActionKind.ANTI_SPOOF, 4)
    att = inventory.attachment(spoof[0].customer, device.name)
    # the interconnect subnet where the inventory gives one (it holds the neighbour), else the neighbour
    held = next((p for p in att.interconnect if p.version == 4), None)
    lines = render(inventory, device, spoof).splitlines()
    spelt = {str(att.neighbor)} if held is None else {str(held), f"{held.network_address} {held.hostmask}"}
    keep = [ln for ln in lines if any(s in ln for s in spelt)]
    assert keep and all(("permit" in ln or "except" in ln) for ln in keep)
    assert not any(ln.strip().endswith(("permit ip any any", "permit ipv4 any any")) for ln in lines)


def test_the_interfaces_a_prediction_creates_are_the_tables_bindings_not_words_in_a_comment():
    """A reason such as "infected device 10.1.2.3/32" reached the interface scan through its comment, and
    the prediction tried ``ip link add 10.1.2.3/32``, failing for as long as the block was active."""
    from enforcer.drivers.linux import bound_interfaces

    listing = ('table inet enforcer {\n\tchain input {\n\t\ttype filter hook ingress device "eth-c1" priority 0;\n'
               '\t\tiif "eth-up" ip saddr 203.0.113.9 counter drop comment "infected device 10.1.2.3/32"\n'
               '\t\tip saddr 203.0.113.10 drop comment "device customer-gateway-number-01"\n\t}\n}\n')
    assert bound_interfaces(listing) == ["eth-c1", "eth-up"]
