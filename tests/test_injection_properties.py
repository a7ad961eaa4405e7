"""Property tests: no reason, customer name, interface name, description or community, however
hostile, adds a line to a device config or changes anything outside enforcer's own objects.

Hypothesis draws the five values (arbitrary Unicode, the characters each field allows, and known
payloads) for every one of the eight platforms. Each value first meets its boundary, as intake and
the inventory loader would (``Decision``, ``Customer``, ``Attachment``, ``Community``): a refused
value must be refused in one line naming the field. An accepted value goes to the device's render,
which must equal the render of harmless placeholders with each placeholder replaced by the value
(sanitised, for the reason) — same lines, nothing added, nothing split — and every line of that
render, and of the push candidates that add and remove it, must be enforcer's own.

The examples really run: the test counts them and asserts the count (:data:`EXAMPLES`, 10,000
unless ``ENFORCER_FUZZ_EXAMPLES`` says otherwise), each example checked on all eight platforms
(Hypothesis' own cost, about half of an example's, is paid once for the eight); ``derandomize``
fixes the seed, so CI runs the same examples every time. An example fuzzes one field (or all of
them) and renders only actions that print it, and an input that renders like one already
checked is not rendered twice: the whole file costs 2 to 2.5 minutes of one core (134–148 s CPU,
docs/benchmarks.md). The push checks, slow templates, run on a fixed eighth of the all-field
examples.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, replace
from functools import cache

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from enforcer.drivers.base import extract_managed
from enforcer.inventory import Attachment, Customer, Device, Inventory, Platform, load_inventory
from enforcer.model import (
    ActionKind,
    Community,
    Decision,
    Enforcement,
    safe_comment,
    validation_error_to_invalid,
)
from enforcer.render import build_section, platform_info, render_push, render_section
from tests.test_injection import PAYLOADS
from tests.test_templates import EDGE, REPO, T0, UNMANAGED

EXAMPLES = int(os.environ.get("ENFORCER_FUZZ_EXAMPLES", "10000"))
DEVICES = {**EDGE, Platform.OPENFLOW: "of-edge1"}
#: An operator's flow as ``ovs-ofctl dump-flows`` prints it (the other platforms' live configs are
#: in tests/test_templates.py).
OPERATOR = {**UNMANAGED, "openflow": " cookie=0x0, duration=1234.567s, table=0, n_packets=12, n_bytes=936, "
                                     "priority=0 actions=NORMAL\n"}
#: How FRR spells a well-known community (``show running-config``); every other platform prints ASN:VALUE.
FRR_WELL_KNOWN = {(65535, 0): "graceful-shutdown", (65535, 1): "accept-own", (65535, 666): "blackhole",
                  (65535, 65281): "no-export", (65535, 65282): "no-advertise", (65535, 65283): "local-AS",
                  (65535, 65284): "no-peer"}

# ------------------------------------------------------------------ what Hypothesis draws

_HOSTILE = st.sampled_from(PAYLOADS + ["ENFORCER", "a\n", "a\r", "a\u2028b", "a\x85", "a\x0b", " ", "-", "."])
#: Characters a field allows, and those an attacker tries (line breaks, quotes, separators of
#: every platform's syntax): a text over both finds the edges of each pattern.
_EDGES = "\n\r\t\x0b\x0c\x85\u2028\x00\x1b \"'`$;#!{}[](),|&<>*?\\%~^"
_NAME_CHARS = "abcXYZ019_.:@-"
_IFACE_CHARS = "aeGgXx019_./:-"
_ANY = st.text(max_size=24)
REASONS = st.one_of(_ANY, _HOSTILE, st.text(alphabet="aZ09 ._:/@+=-" + _EDGES, max_size=60))
NAMES = st.one_of(st.text(alphabet=_NAME_CHARS, min_size=1, max_size=12),
                  st.text(alphabet=_NAME_CHARS + _EDGES, max_size=12), _HOSTILE, _ANY)
DESCRIPTIONS = st.one_of(_ANY, _HOSTILE)
INTERFACES = st.one_of(
    st.text(alphabet=_IFACE_CHARS, min_size=1, max_size=16).map(lambda t: "x" + t),
    st.sampled_from(["GigabitEthernet0/0/1.100", "ge-0/0/1.0", "xe-0/0/0:1.5", "Ethernet1/1", "eth1.10", "port3"]),
    st.text(alphabet=_IFACE_CHARS + _EDGES, max_size=16),
    _HOSTILE, _ANY,
)
COMMUNITIES = st.one_of(
    st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
    st.sampled_from([f"{a}:{v}" for a, v in FRR_WELL_KNOWN] + ["65536:1", "1:65536", "-1:0", " 1:2 ", "1:2:3"]),
    st.text(alphabet="0123456789: " + _EDGES, max_size=12),
)


@dataclass(frozen=True)
class Values:
    """One example's inputs: ``ifaces`` are the device's two customer-facing interfaces and the
    customer's attachment (used only when ``facing`` is false: else it attaches on the first).
    ``slot`` names the field fuzzed (the others keep realistic values) and, with ``pick``, which
    actions each platform renders; ``actions`` is filled in per platform."""

    slot: str
    pick: int
    reason: str = "ticket 4711"
    customer: str = "acme"
    description: str = "ACME Hosting"
    ifaces: tuple[str, str, str] = ("Ethernet1", "Ethernet2", "Ethernet3")
    facing: bool = False
    community: str = "65535:666"
    actions: frozenset[ActionKind] = frozenset()


#: The actions whose render prints each field: an example renders one of them (a small render is a
#: fast example); "all" fuzzes every field at once over two of the platform's actions.
SLOTS: dict[str, tuple[ActionKind, ...]] = {
    "reason": (ActionKind.ACL, ActionKind.RATE_LIMIT, ActionKind.PREFIX_FILTER),
    "customer": (ActionKind.PREFIX_FILTER, ActionKind.ANTI_SPOOF),
    "description": (ActionKind.PREFIX_FILTER, ActionKind.ANTI_SPOOF),
    "ifaces": (ActionKind.ANTI_SPOOF, ActionKind.ACL, ActionKind.RATE_LIMIT),
    "community": (ActionKind.RTBH,),
    "all": tuple(ActionKind),
}


def actions_for(platform: Platform, v: Values) -> frozenset[ActionKind]:
    supported = platform_info(platform).actions
    options = [a for a in SLOTS[v.slot] if a in supported] or [ActionKind.NULL_ROUTE]
    if v.slot == "all":  # two actions: every pair over the examples, in a render still small
        first, second = v.pick % len(options), v.pick // len(options) % len(options)
        return frozenset({options[first], options[second]})
    return frozenset({options[v.pick % len(options)]})


@st.composite
def values(draw) -> Values:
    """One field fuzzed (or all of them), the others realistic."""
    slot = draw(st.sampled_from(list(SLOTS)))
    fuzz: dict = {"pick": draw(st.integers(0, 63))}
    if slot in ("reason", "all"):
        fuzz["reason"] = draw(REASONS)
    if slot in ("customer", "all"):
        fuzz["customer"] = draw(NAMES)
    if slot in ("description", "all"):
        fuzz["description"] = draw(DESCRIPTIONS)
    if slot in ("ifaces", "all"):
        fuzz["ifaces"] = (draw(INTERFACES), "Ethernet2", draw(INTERFACES))
        fuzz["facing"] = draw(st.booleans())
    if slot in ("community", "all"):
        fuzz["community"] = draw(COMMUNITIES)
    return Values(slot, **fuzz)


# ------------------------------------------------------------------ the boundaries


def admitted(field: str, check, value: str) -> bool:
    """Whether the boundary accepts ``value``; a refusal must be one line naming ``field``."""
    try:
        check(value)
    except ValidationError as exc:
        refusal = str(validation_error_to_invalid(exc))
        assert refusal.startswith(field) and "\n" not in refusal, refusal
        return False
    return True


def _reason(v: str) -> None:
    Decision.model_validate({"target": "203.0.113.7", "violation": "spam", "reason": v})


def _customer(v: str) -> None:
    Customer.model_validate({"id": v})


def _description(v: str) -> None:
    Customer.model_validate({"id": "acme", "name": v})


def _interface(v: str) -> None:
    Attachment.model_validate({"device": "edge1", "interface": v})


def _community(v: str) -> None:
    Community.model_validate(v)


#: One token on every platform's command line: the characters finalize lets a name print.
WORD = re.compile(r"[A-Za-z0-9._:/@+=-]+")
#: Placeholders: letters and digits only, none a part of another, none in any template.
CUSTOMER, DESCRIPTION, REASON, COMMUNITY = "zqcx", "zqdx", "zqrx", "64999:999"


def piece_token(i: int, j: int) -> str:
    """The placeholder of part ``j`` of interface ``i``: a unit (after the dot) is a number."""
    return f"zq{i}p{j}x" if j == 0 else f"97531{i}{j}"


def iface_token(i: int, value: str) -> str:
    """A placeholder with the value's dotted shape: Junos splits ``ge-0/0/1.100`` into interface and unit."""
    return ".".join(piece_token(i, j) for j, _ in enumerate(value.split(".")))


