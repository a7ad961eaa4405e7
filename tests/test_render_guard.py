"""Render is the last line of defence: a traffic block over a protected prefix is never rendered."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_network

from enforcer import service
from enforcer.model import Decision, now
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY


def test_enforcement_over_a_protected_prefix_stored_earlier_is_withheld_from_every_device(tmp_path, db_url):
    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=db_url, output=tmp_path / "out"))
    protected = ctx.inventory.guardrails.protected[0]
    host = next(ip_network(protected).hosts())
    # As if the protected list grew after the decision was accepted: store it past the guardrails.
    at = now()
    ctx.store.add_decision(
        Decision(target=str(host), violation="malware-hosting"), customer=None, step=0, clause="", expires_at=None,
        enforcements=[{"action": "null-route", "target": f"{host}/32", "params": {}, "roles": ["edge"],
                       "expires_at": at + timedelta(hours=1)}],
    )
    plans = service.plan(ctx)
    assert all(str(host) not in p.desired for p in plans)
    edge_plans = [p for p in plans if ctx.inventory.devices[p.device].role == "edge"]
    assert edge_plans and all(p.protected for p in edge_plans)


def test_an_ipv6_zone_id_forced_past_validation_never_reaches_a_config():
    import pytest

    from enforcer.inventory import Platform
    from enforcer.model import Enforcement
    from enforcer.render import RenderError, build_section, render_section
    from enforcer.validate import _sample

    zoned = ip_network("2001:db8::1%x;}flush_ruleset/128")
    assert zoned.network_address.scope_id  # ipaddress itself accepts it: enforcer must not
    for platform in Platform:
        inv, dev, enfs = _sample(platform)
        null_v6 = next(e for e in enfs if e.action.value == "null-route" and e.target.version == 6)
        forced = Enforcement.model_construct(**{**null_v6.__dict__, "target": zoned})
        with pytest.raises(RenderError, match="zone id|unsafe text"):
            render_section(build_section(dev, [forced], inv))
