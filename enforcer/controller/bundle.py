"""How one sync's messages reach the switch: in one OpenFlow 1.4 bundle when it takes one, else as a batch.

A bundle (OpenFlow 1.4.1 §6.8) is the switch's own transaction: the flow-mods are staged and
checked, then committed at once with ``OFPBF_ATOMIC``. The flow table goes from the old set to the
new one with nothing in between (no instant where 5,000 of 10,000 drops are in, or where a flow that
is replaced is gone and its successor not yet there), and one message the switch refuses leaves the
table exactly as it was. Only flow-mods go in the bundle (a switch may refuse other message types
in one, ``OFPBFC_MSG_UNSUP``, and meters need no atomicity): the meters a change needs are added
(or changed) before it — a meter no flow uses yet changes no traffic — and the meters it frees are
deleted after the commit; when the bundle fails, the meters are put back.

A change of one flow-mod (one decision's rate limit or one-flow ACL, an ended one's delete) goes
without a bundle: a switch applies a single flow-mod whole or not at all, so the bundle's open and
commit would buy nothing but two round trips. A bundle itself costs two round trips, not three: its
open travels in the same write as its flow-mods (``_bundled``).

A switch that negotiated OpenFlow 1.3 (no bundles in the protocol), or that refuses to open one,
gets the batch: every message back to back and one barrier. That is not a transaction — a refused
message leaves the others in place — and the sync's report says so (``atomic`` false).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import wire

if TYPE_CHECKING:
    from .app import EnforcerController
    from .flows import Ownership
    from .live import Live

#: Serialized messages are written to the socket in chunks of about this size (docs/lab-facts.md: about 100
#: flow-mods per write is 2-3x faster than one write per message).
WRITE_CHUNK = 16 * 1024
FLAGS = wire.OFPBF_ATOMIC | wire.OFPBF_ORDERED
#: Above this many messages the packing runs off the hub (``app.off_hub``): 100,000 flow-mods are
#: seconds of Python in which os-ken's receive loop, and every other switch, would stand still.
OFF_HUB_AT = 500
_bundle_ids = itertools.count(1)


@dataclass
class Change:
    """One sync's messages in the order the switch must see them.

    Each message is an os-ken message or a ``(command, Flow, table, ports)`` tuple that :mod:`.wire`
    packs (10x cheaper than building os-ken objects for 10,000 flows)."""

    before: list[Any] = field(default_factory=list)  # meter adds and modifies
    flows: list[Any] = field(default_factory=list)  # flow-mods: the bundle
    after: list[Any] = field(default_factory=list)  # meter deletes
    undo: list[Any] = field(default_factory=list)  # puts ``before`` back when the bundle fails


@dataclass
class Outcome:
    refused: list[str]  # the switch's errors for this change's messages
    atomic: bool  # the flow-mods went in one bundle
    committed: bool = True  # False: the bundle was discarded, the flow table is as it was
    bundled: bool = True  # False: one flow-mod, no bundle (refused, it changed nothing by itself)


def change_for(dp: Any, owner: Ownership, plan: Any, live: Live, ports: dict[str, int]) -> Change:
    """The sync plan as messages: meters first (a flow may only name an existing meter), then the
    flow-mods (unparsable enforcer flows and stale ones deleted, new ones added), freed meters last."""
    ofp = dp.ofproto
    # the meters a modify puts back on failure; only then the whole live set is looked at
    was = {m.meter_id: m for m in live.state.meters} if plan.modify_meters else {}
    return Change(
        before=[wire.meter_mod(dp, ofp.OFPMC_ADD, m) for m in plan.add_meters]
        + [wire.meter_mod(dp, ofp.OFPMC_MODIFY, m) for m in plan.modify_meters],
        flows=[wire.delete_unparsed(dp, owner, st.cookie, st.priority, st.match) for st in live.strange]
        + [(wire.OFPFC_DELETE_STRICT, f, owner.table, ports) for f in plan.delete_flows]
        + [(wire.OFPFC_ADD, f, owner.table, ports) for f in plan.add_flows],
        after=[wire.meter_delete(dp, m.meter_id) for m in plan.delete_meters],
        undo=[wire.meter_delete(dp, m.meter_id) for m in plan.add_meters]
        + [wire.meter_mod(dp, ofp.OFPMC_MODIFY, was[m.meter_id]) for m in plan.modify_meters],
    )


class BundleRefused(Exception):
    """The switch would not open a bundle: it gets batches from now on (until it reconnects)."""


def send(app: EnforcerController, dp: Any, change: Change, timeout: float) -> Outcome:
    """Apply ``change`` on ``dp``, confirmed by the switch's last reply; in one bundle when the
    switch takes bundles and the change holds more than one flow-mod.

    One flow-mod needs no bundle: the switch applies it whole or refuses it whole (a refused
    flow-mod changes nothing), so it goes with its meters and one barrier: one round trip, where a bundle costs two
    (``_bundled``) — a rate limit, an ACL of one flow, an ended block's flow."""
    if len(change.flows) <= 1:
        return _single(app, dp, change, timeout)
    if dp.ofproto.OFP_VERSION >= wire.OFP14_VERSION and dp.id not in app.no_bundles:
        try:
            return _bundled(app, dp, change, timeout)
        except BundleRefused as exc:
            app.no_bundles.add(dp.id)
            app.logger.warning("switch %016x refused a bundle (%s): changes go as batches", dp.id, exc)
    refused = _confirmed(app, dp, [*change.before, *change.flows, *change.after], timeout)
    return Outcome(refused, atomic=False)