# ------------------------------------------------------------------ one device's render


@cache
def example_inventory() -> Inventory:
    return load_inventory(REPO / "inventory" / "example")


@cache
def device_with(platform: Platform, interfaces: tuple[str, str]) -> Device:
    """The example's device for ``platform``, facing customers on ``interfaces`` (validated as the loader would)."""
    base = example_inventory().device(DEVICES[platform])
    return Device.model_validate({**base.model_dump(), "attach_interfaces": list(interfaces)})


def scenario(platform: Platform, v: Values) -> tuple[Device, Inventory, list[Enforcement]]:
    """The device with ``v``'s interfaces, one customer attached to it, one enforcement per action."""
    device = device_with(platform, v.ifaces[:2])
    customer = Customer.model_validate({
        "id": v.customer, "name": v.description, "asn": 64500,
        "prefixes": ["198.51.100.0/25", "2001:db8:100::/48"],
        "attachments": [{"device": device.name, "interface": v.ifaces[0] if v.facing else v.ifaces[2],
                         "neighbor": "192.0.2.101"}],
    })
    inventory = Inventory(devices={device.name: device}, customers={customer.id: customer})
    comment = Decision.model_validate({"target": "203.0.113.7", "violation": "spam", "reason": v.reason}).comment
    shapes = {
        ActionKind.ACL: ("198.51.100.20", "spam", {"protocol": "tcp", "ports": [25]}),
        ActionKind.NULL_ROUTE: ("203.0.113.7", "malware-hosting", {}),
        ActionKind.RTBH: ("203.0.113.9", "ddos-victim", {"community": v.community}),
        ActionKind.RATE_LIMIT: ("198.51.100.30", "excessive-bandwidth", {"rate_bps": 10_000_000}),
        ActionKind.PREFIX_FILTER: ("203.0.113.128/25", "bgp-hijack", {}),
        ActionKind.ANTI_SPOOF: ("198.51.100.0/25", "spoofing", {}),
    }
    enforcements = [
        Enforcement.model_validate({
            "id": i, "decision_id": i, "action": action, "target": shapes[action][0], "violation": shapes[action][1],
            "params": shapes[action][2], "comment": comment, "created_at": T0,
            "customer": customer.id if action in (ActionKind.PREFIX_FILTER, ActionKind.ANTI_SPOOF) else None,
        })
        for i, action in enumerate(sorted(v.actions), start=101)
    ]
    return device, inventory, enforcements


