"""The desired set → typed section step (enforcer/build.py) and the store read feeding it, as a plan
of many devices uses them: each device is handed what its role carries, and the entries and rows
built without validating again are the models validation would have built."""

from __future__ import annotations

import json
from datetime import UTC
from ipaddress import ip_network
from pathlib import Path

import pytest

from enforcer.inventory import Device, Platform, load_inventory
from enforcer.model import ActionKind, ActionParams, Decision, Enforcement, trusted
from enforcer.render import RoleIndex, build_section
from enforcer.store import Store
from tests.test_templates import EDGE, PLATFORMS, REPO, T0, all_actions


@pytest.fixture(scope="module")
def inventory():
    return load_inventory(REPO / "inventory" / "example")


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_section_entries_equal_what_validation_builds(inventory, platform):
    """Every entry of every kind, built from the enforcements' values without validating them
    again, is field for field (and in repr) the model its constructor validates."""
    section = build_section(inventory.device(EDGE[platform]), all_actions(inventory, inventory.device(EDGE[platform])),
                            inventory, at=T0)  # fmt: skip
    entries = [*section.acl, *section.null_routes, *section.rtbh, *section.rate_limits]
    assert entries
    for entry in entries:
        again = type(entry)(**dict(entry))
        assert entry == again and repr(entry) == repr(again) and entry.model_fields_set == again.model_fields_set


def test_a_trusted_enforcement_is_what_model_construct_builds():
    values = {"id": 7, "decision_id": 3, "action": ActionKind.ACL, "target": ip_network("192.0.2.7/32"),
              "violation": "spam", "params": ActionParams(protocol="tcp", ports=(25,)), "roles": frozenset({"edge"}),
              "customer": None, "asn": None, "comment": "t", "created_at": T0, "expires_at": None,
              "status": "active"}  # fmt: skip
    built, constructed = trusted(Enforcement, dict(values)), Enforcement.model_construct(**values)
    assert built == constructed and repr(built) == repr(constructed)
    assert built.model_fields_set == constructed.model_fields_set == set(Enforcement.model_fields)


def _enforcement(eid: int, roles: frozenset[str]) -> Enforcement:
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.NULL_ROUTE, target=ip_network(f"198.51.100.{eid}"),
                       violation="malware-hosting", roles=roles, created_at=T0)  # fmt: skip


def test_each_device_is_handed_only_what_its_role_carries_in_order():
    given = [_enforcement(1, frozenset()), _enforcement(2, frozenset({"core"})), _enforcement(3, frozenset({"edge"})),
             _enforcement(4, frozenset({"edge", "core"})), _enforcement(5, frozenset())]  # fmt: skip
    index = RoleIndex(given)
    edge, core, peer = (Device(name=f"r-{r}", platform="frr", role=r, hostname="192.0.2.1") for r in ("edge", "core", "peer"))
    assert [e.id for e in index.carried_by(edge)] == [1, 3, 4, 5]
    assert [e.id for e in index.carried_by(core)] == [1, 2, 4, 5]
    assert [e.id for e in index.carried_by(peer)] == [1, 5]