def _single(app: EnforcerController, dp: Any, change: Change, timeout: float) -> Outcome:
    """At most one flow-mod: the meters it needs, the flow-mod and a barrier in one write. Refused,
    the flow table is as it was (a refused flow-mod changes nothing) and the meters are put back,
    as for a discarded bundle; a refused meter beside an accepted flow-mod is reported as a batch's
    refusal (the flow-mod stands: the caller reads the switch back next time)."""
    with app.errors_for(dp) as (sent, errors):
        xids = _write(dp, sent, [*change.before, *change.flows])
        app._request(dp, dp.ofproto_parser.OFPBarrierRequest(dp), timeout)
        refused = dict(errors)
    if refused and (not change.flows or xids[-1] in refused):  # the flow-mod went last
        _confirmed(app, dp, change.undo, timeout)  # errors ignored: a meter that never came need not go
        return Outcome(list(refused.values()), atomic=True, committed=False, bundled=False)
    return Outcome(list(refused.values()) + _confirmed(app, dp, change.after, timeout), atomic=True, bundled=False)


def _bundled(app: EnforcerController, dp: Any, change: Change, timeout: float) -> Outcome:
    """Two round trips: (1) the meters, the bundle's open, its flow-mods and a barrier in one
    write — by the barrier's reply the switch has answered the open and checked every add; (2)
    the commit, sent only when it refused none of them (a switch keeps an open bundle whose add
    failed, without that message: Open vSwitch's ``handle_bundle_add``, so committing blind would
    apply the rest), else the discard. The commit's reply comes once the bundle is applied: no barrier
    after it.

    Every way out leaves the switch as a whole: committed, or the bundle discarded and the meters
    put back. A refusal is reported in the outcome; a refused open puts the meters back and raises
    :class:`BundleRefused` (the caller sends the change as a batch); anything else (no reply, a
    lost connection, a bug while packing) discards and undoes as far as the switch still answers,
    then propagates, and the caller forgets what it assumed the switch holds
    (``EnforcerController.sync``). Once the commit is sent without an answer, nothing is undone:
    the switch may hold the new flows, which need their meters; the next sync reads it back."""
    from .app import SyncFailed

    ofp, parser = dp.ofproto, dp.ofproto_parser
    bundle = next(_bundle_ids) & 0xFFFFFFFF
    opening = parser.OFPBundleCtrlMsg(dp, bundle, ofp.OFPBCT_OPEN_REQUEST, FLAGS, [])
    committing = False
    try:
        with app.errors_for(dp) as (sent, errors):
            _write(dp, sent, [*change.before, opening])
            _write(dp, sent, change.flows, bundle)
            app._request(dp, parser.OFPBarrierRequest(dp), timeout)  # the open and every add checked by now
            if opening.xid in errors:
                raise BundleRefused(errors[opening.xid])
            if not errors:
                committing = True
                commit = parser.OFPBundleCtrlMsg(dp, bundle, ofp.OFPBCT_COMMIT_REQUEST, FLAGS, [])
                try:
                    app._request(dp, commit, timeout)
                except SyncFailed as exc:
                    if "switch error" not in str(exc):
                        raise
                    committing = False  # refused: the switch discarded the bundle
                    errors[commit.xid] = f"commit: {exc}"
            else:
                app._request(dp, parser.OFPBundleCtrlMsg(dp, bundle, ofp.OFPBCT_DISCARD_REQUEST, FLAGS, []), timeout)
            refused = list(errors.values())
    except BundleRefused:
        _confirmed(app, dp, change.undo, timeout)
        raise
    except BaseException:
        if not committing:
            _abandon(app, dp, bundle, change, timeout)
        raise
    if refused:
        _confirmed(app, dp, change.undo, timeout)  # errors ignored: a meter that never came need not go
        return Outcome(refused, atomic=True, committed=False)
    return Outcome(_confirmed(app, dp, change.after, timeout), atomic=True)