def render(platform: Platform, v: Values) -> tuple[Device, str]:
    device, inventory, enforcements = scenario(platform, v)
    return device, render_section(build_section(device, enforcements, inventory, at=T0))


@cache
def placeholder_render(platform: Platform, v: Values) -> str:
    """The render of placeholders of ``v``'s shape (cached: few shapes, many examples)."""
    text = render(platform, v)[1]
    assert DESCRIPTION not in text, "a customer's description is never printed into a device config"
    return text


def community_text(platform: Platform, community: str) -> str:
    c = Community.model_validate(community)
    return FRR_WELL_KNOWN.get((c.asn, c.value), str(c)) if platform is Platform.FRR else str(c)


# ------------------------------------------------------------------ the properties


def check_example(v: Values, rendered: dict[Platform, set[Values]]) -> None:
    """Each value meets its boundary; what it accepts is rendered and checked on every platform. An
    input that renders like one already checked there (a refused value's stand-in, a reason
    sanitised to the same comment) is not rendered again: a render is a function of its input."""
    reason = v.reason if admitted("reason", _reason, v.reason) else "refused"
    customer = v.customer if admitted("id", _customer, v.customer) else "acme"
    description = v.description if admitted("name", _description, v.description) else ""
    ifaces = tuple(i if admitted("interface", _interface, i) else f"eth{n}" for n, i in enumerate(v.ifaces))
    community = v.community if admitted("", _community, v.community) else "65535:666"
    assume(len(set(ifaces)) == 3)  # equal names merge entries: a different shape, not an injection
    accepted = Values(v.slot, v.pick, safe_comment(reason), customer, description, ifaces, v.facing, community)
    for platform, seen in rendered.items():
        hostile = replace(accepted, actions=actions_for(platform, v))
        if hostile not in seen:
            check_render(platform, hostile)
            seen.add(hostile)


