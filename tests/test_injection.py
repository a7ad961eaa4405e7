"""A reason typed by an operator or sent by a detector never becomes a device command.

Two layers: the model reduces the free text to a harmless one-line comment (``safe_comment``),
and the renderer's finalize refuses to print any string outside the safe character set, so a
value that slipped past validation (forced in with ``model_construct``) fails the render loudly
instead of reaching a router.

These are fixed examples; tests/test_injection_properties.py is the Hypothesis fuzz of the same
promise (10,000 examples on every platform). This file used to be called the property tests, but
it never imported Hypothesis: its 70 cases were pytest parameters, 0 Hypothesis examples.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from enforcer.inventory import Inventory, Platform, load_inventory
from enforcer.model import ActionKind, Enforcement, Violation, safe_comment
from enforcer.render import (
    AclRule,
    AntiSpoof,
    NullRoute,
    PrefixFilter,
    RenderError,
    Section,
    build_section,
    platform_info,
    render_section,
)
from tests.test_templates import EDGE, PLATFORMS, REPO, T0, cases


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(REPO / "inventory" / "example")


PAYLOADS = [
    "x\nno router bgp 65000",
    "x; rm -rf /",
    "x\r\nexit\nreload",
    "}\n table ip filter {",
    "$(reboot)",
    "`id`",
    'x" ; flush ruleset ; "',
    "x\n!\nend\nwrite erase",
]

#: Lines that would be commands if a payload ever reached the device on its own line.
FORBIDDEN_STARTS = ("no router bgp", "reload", "rm ", "exit", "end", "write", "flush", "table ip filter", "}")


def _with_comment(enforcements, text):
    """The enforcements again, their comment validated from ``text`` as intake would."""
    return [Enforcement.model_validate({**e.model_dump(), "comment": text}) for e in enforcements]


def _everything(inventory, device):
    out = []
    for action in platform_info(device.platform).actions:
        for family in (4, 6):
            for e in cases(inventory, device, action, family):
                out.append(e.model_copy(update={"id": e.id * 10 + family, "decision_id": e.id * 10 + family}))
    return out


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_reason_payload_stays_inside_one_comment(inventory, platform, payload):
    """Render every action with the comment "x", then with the payload: the two differ only where
    "x" was, and there by exactly the sanitised, one-line payload."""
    device = inventory.device(EDGE[platform])
    enforcements = _everything(inventory, device)
    benign = render_section(build_section(device, _with_comment(enforcements, "x"), inventory, at=T0))
    hostile = render_section(build_section(device, _with_comment(enforcements, payload), inventory, at=T0))
    sanitised = safe_comment(payload)
    assert sanitised and not any(c in sanitised for c in "\n\r;`$\"{}!#")
    assert len(hostile.splitlines()) == len(benign.splitlines()), "the payload added or removed a line"
    changed = 0
    for good, bad in zip(benign.splitlines(), hostile.splitlines(), strict=True):
        if good == bad:
            continue
        at = good.rindex("x")
        assert bad == good[:at] + sanitised + good[at + 1:], f"payload changed more than a comment: {bad!r}"
        changed += 1
    for line in hostile.splitlines():
        assert not line.strip().startswith(FORBIDDEN_STARTS) or line in benign.splitlines(), line
    if platform in (Platform.JUNOS, Platform.FRR):
        assert changed == 0, "Junos and FRR renders print no free text"
    else:
        assert changed > 0, "the comment is printed somewhere (a remark, description or comment)"


RAW = "x\nno router bgp 65000"


def _forced_section(device, raw: str) -> Section:
    """A section built without validation, carrying raw text in every printable string slot."""
    return Section.model_construct(
        device=device,
        acl=(AclRule.model_construct(ids=(1,), comment=raw, target=ip_network("198.51.100.20/32"),
                                     violation=Violation.SPAM, protocol="any", ports=(), direction="source"),),
        null_routes=(NullRoute.model_construct(ids=(2,), comment=raw, target=ip_network("203.0.113.7/32"),
                                               violation=Violation.MALWARE_HOSTING),),
        rtbh=(),
        rate_limits=(),
        prefix_filters=(PrefixFilter.model_construct(ids=(3,), comment="", customer=raw,
                                                     neighbor=ip_address("192.0.2.101"), asn=64500,
                                                     denied=(ip_network("203.0.113.128/25"),)),),
        anti_spoof=(AntiSpoof.model_construct(ids=(4,), comment="", customer=raw, interface=raw,
                                              allowed=(ip_network("198.51.100.0/25"),)),),
        unsupported=(),
    )


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_render_refuses_unvalidated_text(inventory, platform):
    """finalize is the last line of defence: a raw newline anywhere fails the render."""
    device = inventory.device(EDGE[platform])
    with pytest.raises(RenderError, match="unsafe text"):
        render_section(_forced_section(device, RAW))


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_the_same_forced_section_renders_once_the_text_is_safe(inventory, platform):
    """Control for the test above: it fails because of the text, not because the section is odd."""
    device = inventory.device(EDGE[platform])
    text = render_section(_forced_section(device, "acme"))
    assert "203.0.113.7" in text.lower()
    assert ActionKind.NULL_ROUTE in platform_info(platform).actions


LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=repr)
def test_finalize_refuses_a_trailing_line_break(inventory, brk):
    """``re.match`` with ``$`` let "acme\\n" through and it split a Junos line in two."""
    device = inventory.device(EDGE[Platform.JUNOS])
    with pytest.raises(RenderError, match="line break"):
        render_section(_forced_section(device, "acme" + brk))


def test_a_junos_group_name_ending_in_a_newline_fails_the_render(inventory):
    """An inventory value a template prints (the BGP group RTBH is exported to) meets the same check."""
    base = inventory.device(EDGE[Platform.JUNOS])
    device = base.model_copy(update={"optional_args": {"enforcer_upstream_group": "UPSTREAM\n"}})
    rtbh = cases(inventory, device, ActionKind.RTBH, 4)
    with pytest.raises(RenderError, match="line break"):
        render_section(build_section(device, rtbh, inventory, at=T0))
    ok = base.model_copy(update={"optional_args": {"enforcer_upstream_group": "UPSTREAM"}})
    assert "set protocols bgp group UPSTREAM export ENFORCER-RTBH" in render_section(
        build_section(ok, rtbh, inventory, at=T0)).splitlines()


@pytest.mark.parametrize("key", ["enforcer_customer_group", "enforcer_upstream_group"])
def test_a_junos_group_name_with_a_space_is_refused_when_the_inventory_is_read(tmp_path, key):
    """``CUSTOMERS import X`` passes finalize (spaces are safe text) but adds a token to the Junos
    line: the inventory types these optional_args as names, and says which one is wrong."""
    import shutil

    from enforcer.inventory import InventoryError

    inv = tmp_path / "inv"
    shutil.copytree(REPO / "inventory" / "example", inv)
    hosts = (inv / "hosts.yaml").read_text()
    host = EDGE[Platform.JUNOS]
    assert f"{host}:" in hosts
    hosts = hosts.replace(f"{host}:\n", f"{host}:\n  optional_args: {{{key}: 'CUSTOMERS import X'}}\n", 1)
    (inv / "hosts.yaml").write_text(hosts)
    with pytest.raises(InventoryError) as refused:
        load_inventory(inv)
    assert key in str(refused.value) and "is not a name" in str(refused.value)


def test_a_list_where_a_template_expects_a_word_fails_the_render(inventory):
    """An OpenFlow ``forward`` given as a YAML list would print its repr, brackets and commas included."""
    base = inventory.device("of-edge1")
    device = base.model_copy(update={"optional_args": {"forward": ["NORMAL", "output:1"]}})
    limit = cases(inventory, device, ActionKind.RATE_LIMIT, 4)
    with pytest.raises(RenderError, match="list"):
        render_section(build_section(device, limit, inventory, at=T0))


def test_even_a_line_enforcer_rendered_may_not_carry_a_line_break():
    """``Rendered`` (a line of enforcer's own section, printed verbatim by push.j2) skips the
    character check, never the line-break check."""
    from enforcer.render import Rendered, environment

    template = environment().from_string("{{ line }}")
    assert template.render(line=Rendered("cookie=0xe4f0000000000001 actions=drop")) == \
        "cookie=0xe4f0000000000001 actions=drop"
    with pytest.raises(RenderError, match="line break"):
        template.render(line=Rendered("cookie=0xe4f0000000000001 actions=drop\nflush"))


@pytest.mark.parametrize("name", ["ge-0/0/1.", "ge-0/0/1.abc", "eth1.10.20"], ids=repr)
def test_an_interface_whose_unit_is_not_a_number_is_refused_at_the_boundary(name):
    """Junos prints what follows the dot as ``unit N``: the property test found "x." rendering
    ``unit  family``. One unit, a number, or none."""
    from pydantic import ValidationError

    from enforcer.inventory import Attachment
    from enforcer.model import validation_error_to_invalid

    with pytest.raises(ValidationError) as exc:
        Attachment(device="junos-edge1", interface=name)
    assert str(validation_error_to_invalid(exc.value)).startswith("interface: ")
    assert Attachment(device="junos-edge1", interface="ge-0/0/1.100").interface == "ge-0/0/1.100"