def _abandon(app: EnforcerController, dp: Any, bundle: int, change: Change, timeout: float) -> None:
    """Discard an uncommitted bundle and put the meters back, as far as the switch still answers
    (a switch that lost the connection drops open bundles itself); never raises over the error
    that brought us here."""
    if app.datapaths.get(dp.id) is not dp:
        return
    ofp, parser = dp.ofproto, dp.ofproto_parser
    wait = min(timeout, 5.0)
    try:
        app._request(dp, parser.OFPBundleCtrlMsg(dp, bundle, ofp.OFPBCT_DISCARD_REQUEST, FLAGS, []), wait)
    except Exception as exc:  # noqa: BLE001 - best effort: the switch expires open bundles too
        app.logger.warning("switch %016x: discarding bundle %d after a failed sync: %s", dp.id, bundle, exc)
    try:
        _confirmed(app, dp, change.undo, wait)
    except Exception as exc:  # noqa: BLE001 - the next sync reads the switch and deletes stray meters
        app.logger.warning("switch %016x: putting the meters back after a failed sync: %s", dp.id, exc)


def _confirmed(app: EnforcerController, dp: Any, msgs: list[Any], timeout: float) -> list[str]:
    """Write ``msgs`` back to back, then a barrier; the switch's errors for them."""
    if not msgs:
        return []
    with app.errors_for(dp) as (sent, errors):
        _write(dp, sent, msgs)
        app._request(dp, dp.ofproto_parser.OFPBarrierRequest(dp), timeout)
        return list(errors.values())


def _write(dp: Any, sent: set[int], msgs: list[Any], bundle: int | None = None) -> list[int]:
    """Serialize (inside bundle ``bundle`` when given) and write in chunks; the xids, in the
    messages' order, go into ``sent`` and are returned.

    The xids are taken on the hub, all at once (what ``Datapath.set_xid`` does, ``len(msgs)``
    times), so a request another green thread sends meanwhile never shares one."""
    from .app import SyncFailed, off_hub

    if not msgs:
        return []
    mask = dp.ofproto.MAX_XID
    first = (dp.xid + 1) & mask
    dp.xid = (dp.xid + len(msgs)) & mask
    xids = [(first + i) & mask for i in range(len(msgs))]
    sent.update(xids)
    args = (dp.ofproto.OFP_VERSION, msgs, xids, bundle)
    for chunk in off_hub(_pack, *args) if len(msgs) >= OFF_HUB_AT else _pack(*args):
        if not dp.send(chunk):
            raise SyncFailed("switch disconnected during sync")
    return xids


def _pack(version: int, msgs: list[Any], xids: list[int], bundle: int | None) -> list[bytes]:
    """The messages as bytes, about :data:`WRITE_CHUNK` per chunk (no I/O: runs on or off the hub)."""
    chunks: list[bytes] = []
    buf = bytearray()
    for msg, xid in zip(msgs, xids, strict=True):
        if isinstance(msg, tuple):
            command, flow, table, ports = msg
            data = wire.flow_mod(xid, flow, table, command, ports, version)
        else:
            msg.set_xid(xid)
            msg.serialize()
            data = bytes(msg.buf)
        buf += data if bundle is None else wire.bundle_add(bundle, FLAGS, data)
        if len(buf) >= WRITE_CHUNK:
            chunks.append(bytes(buf))
            buf.clear()
    if buf:
        chunks.append(bytes(buf))
    return chunks
