"""Issue 14.1: the web console in a real browser (Debian's headless Chromium under Selenium) against a
running ``enforcer serve`` with its reconcile loop, over the example inventory's devices.

``ENFORCER_SCREENSHOTS=FOLDER`` also saves a screenshot of each page there; the committed ones in
``docs/console/`` come from the same pages against the lab (``tests/lab/test_console_lab.py``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import ElementNotInteractableException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from enforcer import service
from enforcer.api.tokens import create_token
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY
from .helpers import serve_process

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,900",
)  # fmt: skip


@contextmanager
def serving(folder: Path) -> Iterator[dict]:
    """``enforcer serve`` over the example inventory and a new store in ``folder``, with its tokens."""
    env = {
        **os.environ,
        "ENFORCER_DB": f"sqlite:///{folder / 'enforcer.db'}",
        "ENFORCER_INVENTORY": str(EXAMPLE_INVENTORY),
        "ENFORCER_OUTPUT": str(folder / "out"),
    }
    ctx = service.Context.open(Settings.from_env(db=env["ENFORCER_DB"], inventory=EXAMPLE_INVENTORY))
    tokens = {
        "operator": create_token(ctx.store, "noc-alice", "operator"),
        "detector": create_token(ctx.store, "fastnetmon", "detector", ("ddos-victim", "spam")),
    }
    with serve_process(serve_options=["--interval", "600", "--log-level", "warning"], env=env,
                       log=folder / "serve.log") as url:
        yield {"url": url, "tokens": tokens, "ctx": ctx}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[dict]:
    with serving(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def live_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One serve for the live-update tests: each blocks its own address, none expects an empty store."""
    with serving(tmp_path_factory.mktemp("live")) as running:
        yield running


@contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    """Debian's headless Chromium under chromedriver, its profile in ``profile``; quit on the way out."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path / "chromium") as driver:
        yield driver


def wait(driver: webdriver.Chrome, condition, seconds: float = 60):
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: condition(d))


def log_in(browser: webdriver.Chrome, url: str, token: str, page: str) -> None:
    browser.get(f"{url}/console/{page}")
    assert "/console/login" in browser.current_url  # no session yet: sent to the login form
    screenshot(browser, "login")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "login").click()
    wait(browser, lambda d: d.current_url.endswith(f"/console/{page}"))


def approve(browser: webdriver.Chrome, decision: int, reason: str) -> None:
    """What an operator does on the approvals page: type a reason, press Approve, see it confirmed."""
    # The live update may replace the page's content between finding the form and pressing the
    # button (the handle goes stale, or the new form is not laid out yet and cannot take keys):
    # then the operator's step is done again, on the new form, until the deadline.
    def step(d: webdriver.Chrome) -> bool:
        try:
            form = d.find_element(By.CSS_SELECTOR, f"form[action='/console/decisions/{decision}/approve']")
            field = form.find_element(By.NAME, "reason")
            if not (field.is_displayed() and field.is_enabled()):
                return False
            field.clear()  # a retry on the same form types the reason once, not twice
            field.send_keys(reason)
            form.find_element(By.NAME, "approve").click()
            return True
        except (StaleElementReferenceException, ElementNotInteractableException):
            return False

    wait(browser, step)
    wait(browser, lambda d: f"decision {decision}: approved" in text(d, "#main"))


def hook(serve: dict, body: dict) -> dict:
    r = httpx.post(f"{serve['url']}/v1/hooks/generic", json=body,
                   headers={"Authorization": f"Bearer {serve['tokens']['detector']}"})
    assert r.status_code in (200, 201, 202), r.text
    return r.json()


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    folder = os.environ.get("ENFORCER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / f"{name}.png"))


def text(browser: webdriver.Chrome, selector: str) -> str:
    """An element's text read in one step in the page: the poller replaces ``<main>``'s content
    every two seconds, so a Selenium element handle can go stale between finding and reading."""
    return browser.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
                                  selector)


def row_text(browser: webdriver.Chrome, table: str, attr: str, value: str) -> str:
    return text(browser, f"#{table} tr[{attr}='{value}']")


def test_block_made_through_a_hook_appears_on_the_open_page_without_a_reload(serve, browser):
    log_in(browser, serve["url"], serve["tokens"]["operator"], "active")
    assert "Nothing is enforced" in text(browser, "#active")
    browser.execute_script("window.__same_page = 'yes'")  # a reload would wipe this

    hook(serve, {"target": "203.0.113.7", "violation": "spam", "reason": "outbound spam run", "ttl": "2h"})

    wait(browser, lambda d: "203.0.113.7/32" in text(d, "#active"))
    assert browser.execute_script("return window.__same_page") == "yes"
    assert live_mode(browser) == "sse"  # followed through /console/events, not the poller
    row = text(browser, "#active tbody tr")
    assert "spam" in row and "Users shall not transmit unsolicited e-mail" in row  # the AUP clause, quoted
    assert "Globex" in row and "acl" in row and "linux-edge1" in row
    first = text(browser, "#active .countdown")
    wait(browser, lambda d: text(d, "#active .countdown") != first, 10)  # it ticks, to the second
    screenshot(browser, "active")


def live_mode(browser: webdriver.Chrome) -> str:
    """How the page follows the server: ``sse`` (event stream open) or ``poll`` (the fallback)."""
    return browser.execute_script("return document.documentElement.dataset.live || ''")


def test_without_eventsource_the_open_page_falls_back_to_polling_and_still_follows(live_serve, browser):
    serve = live_serve
    # every page this browser opens from now on has no EventSource, as in a browser without SSE
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.EventSource;"})
    log_in(browser, serve["url"], serve["tokens"]["operator"], "active")
    assert live_mode(browser) == "poll"
    browser.execute_script("window.__same_page = 'yes'")

    hook(serve, {"target": "203.0.113.8", "violation": "spam", "reason": "second run", "ttl": "2h"})

    wait(browser, lambda d: "203.0.113.8/32" in text(d, "#active"))
    assert browser.execute_script("return window.__same_page") == "yes" and live_mode(browser) == "poll"


def test_the_event_stream_needs_a_session_and_announces_a_change_when_a_hook_blocks(live_serve):
    serve = live_serve
    with httpx.Client(base_url=serve["url"], timeout=30) as c:
        assert c.get("/console/events").status_code == 303  # no session: to the login form
        session = {"Cookie": f"enforcer_session={_session(serve, c)}"}
        with c.stream("GET", "/console/events", headers=session) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))  # the version now, at once
            hook(serve, {"target": "203.0.113.9", "violation": "spam", "ttl": "2h"})
            # the next version differs (keep-alive comments in between are skipped)
            following = next(line for line in lines if line.startswith("data: "))
    assert following != first


def test_operator_approves_a_held_decision_and_sees_the_device_turn_in_sync(serve, browser):
    held = hook(serve, {"target": "203.0.112.0/23", "violation": "ddos-victim", "reason": "flood", "ttl": "1h"})
    log_in(browser, serve["url"], serve["tokens"]["operator"], "devices")
    wait(browser, lambda d: "in sync" in row_text(d, "devices", "data-device", "frr-edge1"))  # the loop's first pass
    screenshot(browser, "devices")

    browser.get(f"{serve['url']}/console/approvals")
    decision = next(r for r in service.list_decisions(serve["ctx"]) if r.status.value == "pending")
    assert "203.0.112.0/23" in row_text(browser, "approvals", "data-decision", str(decision.id)), held
    screenshot(browser, "approvals")
    approve(browser, decision.id, "confirmed with the customer")

    browser.get(f"{serve['url']}/console/devices")
    # frr-edge1 carries the victim's blackhole: its state follows the push the approval kicked off
    wait(browser, lambda d: "in sync" in row_text(d, "devices", "data-device", "frr-edge1")
         and "+0 ~0 -0" not in row_text(d, "devices", "data-device", "frr-edge1"))
    assert serve["ctx"].store.get_decision(decision.id).status.value == "active"
    approvals = [e for e in serve["ctx"].store.history() if e.action == "approve"]
    assert approvals[-1].actor == "noc-alice" and approvals[-1].source == "console"

    browser.get(f"{serve['url']}/console/history?action=approve")
    assert "confirmed with the customer" in text(browser, "#history")
    screenshot(browser, "history")
    browser.get(f"{serve['url']}/console/active")
    screenshot(browser, "active-after-approval")


def test_plan_page_shows_each_devices_exact_commands_before_apply(serve, browser):
    log_in(browser, serve["url"], serve["tokens"]["operator"], "plan")
    hook(serve, {"target": "203.0.112.0/23", "violation": "ddos-victim", "ttl": "1h"})  # held: plans nothing
    ctx = serve["ctx"]
    from enforcer.model import Decision

    # stored straight into the store with the loop idle (interval 600 s, no kick): the plan shows it pending
    service.submit(ctx, Decision.model_validate({"target": "203.0.113.9", "violation": "malware-hosting",
                                                 "actor": "noc", "source": "cli"}))
    browser.get(f"{serve['url']}/console/plan")
    section = text(browser, "#plan-frr-edge1")
    assert "ip route 203.0.113.9/32 blackhole" in section or "203.0.113.9/32 Null0" in section, section
    assert "commands sent" in section
    screenshot(browser, "plan")


def _cookie(response: httpx.Response, name: str) -> str:
    """The cookie's value from Set-Cookie; it is ``Secure``, so a client on plain-HTTP loopback
    will not send it back by itself (a browser treats 127.0.0.1 as a secure context and does)."""
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    assert "Secure" in header and "HttpOnly" in header and "SameSite=strict" in header
    return header.split(";", 1)[0].split("=", 1)[1]


def _session(serve: dict, c: httpx.Client) -> str:
    nonce = _cookie(c.get("/console/login"), "enforcer_login_csrf")
    r = c.post("/console/login", data={"token": serve["tokens"]["operator"], "csrf": nonce},
               headers={"Cookie": f"enforcer_login_csrf={nonce}"})
    assert r.status_code == 303, r.text
    return _cookie(r, "enforcer_session")


def test_a_form_without_the_sessions_csrf_token_changes_nothing(serve):
    with httpx.Client(base_url=serve["url"]) as c:
        session = {"Cookie": f"enforcer_session={_session(serve, c)}"}
        assert c.get("/console/approvals", headers=session).status_code == 200
        hook(serve, {"target": "203.0.112.0/23", "violation": "ddos-victim", "ttl": "1h"})
        (held,) = [d for d in service.list_decisions(serve["ctx"]) if d.status.value == "pending"]
        r = c.post(f"/console/decisions/{held.id}/approve", data={"csrf": "forged"}, headers=session)
        assert r.status_code == 303 and "csrf" in r.headers["location"]
    assert serve["ctx"].store.get_decision(held.id).status.value == "pending"


def test_login_with_a_wrong_token_is_refused_and_pages_need_a_session(serve):
    with httpx.Client(base_url=serve["url"]) as c:
        assert c.get("/console/active").status_code == 303
        nonce = _cookie(c.get("/console/login"), "enforcer_login_csrf")
        r = c.post("/console/login", data={"token": "enf_wrong", "csrf": nonce},
                   headers={"Cookie": f"enforcer_login_csrf={nonce}"})
        assert r.status_code == 401 and "token: unknown or revoked token" in r.text
        assert c.get("/console/active", headers={"Cookie": "enforcer_session=forged.1.2.3"}).status_code == 303


def test_a_detector_token_is_refused_at_login_and_gets_no_session(serve):
    with httpx.Client(base_url=serve["url"]) as c:
        nonce = _cookie(c.get("/console/login"), "enforcer_login_csrf")
        r = c.post(
            "/console/login",
            data={"token": serve["tokens"]["detector"], "csrf": nonce},
            headers={"Cookie": f"enforcer_login_csrf={nonce}"},
        )
        assert r.status_code == 403 and "the console needs a reader or operator token" in r.text
        assert not any(h.startswith("enforcer_session=") for h in r.headers.get_list("set-cookie"))


def test_after_logout_the_copied_session_cookie_replayed_over_http_gets_the_login_page(serve):
    with httpx.Client(base_url=serve["url"]) as c:
        session = {"Cookie": f"enforcer_session={_session(serve, c)}"}  # the browser's, and whoever copied it
        page = c.get("/console/active", headers=session)
        assert page.status_code == 200
        [csrf] = set(re.findall(r'name="csrf" value="([^"]+)"', page.text))
        r = c.post("/console/logout", data={"csrf": csrf}, headers=session)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        r = c.get("/console/active", headers=session)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
