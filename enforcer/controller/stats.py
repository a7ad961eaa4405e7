"""What enforcer's flows and meters counted on one switch: the OpenFlow side of :mod:`enforcer.counters`.

A flow's cookie carries its entry's first enforcement id (``templates/openflow/section.j2``), so a
counter belongs to an enforcement without any bookkeeping of ours:

* a **drop** flow (acl, null route, anti-spoof's catch-all) dropped every packet it matched: its
  flow statistics are the figure;
* a **rate-limit** flow matches everything the limited host sends and forwards what its meter lets
  through: the figure is what the meter's drop band dropped (meter statistics), not the flow's count;
* a **forward** flow (anti-spoof's permitted sources) drops nothing and counts for nothing.

One round trip reads both: flow statistics filtered by enforcer's cookie (the switch does the
filtering, cookie mask), and every meter's statistics. A switch re-creates a flow or meter on a
resync after its restart, so a figure is "since the switch last installed it".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from .flows import Ownership, ownership


def counted(ofp: Any, flow_stats: Iterable[Any], meter_stats: Iterable[Any], owner: Ownership) -> dict[int, list[int]]:
    """Enforcement id → ``[packets, bytes]`` dropped, from ``OFPFlowStats`` and ``OFPMeterStats`` bodies."""
    found: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    meter_of: dict[int, int] = {}  # meter id → the enforcement whose rate-limit flow uses it
    for st in flow_stats:
        if not owner.owns_cookie(st.cookie):
            continue
        eid = st.cookie & ~owner.cookie_mask
        meter = next((i.meter_id for i in st.instructions if i.type == ofp.OFPIT_METER), None)
        if meter is not None:
            meter_of[meter] = eid
        elif _drops(ofp, st.instructions):
            found[eid][0] += st.packet_count
            found[eid][1] += st.byte_count
    for ms in meter_stats:
        eid = meter_of.get(ms.meter_id)
        if eid is None or not owner.owns_meter(ms.meter_id):
            continue
        for band in ms.band_stats:
            found[eid][0] += band.packet_band_count
            found[eid][1] += band.byte_band_count
    return dict(found)


def _drops(ofp: Any, instructions: Iterable[Any]) -> bool:
    """No instruction, or only empty apply-actions: OpenFlow's drop."""
    return all(i.type == ofp.OFPIT_APPLY_ACTIONS and not i.actions for i in instructions)


def read(app: Any, dpid: int) -> dict[int, list[int]]:
    """Ask switch ``dpid`` (connected to ``app``, the :class:`~.app.EnforcerController`) for the stats."""
    from .app import SyncFailed

    dp = app.datapaths.get(dpid)
    if dp is None:
        raise SyncFailed(f"switch {dpid:016x} is not connected")
    owner = ownership(app.device_for(dpid))
    ofp, parser = dp.ofproto, dp.ofproto_parser
    flows = parser.OFPFlowStatsRequest(dp, 0, owner.table, ofp.OFPP_ANY, ofp.OFPG_ANY, owner.cookie_magic,
                                       owner.cookie_mask, parser.OFPMatch())
    meters = parser.OFPMeterStatsRequest(dp, 0, ofp.OFPM_ALL)
    flow_stats, meter_stats = app._requests(dp, [flows, meters])
    return counted(ofp, flow_stats, meter_stats, owner)
