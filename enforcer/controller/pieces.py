"""A switch's desired flows, rendered in pieces: one more decision re-renders and diffs one piece.

Every sync derives the desired set from the store (nothing remembered that the store did not
say), but building, rendering (``templates/openflow/section.j2``), parsing and diffing the whole
section made one more decision with 10,000 active cost seconds (issue 12: 2.2 s p50). The section
is a pure function of its enforcements, and its bulk — ACL and null-route entries — splits by
target without changing a line:

* the render merges enforcements only when their target is equal (``build._Grouper``), and a
  flow's priority and match contain its target, so no two targets share a flow, and the
  template's de-duplication (``seen``) never spans two targets;
* everything else (rate limits, whose meter ids are allocated across the section; anti-spoof,
  keyed by interface; any other action) stays together in one piece, in the other priority bands.

So ACL and null-route enforcements go into :data:`BUCKETS` pieces by the hash of their target,
the rest into one; each piece is built alone — the bulk pieces' flows made straight from their
entries (:mod:`.entries`), the rest rendered and parsed — and kept with the ids and expiries it
was made from. The next sync renders again only the pieces whose ids or expiries
moved (a new decision: one piece), and when the switch last confirmed the previous pieces, the
diff is taken piece by piece too (:func:`diff_pieces`). ``tests/test_openflow_pieces.py``
checks that the union of the pieces equals the whole render, flow for flow, for every entry kind.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import chain
from operator import attrgetter
from typing import NamedTuple

from ..inventory import Device, Inventory
from ..model import ActionKind, Enforcement
from ..render import build_section, render_section
from .entries import direct, entry_state
from .flows import Flow, Ownership, SwitchState, SyncPlan, diff, parse_state

#: Pieces the ACL and null-route enforcements spread over: 10,000 targets are ~20 per piece.
BUCKETS = 512
REST = "rest"
_BY_TARGET = (ActionKind.ACL, ActionKind.NULL_ROUTE)
_EMPTY = SwitchState()
_ID = attrgetter("id")


class Wanted(NamedTuple):
    """What a switch's section is made from, as the store says at one moment. ``keys``: the
    (id, expiry) of every one of ``enforcements`` when the reader has them at hand (the store's
    :class:`~enforcer.desired.Inputs`): what changed since the last sync is then two set
    differences, not a walk over every enforcement."""

    enforcements: Sequence[Enforcement]
    inventory: Inventory
    at: datetime | None = None
    keys: frozenset[tuple[int, datetime | None]] | None = None


def piece_of(e: Enforcement) -> Hashable:
    return hash(e.target) % BUCKETS if e.action in _BY_TARGET else REST


class DesiredFlows:
    """The desired state of one switch as pieces (key → state); ``state`` is their union."""

    def __init__(self, pieces: Mapping[Hashable, SwitchState]):
        self.pieces = pieces

    @cached_property
    def state(self) -> SwitchState:
        return SwitchState(
            tuple(chain.from_iterable(p.flows for p in self.pieces.values())),
            tuple(chain.from_iterable(p.meters for p in self.pieces.values())),
        )


@dataclass
class _Memo:
    """One switch's last pieces: the keys they were made from, which piece holds each id, each
    piece's enforcements and rendered state."""

    device: Device
    inventory: Inventory
    keys: frozenset[tuple[int, datetime | None]]
    where: dict[int, Hashable] = field(default_factory=dict)
    members: dict[Hashable, dict[int, Enforcement]] = field(default_factory=dict)
    states: dict[Hashable, SwitchState] = field(default_factory=dict)
    flows: DesiredFlows | None = None


