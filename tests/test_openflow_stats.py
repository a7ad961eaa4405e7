"""Which OpenFlow statistics count as "dropped" for which enforcement (enforcer.controller.stats).

The bodies are os-ken's own reply classes, as the controller receives them from a switch.
"""

from __future__ import annotations

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from enforcer.controller.flows import ownership
from enforcer.controller.stats import counted

OWNER = ownership()
MAGIC = OWNER.cookie_magic


def flow(cookie: int, instructions: list, packets: int, octets: int) -> parser.OFPFlowStats:
    return parser.OFPFlowStats(table_id=0, duration_sec=1, duration_nsec=0, priority=41032, idle_timeout=0,
                               hard_timeout=0, flags=0, cookie=cookie, packet_count=packets, byte_count=octets,
                               match=parser.OFPMatch(), instructions=instructions)


NORMAL = parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [parser.OFPActionOutput(ofp.OFPP_NORMAL)])


def test_drop_flows_count_their_matches_a_meter_its_band_drops_and_forward_flows_nothing():
    meter = OWNER.meter_base + 42
    flows = [
        flow(MAGIC | 7, [], 120, 11_760),  # null route, dst side
        flow(MAGIC | 7, [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [])], 3, 294),  # src side
        flow(MAGIC | 9, [parser.OFPInstructionMeter(meter), NORMAL], 40_000, 56_000_000),  # rate limit
        flow(MAGIC | 11, [NORMAL], 5_000, 400_000),  # anti-spoof: the customer's own sources pass
        flow(0xB0, [], 77, 7_700),  # the switch's own flow: not enforcer's cookie
    ]
    meters = [
        parser.OFPMeterStats(meter_id=meter, flow_count=1, packet_in_count=40_000, byte_in_count=56_000_000,
                             duration_sec=2, duration_nsec=0,
                             band_stats=[parser.OFPMeterBandStats(30_000, 42_000_000)]),
        parser.OFPMeterStats(meter_id=7, flow_count=1, packet_in_count=9, byte_in_count=900, duration_sec=2,
                             duration_nsec=0, band_stats=[parser.OFPMeterBandStats(9, 900)]),  # not enforcer's band
    ]
    assert counted(ofp, flows, meters, OWNER) == {7: [123, 12_054], 9: [30_000, 42_000_000]}