def test_the_store_reads_back_the_models_it_stored(tmp_path: Path):
    """Rows come back as the typed models intake stored (targets of both families, parameters,
    roles), although the read builds them from the stored text without validating again."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    stored = [("203.0.113.0/24", ActionParams(protocol="tcp", ports=(25, 587)), ["edge"]),
              ("2001:db8::7/128", ActionParams(), ["edge", "core"]),
              ("198.51.100.9/32", ActionParams(direction="destination"), [])]  # fmt: skip
    for target, params, roles in stored:
        store.add_decision(Decision(target=target, violation="spam"), customer=None, step=0, clause="c",
                           expires_at=None, enforcements=[{"action": "acl", "target": target,
                                                           "params": params.model_dump(mode="json"), "roles": roles,
                                                           "expires_at": None}])
    read = store.active_enforcements()
    assert [(e.target, e.params, e.roles) for e in read] == \
        [(ip_network(t), p, frozenset(r)) for t, p, r in stored]
    assert [type(e.target) for e in read] == [type(ip_network(t)) for t, _, _ in stored]
    assert read == store.enforcements_by_id([e.id for e in read])


def test_an_ipv4_target_read_back_is_the_network_the_constructor_builds_without_running_it(monkeypatch):
    """Reading a row's IPv4 target skips ``IPv4Network.__init__`` (its argument parsing was most
    of what a 100,000-row read had left) and builds the very same network: equal, same hash and
    text, the same instance attributes (``hosts`` of a /31 and /32 included). Host bits refuse."""
    from ipaddress import IPv4Network

    from enforcer import tables

    texts = ["203.0.113.9/32", "203.0.113.8/31", "203.0.113.0/24", "10.0.0.0/8", "0.0.0.0/0"]
    expected = [IPv4Network(t) for t in texts]
    inits = [0]
    real = IPv4Network.__init__
    monkeypatch.setattr(IPv4Network, "__init__", lambda self, *a, **k: inits.__setitem__(0, inits[0] + 1)
                        or real(self, *a, **k))  # fmt: skip
    read = [tables._target(t) for t in texts]
    assert inits[0] == 0
    for got, want in zip(read, expected, strict=True):
        assert (got, hash(got), str(got), vars(got).keys()) == (want, hash(want), str(want), vars(want).keys())
        if want.prefixlen >= 31:
            assert list(got.hosts()) == list(want.hosts())
        assert got.num_addresses == want.num_addresses and got.broadcast_address == want.broadcast_address
    with pytest.raises(ValueError, match="host bits"):
        tables._target("203.0.113.9/24")


def _template_renders(monkeypatch) -> list[str]:
    """Every Jinja2 template render from now on, by template name: ``Template.render`` and the
    section print's own render (``render._render_and_let_go``, which empties the context after)."""
    import jinja2

    from enforcer import render

    seen: list[str] = []
    real, real_section = jinja2.Template.render, render._render_and_let_go

    def counting(self, *args, **kwargs):
        seen.append(self.name)
        return real(self, *args, **kwargs)

    def counting_section(template, **values):
        seen.append(template.name)
        return real_section(template, **values)

    monkeypatch.setattr(jinja2.Template, "render", counting)
    monkeypatch.setattr(render, "_render_and_let_go", counting_section)
    return seen


def _blocks(n: int, first: int = 1) -> list[Enforcement]:
    return [Enforcement(id=i, decision_id=i, action=ActionKind.NULL_ROUTE, target=ip_network(f"100.64.{i // 250}.{i % 250 + 1}"),
                        violation="malware-hosting", created_at=T0) for i in range(first, first + n)]  # fmt: skip


def test_the_boards_render_right_after_a_push_builds_and_prints_nothing_again(inventory, monkeypatch):
    """serve renders a device's section for its push (withholding), then the console's board renders
    it again from the same models: the second is answered from the first, not built nor printed."""
    from enforcer import build
    from enforcer.render import render_section
    from enforcer.withhold import render_for

    dev = inventory.device(EDGE[Platform.NFTABLES])
    given = _blocks(300)
    renders = _template_renders(monkeypatch)
    builds = build.builds
    pushed = render_for(dev, given, inventory, T0).desired
    board = render_section(build_section(dev, given, inventory, T0))
    assert board == pushed and "100.64.1.51" in board
    assert renders.count("nftables/section.j2") == 1 and build.builds == builds + 1


def test_a_new_block_or_a_refreshed_expiry_is_built_and_printed_anew(inventory, monkeypatch):
    """The memo answers only for the very same models: one more enforcement, or a row whose expiry a
    detector's repeat moved (a new model of the same id), is built and printed again — the section,
    and of its set only the one element that is new — and what comes out is what a build and a
    print from nothing give."""
    from datetime import timedelta

    from enforcer import build, render
    from enforcer.render import render_section

    dev = inventory.device(EDGE[Platform.NFTABLES])
    given = _blocks(20)
    renders = _template_renders(monkeypatch)
    printed = render.entry_prints
    render_section(build_section(dev, given, inventory, T0))
    more = [*given, *_blocks(1, first=500)]
    text = render_section(build_section(dev, more, inventory, T0))
    refreshed = [*given[:-1], given[-1].model_copy(update={"expires_at": T0 + timedelta(hours=2)})]
    again = render_section(build_section(dev, refreshed, inventory, T0))
    # 20 elements for the first print, then one for each of the two changes; one render of the
    # element template per print (the elements it had no line for), not one per element
    assert render.entry_prints - printed == 22
    assert renders.count("nftables/_element.j2") == 3 and renders.count("nftables/section.j2") == 3
    assert "100.64.2.1 " in text and "100.64.2.1 " not in again
    monkeypatch.setattr(build, "_last", {})
    monkeypatch.setattr(render, "_entry_texts", {})
    assert render_section(build_section(dev, more, inventory, T0)) == text


