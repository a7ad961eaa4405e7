"""What a full read of the switch found, and how it is read: the flow table in slices, the stats
turned into enforcer's flows and meters, other owners' flows in enforcer's priority band kept aside.

No I/O here: :meth:`.app.EnforcerController.read_live` sends the requests and hands the replies over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from . import wire
from .flows import Flow, FlowError, Match, Ownership, SwitchState

if TYPE_CHECKING:
    from .pieces import DesiredFlows

#: A full table read asks for about this many flows per round trip (slices by cookie, see ``read_live``).
READ_SLICE_FLOWS = 1_000


class Live(NamedTuple):
    """What a read of the switch found: enforcer's flows and meters (``read``), flows carrying
    enforcer's cookie that it cannot parse (deleted by the next sync), and other owners' flows in
    enforcer's priority band by (priority, match) → cookie (never written over). ``pieces``: the
    desired pieces the switch holds, when it is what a sync sent and the switch confirmed (the next
    sync diffs only the pieces that changed); None after a read of the switch."""

    read: SwitchState | None
    strange: list[Any]
    foreign: dict[tuple[int, Match], int]
    pieces: DesiredFlows | None = None

    @property
    def state(self) -> SwitchState:
        """Every enforcer flow and meter the switch holds. After a confirmed sync it is the pieces'
        union, built only when asked (a full diff, a plan's read, a changed meter): 20,000 flows
        chained on every one-decision sync were a few milliseconds of the hub's time."""
        if self.read is not None:
            return self.read
        assert self.pieces is not None
        return self.pieces.state

    def holding(self, desired: DesiredFlows) -> Live:
        """The switch confirmed ``desired``: what it holds now. The flows it could not parse were
        deleted by the same sync; other owners' flows are as the last read found them."""
        return Live(None, [], self.foreign, desired)


def read_slices(flows: int) -> int:
    """Round trips for a table of ``flows``: a power of two (slice k holds the cookies with
    ``cookie & (n - 1) == k``) of about :data:`READ_SLICE_FLOWS` each. Enforcer's cookies end in
    consecutive enforcement ids, so its flows spread evenly; another owner's flows sharing one
    cookie all land in one slice."""
    n = 1
    while n * READ_SLICE_FLOWS < flows:
        n *= 2
    return n


def live_from_stats(ofp: Any, owner: Ownership, names: dict[int, str], stats: list[Any], configs: list[Any]) -> Live:
    """Enforcer's flows and meters out of a table's flow stats and the meter configs (see ``read_live``)."""
    live = Live(SwitchState(), [], {})
    flows: list[Flow] = []
    for st in stats:
        mine = owner.owns_cookie(st.cookie)
        if not mine and not owner.in_band(st.priority):
            continue
        try:
            flow = wire.flow_from_stats(ofp, st, names)
        except FlowError:
            if mine:
                live.strange.append(st)
            continue  # another owner's flow enforcer cannot parse: its match is none enforcer writes
        if mine:
            flows.append(flow)
        else:
            live.foreign[flow.key] = flow.cookie
    meters = [wire.meter_from_config(ofp, c) for c in configs if owner.owns_meter(c.meter_id)]
    return live._replace(read=SwitchState(tuple(flows), tuple(meters)))