class Pieces:
    """The last pieces rendered for each switch, kept by the ids and expiries they were made from.

    A sync after one more decision finds the change by two set differences of (id, expiry) keys
    (C speed, ~1 ms for 10,000), files the new enforcement into its piece and renders that piece
    only: nothing here walks every active enforcement in Python — with 10,000 active, grouping them
    all again (their targets' hashes) and signing every piece was ~45 ms of each sync's CPU. Another
    device entry or inventory (a file changed: its facts may change any line) renders everything."""

    def __init__(self) -> None:
        self._last: dict[str, _Memo] = {}
        #: pieces built and rendered since start (a test counts them: a change renders one)
        self.rendered = 0
        #: pieces whose flows came from the template's text (printed and parsed back): the rest
        #: came straight from their ACL and null-route entries (:mod:`.entries`)
        self.printed = 0

    def desired(self, device: Device, owner: Ownership, wanted: Wanted) -> DesiredFlows:
        keys = wanted.keys if wanted.keys is not None else frozenset((e.id, e.expires_at) for e in wanted.enforcements)
        memo = self._last.get(device.name)
        if memo is None or memo.device is not device or memo.inventory is not wanted.inventory:
            memo = _Memo(device, wanted.inventory, frozenset())
            self._last[device.name] = memo
        elif memo.keys == keys and memo.flows is not None:
            return memo.flows
        try:
            return self._update(memo, device, owner, wanted, keys)
        except BaseException:  # a render that failed half-way: the next sync starts afresh
            self._last.pop(device.name, None)
            raise

    def _update(self, memo: _Memo, device: Device, owner: Ownership, wanted: Wanted,
                keys: frozenset[tuple[int, datetime | None]]) -> DesiredFlows:
        came = keys - memo.keys
        # keys = (last - gone) | came, so |gone| = |last| + |came| - |keys|: one more decision
        # (nothing gone) costs one set difference, not two (~4 ms each over 10,000 keys, loaded)
        gone = memo.keys - keys if len(memo.keys) + len(came) != len(keys) else frozenset()
        touched: set[Hashable] = set()
        for i, _ in gone:  # ended, expired, or refreshed (its new expiry comes back in ``came``)
            key = memo.where.pop(i, None)
            if key is not None:  # None: a key whose row was gone before its model was read
                del memo.members[key][i]
                touched.add(key)
        # every key new (the first sync, a bulk after an empty switch): all of them, no lookup
        arrived = wanted.enforcements if len(came) == len(keys) else _by_id(wanted.enforcements, {i for i, _ in came})
        for e in arrived:
            key = piece_of(e)
            memo.where[e.id] = key
            memo.members.setdefault(key, {})[e.id] = e
            touched.add(key)
        for key in touched:
            items = sorted(memo.members[key].values(), key=_ID)
            if not items:
                del memo.members[key]
                memo.states.pop(key, None)
                continue
            section = build_section(device, items, wanted.inventory, wanted.at)
            if key != REST and direct(section):
                memo.states[key] = entry_state(section, owner)
            else:
                memo.states[key] = parse_state(render_section(section), owner)
                self.printed += 1
            self.rendered += 1
        memo.keys = keys
        # a copy: the last DesiredFlows (what the switch confirmed) must keep its own pieces
        memo.flows = DesiredFlows(dict(memo.states))
        return memo.flows


def _by_id(enforcements: Sequence[Enforcement], ids: set[int]) -> list[Enforcement]:
    """The enforcements with these ids: looked up by bisection when the sequence is in id order
    (the store's always is), else by one pass."""
    if not ids:
        return []
    n, found = len(enforcements), []
    for i in ids:
        at = bisect_left(enforcements, i, key=_ID)
        if at < n and enforcements[at].id == i:
            found.append(enforcements[at])
    if len(found) == len(ids):
        return found
    return [e for e in enforcements if e.id in ids]


def diff_pieces(desired: DesiredFlows, confirmed: DesiredFlows) -> SyncPlan:
    """:func:`.flows.diff` of the two unions, computed only over the pieces that differ (a piece
    kept from the last render is the very same object): the pieces' flows never share a
    priority and match, so the union's diff is the union of the pieces' diffs."""
    plan = SyncPlan()
    for key in desired.pieces.keys() | confirmed.pieces.keys():
        want, have = desired.pieces.get(key, _EMPTY), confirmed.pieces.get(key, _EMPTY)
        if want is have:
            continue
        part = diff(want, have)
        plan.add_meters += part.add_meters
        plan.modify_meters += part.modify_meters
        plan.delete_flows += part.delete_flows
        plan.add_flows += part.add_flows
        plan.delete_meters += part.delete_meters
    for meters in (plan.add_meters, plan.modify_meters, plan.delete_meters):
        meters.sort(key=lambda m: m.meter_id)
    plan.add_flows.sort(key=Flow.sort_key)
    plan.delete_flows.sort(key=Flow.sort_key)
    return plan
