"""A device's desired set read by role and incrementally (enforcer/desired.py, ``Store.active_keys``),
on SQLite and, where ``ENFORCER_TEST_PG`` names one, PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from enforcer.desired import DesiredState
from enforcer.model import Decision, now

from .test_store import store  # noqa: F401 - the SQLite/PostgreSQL store fixture


def _add(store, target: str, roles: list[str], ttl: timedelta = timedelta(hours=1)) -> int:  # noqa: F811
    at = now()
    rec = store.add_decision(
        Decision(target=target, violation="malware-hosting"), customer=None, step=0, clause="c", expires_at=at + ttl,
        enforcements=[{"action": "null-route", "target": f"{target}/32", "params": {}, "roles": roles,
                       "expires_at": at + ttl}],
    )
    return rec.enforcements[0].id


def test_a_role_reads_its_own_enforcements_and_those_for_every_role_only(store):  # noqa: F811
    edge = _add(store, "203.0.113.1", ["edge"])
    both = _add(store, "203.0.113.2", ["core", "edge"])
    core = _add(store, "203.0.113.3", ["core"])
    anywhere = _add(store, "203.0.113.4", [])
    _add(store, "203.0.113.5", ["edge_fw"])  # a LIKE on "edge" must not take the "edge_fw" role's rows
    assert [i for i, _ in store.active_keys(role="edge")] == [edge, both, anywhere]
    assert [i for i, _ in store.active_keys(role="core")] == [both, core, anywhere]
    assert len(store.active_keys()) == 5


def test_a_device_wake_loads_only_the_rows_it_has_not_seen(store, monkeypatch):  # noqa: F811
    first = _add(store, "203.0.113.1", ["edge"])
    desired = DesiredState(store)
    asked: list[list[int]] = []
    read = store.enforcements_by_id
    monkeypatch.setattr(store, "enforcements_by_id", lambda ids: asked.append(ids) or read(ids))
    one = desired.inputs("edge", now())
    second = _add(store, "203.0.113.2", ["edge"])
    two = desired.inputs("edge", now())
    assert asked == [[first], [second]]
    assert [e.id for e in two.enforcements] == [first, second]
    assert two.serial > one.serial and two.keys != one.keys
    assert desired.inputs("edge", now()).keys == two.keys and asked == [[first], [second]]


def test_the_next_expiry_is_the_first_enforcement_to_leave(store):  # noqa: F811
    _add(store, "203.0.113.1", ["edge"], ttl=timedelta(hours=2))
    _add(store, "203.0.113.2", ["edge"], ttl=timedelta(minutes=5))
    at = now()
    inputs = DesiredState(store).inputs("edge", at)
    assert timedelta(minutes=4) < inputs.next_expiry(at) - at <= timedelta(minutes=5)
