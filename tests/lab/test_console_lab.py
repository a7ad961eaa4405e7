"""Issue 14, the NOC's wall screen against the live lab: headless Debian Chromium under Selenium, a
running ``enforcer serve`` over the lab's inventory (FRR edge over SSH, nftables firewall, Open
vSwitch) and store, detectors posting to its hooks over HTTP.

One serve, one browser session and one store for the whole module (the lab itself is the
session's). ``ENFORCER_SCREENSHOTS=docs/console`` saves each page there: the committed screenshots
come from this run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from enforcer import service
from enforcer.api.tokens import create_token
from enforcer.lab.probes import address, udp_throughput
from enforcer.settings import Settings

from ..helpers import serve_process
from ..test_console_browser import approve, chromium, live_mode, log_in, row_text, screenshot, text, wait
from .conftest import fresh_store

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def console(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``enforcer serve`` over the lab (loop idle between kicks: each decision kicks its own pass)
    and a Chromium logged in as an operator on the active page."""
    folder = tmp_path_factory.mktemp("console-lab")
    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_DB": lab.db,
           "ENFORCER_OUTPUT": str(folder / "out")}
    with fresh_store(lab):
        ctx = service.Context.open(Settings.from_env(db=lab.db, inventory=lab.inventory_path))
        tokens = {
            "operator": create_token(ctx.store, "noc-alice", "operator"),
            "detector": create_token(ctx.store, "fastnetmon", "detector", ("ddos-victim", "excessive-bandwidth")),
        }
        with serve_process(serve_options=["--interval", "600", "--log-level", "warning"], env=env,
                           log=folder / "serve.log") as url, chromium(folder / "chromium") as browser:
            log_in(browser, url, tokens["operator"], "active")
            yield {"url": url, "tokens": tokens, "ctx": ctx, "browser": browser}


def hook(console: dict, body: dict) -> dict:
    """What a detector does: POST to the generic hook with its own token."""
    r = httpx.post(f"{console['url']}/v1/hooks/generic", json=body, timeout=30,
                   headers={"Authorization": f"Bearer {console['tokens']['detector']}"})
    assert r.status_code in (200, 201, 202), r.text
    return r.json()


def dropped_packets(browser, decision: int) -> int | None:
    """The *dropped* cell of ``decision``'s row as the page shows it now (None: not read yet)."""
    value = browser.execute_script(
        "const c = document.querySelector(`#active tr[data-decision='${arguments[0]}'] td.dropped`);"
        "return c ? c.dataset.packets : null", str(decision))
    return None if value is None else int(value)


def test_a_hook_block_appears_and_its_dropped_counter_rises_while_the_host_floods_without_a_reload(lab, console):
    browser = console["browser"]
    assert "Nothing is enforced" in text(browser, "#active")
    browser.execute_script("window.__same_page = 'yes'")  # a reload would wipe this
    offender = lab.customer_hosts("cust1")[0]

    hook(console, {"target": address(offender), "violation": "excessive-bandwidth", "reason": "40 Mbit/s UDP out",
                   "ttl": "1h"})

    (decision,) = [r.id for r in service.list_decisions(console["ctx"]) if r.status.value == "active"]
    wait(browser, lambda d: f"{address(offender)}/32" in text(d, "#active"))
    row = row_text(browser, "active", "data-decision", str(decision))
    assert "excessive-bandwidth" in row and "edge-fw" in row, row
    # the kick pushed the police rule to the firewall; its counter is read (zero) before any flood
    wait(browser, lambda d: dropped_packets(d, decision) is not None, 90)
    before = dropped_packets(browser, decision)

    udp_throughput(offender, lab.internet_host, offered_bps=40_000_000, seconds=2)  # 4x the rate, bounded

    wait(browser, lambda d: (dropped_packets(d, decision) or 0) >= before + 1000, 60)
    assert "pkts" in row_text(browser, "active", "data-decision", str(decision))
    assert browser.execute_script("return window.__same_page") == "yes" and live_mode(browser) == "sse"
    screenshot(browser, "active")


def test_an_operator_approves_a_held_decision_and_the_lab_edge_turns_in_sync(lab, console):
    browser, url = console["browser"], console["url"]
    whole = str(lab.inventory.customers["cust1"].prefixes[0])
    held = hook(console, {"target": whole, "violation": "ddos-victim", "reason": "inbound flood", "ttl": "1h"})
    (decision,) = [r for r in service.list_decisions(console["ctx"]) if r.status.value == "pending"]
    assert decision.target == whole, held  # the customer's whole prefix: a detector's waits for a person

    browser.get(f"{url}/console/devices")
    wait(browser, lambda d: "in sync" in row_text(d, "devices", "data-device", "edge"), 90)  # the earlier passes
    screenshot(browser, "devices")

    browser.get(f"{url}/console/approvals")
    assert whole in row_text(browser, "approvals", "data-decision", str(decision.id))
    screenshot(browser, "approvals")
    approve(browser, decision.id, "customer confirmed the attack")

    browser.get(f"{url}/console/devices")
    browser.execute_script("window.__same_page = 'yes'")
    # the edge router carries the victim's RTBH announcement: the approval's push turns it in sync
    wait(browser, lambda d: "in sync" in row_text(d, "devices", "data-device", "edge")
         and "+0 ~0 -0" not in row_text(d, "devices", "data-device", "edge"), 120)
    assert browser.execute_script("return window.__same_page") == "yes"  # the page followed, no reload
    assert console["ctx"].store.get_decision(decision.id).status.value == "active"
    (approval,) = [e for e in console["ctx"].store.history() if e.action == "approve"]
    assert approval.actor == "noc-alice" and approval.source == "console"

    browser.get(f"{url}/console/history?action=approve")
    assert "customer confirmed the attack" in text(browser, "#history")
    screenshot(browser, "history")
    browser.get(f"{url}/console/active")
    wait(browser, lambda d: whole in text(d, "#active"))
    screenshot(browser, "active-after-approval")


def test_the_plan_page_shows_the_lab_devices_exact_commands_before_apply(lab, console):
    from enforcer.model import Decision

    browser, ctx = console["browser"], console["ctx"]
    target = address(lab.customer_hosts("cust1")[-1])
    # stored straight into the store with the loop idle (interval 600 s, no kick): the plan shows it pending
    service.submit(ctx, Decision.model_validate({"target": target, "violation": "malware-hosting",
                                                 "actor": "noc", "source": "cli"}))
    browser.get(f"{console['url']}/console/plan")
    section = text(browser, "#plan-edge")
    assert f"ip route {target}/32 blackhole" in section or f"{target}/32 Null0" in section, section
    assert "commands sent" in section
    assert target in text(browser, "#plan-edge-fw")
    screenshot(browser, "plan")