def check_render(platform: Platform, hostile: Values) -> None:
    comment = hostile.reason
    shape = Values("", 0, REASON if comment else "", CUSTOMER, DESCRIPTION,
                   tuple(iface_token(n, i) for n, i in enumerate(hostile.ifaces)), hostile.facing, COMMUNITY,
                   hostile.actions)
    device, text = render(platform, hostile)
    expected = placeholder_render(platform, shape)
    replacements = [(REASON, comment), (CUSTOMER, hostile.customer),
                    (COMMUNITY, community_text(platform, hostile.community))]
    replacements += [(piece_token(n, j), piece) for n, i in enumerate(hostile.ifaces) for j, piece in enumerate(i.split("."))]
    for token, value in replacements:
        expected = expected.replace(token, value)
    # Compared as sorted lines: a name may sort differently from its placeholder (Junos orders
    # interfaces by name); a value can only move a line, never add, split or change one.
    assert sorted(text.splitlines()) == sorted(expected.splitlines()), f"{hostile}\n{text}"
    # ... and where a value is printed it is one word (never a second token of the command), the
    # comment a harmless phrase, a Junos unit (what follows the dot) a number.
    for word in (hostile.customer, *hostile.ifaces, community_text(platform, hostile.community)):
        assert WORD.fullmatch(word), f"{word!r} would not be one word on a device's command line"
    assert not re.search(r"[\x00-\x1f\x7f-\x9f;`$\"'{}!#|&<>\\]", comment), comment
    if platform is Platform.JUNOS:
        units = re.findall(r"^set interfaces \S+ unit (\S*) ", text, re.M)
        assert all(u.isdigit() for u in units), f"Junos units must be numbers: {units}"
    # The push templates are slow: their check runs on a fixed eighth of the all-fields examples.
    pushes = hostile.slot == "all" and zlib.crc32(text.encode()) % 8 == 0
    check_only_enforcer_objects(platform, device, text, pushes=pushes)


#: Lines a push candidate adds around the section: IOS-XR's `root` (back to the top level) and
#: nftables' in-place emptying of its own table (enforcer/nftables.py): only ever enforcer's table.
FRAMING = {Platform.IOSXR: re.compile(r"^root$"),
           Platform.NFTABLES: re.compile(r"^((flush |delete )?table inet enforcer|(flush|delete) [a-z]+ inet enforcer \S+)$")}
_NEGATION = re.compile(r"^(no|delete) ")


def check_only_enforcer_objects(platform: Platform, device: Device, text: str, pushes: bool) -> None:
    """Every line the render and its pushes hold is enforcer's: the managed-section extractor finds
    the render whole inside the operator's config and nothing of the operator's; the push that adds
    it writes only its lines; the push that removes it negates only enforcer's objects."""
    info = platform_info(platform)
    operator = OPERATOR[platform.value]
    assert extract_managed(operator + text, info) == text
    if not pushes:
        return
    lines = set(text.splitlines())
    framing = FRAMING.get(platform, re.compile(r"(?!)"))
    added = render_push(device, text, "", [])
    assert {ln for ln in added.splitlines() if ln and not framing.match(ln)} <= lines, added
    patterns = [re.compile(p) for p in info.managed]
    removed = render_push(device, "", text, text.splitlines())
    for line in removed.splitlines():
        body = _NEGATION.sub("", line.strip())
        ours = line in lines or framing.match(line) or any(p.search(body) for p in patterns) or any(
            ln.strip().removeprefix("set ").startswith(body) or ln.strip() == body for ln in lines)
        assert not line or ours, f"the removal touches a line that is not enforcer's: {line!r}"


@pytest.mark.timeout(1800)
def test_no_input_injects_a_line_or_touches_the_operators_config():
    """Every example checks all eight platforms: Hypothesis' own cost is paid once per example."""
    ran: list[Values] = []
    rendered: dict[Platform, set[Values]] = {p: set() for p in DEVICES}

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(values())
    def prop(v: Values) -> None:
        check_example(v, rendered)
        ran.append(v)

    prop()
    assert len(ran) >= EXAMPLES, f"only {len(ran)} examples ran"
    for platform, seen in rendered.items():
        assert len(seen) >= len(ran) // 4, f"{platform}: only {len(seen)} distinct renders in {len(ran)} examples"
    refused = sum(1 for v in ran if v.slot == "reason" and not admitted("reason", _reason, v.reason))
    assert 0 < refused < len(ran), "the draws hold both refused and accepted reasons"
    print(f"{len(ran)} examples on each of {len(DEVICES)} platforms; distinct renders:",
          ", ".join(f"{p} {len(s)}" for p, s in rendered.items()))
