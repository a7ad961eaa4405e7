"""ACL and null-route entries straight to flows: the controller's bulk path, without printing and parsing.

``templates/openflow/section.j2`` prints a switch's section for ``plan`` and ``compare``, and the
controller used to take its flows from that text: render, then parse every line back (its
addresses through ``ipaddress`` again). For the bulk of a switch's section — 10,000 ACL and
null-route entries — that print → parse round trip was half of a bulk sync's desired set (0.2–0.3 s
of CPU of 0.37–0.48 s for 10,000, the store read aside), and it decides nothing: the entries' typed
targets already are the flows' matches. Here the same flows are made from the section's entries
directly, spelled as the template spells them (priority = the action's band of ``platform.yaml`` +
prefix length, cookie = magic | first id, one flow per port, a null route's dst then src, a flow an
earlier entry holds not repeated).

Only ACL and null-route entries take this path; anything else in a section (meters, anti-spoof)
goes through the template. ``tests/test_openflow_entries.py`` checks, for every entry kind and a
random mix, that these flows equal the parse of the template's text line for line — the flows pushed
are exactly the ones a plan shows.
"""

from __future__ import annotations

from operator import attrgetter

from ..section import Section
from .flows import Flow, FlowError, Match, Ownership, SwitchState, check_state, priorities

_IDS = attrgetter("ids")


def direct(section: Section) -> bool:
    """Whether ``section``'s flows can be made here: nothing but ACL and null-route entries."""
    return not (section.metered or section.anti_spoof)


def entry_state(section: Section, owner: Ownership) -> SwitchState:
    """The flows of ``section``'s ACL and null-route entries, as the template's text would parse
    (same flows, same order), checked like a parse with ``owner`` (:func:`.flows.check_state`)."""
    if not direct(section):
        raise ValueError("entry_state: the section holds entries only the template prints")
    bands = priorities()
    magic = owner.cookie_magic
    # a flow's identity on the switch is its priority and match, and the template's "seen" keys
    # (priority, protocol, side, family, target, port) name exactly that: the first entry (in id
    # order) holding one writes it, a later one does not repeat it
    flows: dict[tuple[int, Match], Flow] = {}
    acl, null = bands["acl"], bands["null-route"]
    for r in sorted(section.acl, key=_IDS):
        t = r.target
        family, proto = t.version, (r.protocol.value if r.protocol.value != "any" else None)
        src = r.direction.value == "source"
        prio = acl + t.prefixlen
        cookie = magic + r.ids[0]
        for port in r.ports or (None,):
            if port is not None and (proto not in ("tcp", "udp") or not 1 <= port <= 65535):
                raise FlowError(f"{t}: port {port} with protocol {r.protocol.value} is not a flow enforcer writes")
            match = Match(family, proto, t if src else None, None if src else t, port)
            if (prio, match) not in flows:
                flows[prio, match] = Flow(cookie, prio, match)
    for r in sorted(section.null_routes, key=_IDS):
        t = r.target
        prio = null + t.prefixlen
        cookie = magic + r.ids[0]
        for match in (Match(t.version, None, None, t), Match(t.version, None, t, None)):  # dst, then src
            if (prio, match) not in flows:
                flows[prio, match] = Flow(cookie, prio, match)
    state = SwitchState(tuple(flows.values()))
    check_state(state, owner)
    return state
