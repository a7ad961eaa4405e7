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
the rest into one; each piece is built, rendered and parsed alone, and kept with the ids and
expiries it was made from. The next sync renders again only the pieces whose ids or expiries
moved (a new decision: one piece), and when the switch last confirmed the previous pieces, the
diff is taken piece by piece too (:func:`diff_pieces`). ``tests/test_openflow_pieces.py``
checks that the union of the pieces equals the whole render, flow for flow, for every entry kind.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from itertools import chain
from typing import NamedTuple

from ..inventory import Device, Inventory
from ..model import ActionKind, Enforcement
from ..render import build_section, render_section
from .flows import Flow, Ownership, SwitchState, SyncPlan, diff, parse_state

#: Pieces the ACL and null-route enforcements spread over: 10,000 targets are ~20 per piece.
BUCKETS = 512
REST = "rest"
_BY_TARGET = (ActionKind.ACL, ActionKind.NULL_ROUTE)
_EMPTY = SwitchState()


class Wanted(NamedTuple):
    """What a switch's section is made from, as the store says at one moment."""

    enforcements: Sequence[Enforcement]
    inventory: Inventory
    at: datetime | None = None


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


class Pieces:
    """The last pieces rendered for each switch, by the ids and expiries each was made from."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[Device, Inventory, dict[Hashable, tuple[frozenset, SwitchState]]]] = {}
        #: pieces built and rendered since start (a test counts them: a change renders one)
        self.rendered = 0

    def desired(self, device: Device, owner: Ownership, wanted: Wanted) -> DesiredFlows:
        groups: dict[Hashable, list[Enforcement]] = {}
        for e in wanted.enforcements:
            groups.setdefault(piece_of(e), []).append(e)
        last = self._last.get(device.name)
        # another inventory (a file changed) or device entry: its facts may change any line
        old = last[2] if last is not None and last[0] is device and last[1] is wanted.inventory else {}
        new: dict[Hashable, tuple[frozenset, SwitchState]] = {}
        for key, items in groups.items():
            signature = frozenset((e.id, e.expires_at) for e in items)
            kept = old.get(key)
            if kept is None or kept[0] != signature:
                text = render_section(build_section(device, items, wanted.inventory, wanted.at))
                kept = (signature, parse_state(text, owner))
                self.rendered += 1
            new[key] = kept
        self._last[device.name] = (device, wanted.inventory, new)
        return DesiredFlows({key: state for key, (_, state) in new.items()})


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
