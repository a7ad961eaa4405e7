"""A block's audit detail is printed from the batch's pieces (enforcer.batch.block_detail): it must be
the very text ``json.dumps`` gives for the dict it stands for, whatever the strings hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from enforcer.batch import _AFTER, _string, block_detail

texts = st.text(max_size=30)  # quotes, backslashes, control characters, non-ASCII
times = st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                                 timezones=st.just(UTC))
params = st.dictionaries(st.sampled_from(["protocol", "ports", "rate_bps", "community"]),
                         st.none() | st.integers() | texts | st.lists(st.integers(), max_size=3), max_size=4)
specs = st.lists(st.tuples(texts, texts, params, st.lists(texts, max_size=3), times), min_size=1, max_size=3)


@given(specs, st.integers(min_value=0, max_value=20), times, st.none() | texts)
def test_a_blocks_audit_detail_is_the_text_json_dumps_gives(items, step, expires_at, cause):
    after = [_AFTER.format(_string(a), _string(t), json.dumps(p), json.dumps(r), _string(str(u)))
             for a, t, p, r, u in items]
    expected = json.dumps({"before": None,
                           "after": [{"action": a, "target": t, "params": p, "roles": r, "expires_at": str(u)}
                                     for a, t, p, r, u in items],
                           "step": step, "expires_at": expires_at.isoformat() if expires_at else None,
                           "cause": cause})
    assert block_detail(after, step, expires_at, cause) == expected


def test_a_stored_blocks_audit_detail_reads_back_as_the_dict_it_stands_for(tmp_path):
    from enforcer import service
    from enforcer.model import Decision
    from enforcer.settings import Settings

    ctx = service.Context.open(Settings(db=f"sqlite:///{tmp_path / 's.db'}"))
    [res] = service.submit_many(ctx, [Decision(target="203.0.113.7", violation="scanning", source="cli",
                                               actor="noc", cause='alert "x"\\é')])
    [entry] = [e for e in ctx.store.history() if e.decision_id == res.decision_id]
    [enf] = res.enforcements
    assert entry.detail == {
        "before": None,
        "after": [{"action": enf.action.value, "target": "203.0.113.7/32", "params": enf.params.model_dump(mode="json"),
                   "roles": sorted(enf.roles), "expires_at": str(enf.expires_at)}],
        "step": 0, "expires_at": enf.expires_at.isoformat(), "cause": 'alert "x"\\é'}
    assert enf.expires_at - enf.created_at > timedelta(0)