def test_the_intakes_build_of_one_new_decision_does_not_make_the_next_push_print_every_entry(inventory, monkeypatch):
    """Between two pushes serve's intake builds the device's section of the new decision alone (which
    devices carry it: the latency clock). The push after it still prints only the new element."""
    from enforcer.render import render_section

    dev = inventory.device(EDGE[Platform.NFTABLES])
    given = _blocks(50, first=1000)
    render_section(build_section(dev, given, inventory, T0))
    new = _blocks(1, first=2000)
    renders = _template_renders(monkeypatch)
    build_section(dev, new, inventory, T0)  # the carriers of the new decision
    render_section(build_section(dev, [*given, *new], inventory, T0))
    assert renders == ["nftables/section.j2", "nftables/_element.j2"]


def test_the_intakes_build_of_one_new_decision_does_not_read_the_last_builds_entries(inventory, monkeypatch):
    """The intake's section of one new decision (its carriers) is built from nothing beside a last
    build of 2,000: it costs the one decision, not a pass over the 2,000 entries kept to reuse."""
    from enforcer import build

    dev = inventory.device(EDGE[Platform.NFTABLES])
    given = _blocks(2000)
    build_section(dev, given, inventory, T0)
    read: list[int] = []
    real = build._Built.entries
    monkeypatch.setattr(build._Built, "entries", lambda self: read.append(len(self.given)) or real(self))
    new = _blocks(1, first=5000)
    section = build_section(dev, new, inventory, T0)
    assert read == [] and [e.ids for e in section.null_routes] == [(5000,)]


def test_a_one_shot_plan_keeps_no_device_s_build_or_print_after_it(tmp_path):
    """serve's memos (a device's last builds, its printed section and entries) are for its next push;
    a ``plan`` or ``apply`` over many devices builds each once, and kept them all to its peak RSS."""
    from enforcer import build, render, service
    from enforcer.settings import Settings

    from .conftest import EXAMPLE_INVENTORY

    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=f"sqlite:///{tmp_path / 'e.db'}"))
    service.plan(ctx)
    names = set(ctx.inventory.devices)
    assert not names & set(build._last) and not names & set(render._printed) and not names & set(render._entry_texts)


def _placements(monkeypatch) -> list[int]:
    """Every enforcement a build groups into an entry (the per-enforcement work of a build)."""
    from enforcer import build

    seen: list[int] = []
    real = build._Grouper.add
    monkeypatch.setattr(build._Grouper, "add", lambda self, e: seen.append(e.id) or real(self, e))
    return seen


def test_one_more_decision_with_a_thousand_active_groups_one_enforcement_and_makes_one_entry(inventory, monkeypatch):
    """The push after one more decision derives the section from the device's last build: the new
    enforcement is placed and its entry made, the 1,000 others are not looked at again. What comes
    out is what a build from nothing gives."""
    from enforcer import build

    dev = inventory.device(EDGE[Platform.NFTABLES])
    given = _blocks(1000)
    build_section(dev, given, inventory, T0)
    placed, made = _placements(monkeypatch), build.entries_made
    new = _blocks(1, first=5000)
    section = build_section(dev, [*given, *new], inventory, T0)
    assert placed == [5000] and build.entries_made == made + 1
    assert len(section.null_routes) == 1001
    monkeypatch.setattr(build, "_last", {})
    assert build_section(dev, [*given, *new], inventory, T0) == section


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_a_section_derived_change_by_change_is_the_section_built_from_nothing(inventory, platform, monkeypatch):
    """Blocks and unblocks of every action, twins that share an entry (its ids change), a customer's
    filter growing: each step derived from the last build equals a build from nothing."""
    import random

    from enforcer import build

    dev = inventory.device(EDGE[platform])
    pool = all_actions(inventory, dev)
    twins = [e.model_copy(update={"id": e.id + 100_000, "decision_id": e.id + 100_000}) for e in pool]
    pool = [*pool, *twins, *_blocks(60, first=3000)]
    rng = random.Random(12)
    now_ = rng.sample(pool, len(pool) // 2)
    build_section(dev, now_, inventory, T0)
    for _ in range(25):
        for e in rng.sample(pool, 4):
            if e in now_:
                now_ = [x for x in now_ if x is not e]
            else:
                now_ = [*now_, e]
        derived = build_section(dev, now_, inventory, T0)
        kept = build._last
        monkeypatch.setattr(build, "_last", {})
        assert build_section(dev, list(reversed(now_)), inventory, T0) == derived
        monkeypatch.setattr(build, "_last", kept)


class _CountedLookups(dict):
    """A dict that counts the ``get`` calls made on it."""

    gets = 0

    def get(self, key, default=None):
        self.gets += 1
        return super().get(key, default)


def test_a_first_build_looks_up_no_earlier_entry(inventory):
    """A one-shot plan builds every device once: with no earlier build to reuse entries from, no
    key of enforcement identities is made and nothing is looked up (100,000 of each in a big plan)."""
    from enforcer import build

    grouper = build._Grouper(build._null_tail)
    for e in _blocks(300):
        grouper.add(e)
    nothing = _CountedLookups()
    made = grouper.entries(build._null_route, nothing)
    assert len(made) == 300 and nothing.gets == 0
    again = _CountedLookups(grouper.kept(build._null_route))
    assert grouper.entries(build._null_route, again) == made and again.gets == 300


def test_a_stored_row_becomes_its_model_in_four_python_calls():
    """100,000 rows a big plan reads: the row's model, its target's network and address, its
    timestamps and JSON texts are made without a Python call each (IPv4Address.__init__ and its
    range check, __int__ of the mask, aware_utc twice, _json_text twice were seven more a row)."""
    from datetime import datetime

    from enforcer import tables

    from .helpers import python_calls

    params = '{"protocol": "tcp", "ports": [25, 465, 587], "direction": "source"}'
    at = datetime(2026, 1, 2, 3, 4, 5)
    row = (7, 7, "acl", "203.0.113.9/32", "spam", params, '["edge"]', None, None, "", at, at, "active")
    tables.enforcement_from(*row)  # the lru caches of params and roles filled, as after the first rows
    assert python_calls(tables.enforcement_from, *row) <= 4
    e = tables.enforcement_from(*row)
    want = Enforcement.model_validate({"id": 7, "decision_id": 7, "action": "acl", "target": "203.0.113.9/32",
                                       "violation": "spam", "params": json.loads(params), "roles": ["edge"],
                                       "created_at": at.replace(tzinfo=UTC), "expires_at": at.replace(tzinfo=UTC)})  # fmt: skip
    assert e == want and e.target.network_address == want.target.network_address
    assert e.created_at.tzinfo is UTC and e.expires_at == want.expires_at and e.roles == frozenset({"edge"})
    assert tables.enforcement_from(*row[:10], at, None, "active").expires_at is None


def test_a_build_reads_its_targets_without_a_python_call_per_entry(inventory):
    """Grouping, the protected-prefix check and the interface ACLs read each target's family,
    address and length: 1,000 entries, none of them a call of ipaddress's properties (three to
    six an entry were 500,000 calls of a 100,000-enforcement plan)."""
    import sys

    params = ActionParams.model_validate({"protocol": "tcp", "ports": [25]})
    given = [Enforcement(id=i, decision_id=i, action=ActionKind.ACL, target=ip_network(f"10.1.{i >> 8}.{i & 255}/32"),
                         violation="spam", params=params, created_at=T0) for i in range(1, 1001)]  # fmt: skip
    given.append(Enforcement(id=2000, decision_id=2000, action=ActionKind.ACL, target=ip_network("2001:db8::/64"),
                             violation="spam", params=params, created_at=T0))  # fmt: skip
    dev = inventory.device(EDGE[Platform.IOS])
    assert inventory.guardrails.protected  # the check runs against real protected prefixes
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call" and frame.f_code.co_filename.endswith("ipaddress.py")

    sys.setprofile(count)
    try:
        section = build_section(dev, given, inventory, T0)
    finally:
        sys.setprofile(None)
    assert calls < 100  # the protected set made once per build and the v6 entry, nothing per entry
    assert [a.name for a in section.interface_acls] == ["ENFORCER-ACL-V4", "ENFORCER-ACL-V6"] * len(dev.attach_interfaces)
    assert [r.ids for r in section.acl][:2] == [(1,), (2,)] and section.acl[-1].ids == (2000,)
