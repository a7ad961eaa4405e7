"""docs/console.md's claims that its named tests (the browser, the lab, tests/test_counters.py,
tests/test_notify.py) do not state: the console session's cookie, the counter cache, the seed
playbooks' idle settings, the lift's audit entry, and the notice configuration example as written."""

from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, select

from enforcer import service
from enforcer.api.tokens import create_token, list_tokens, revoke_token
from enforcer.console.session import LIFETIME, Sessions
from enforcer.counters import Counter, CounterCache, Sampler, lift_idle
from enforcer.inventory import InventoryError, load_inventory
from enforcer.model import Decision, Violation
from enforcer.policy import load_playbooks
from enforcer.settings import Settings
from enforcer.tables import EndedSessionRow

from .conftest import EXAMPLE_INVENTORY, REPO

DOC = (REPO / "docs" / "console.md").read_text()
FLAT = " ".join(DOC.split())  # the doc's sentences whatever their line breaks


@pytest.fixture
def ctx(tmp_path: Path) -> service.Context:
    return service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=f"sqlite:///{tmp_path / 'e.db'}"))


def _token(ctx, name: str = "noc-alice"):
    secret = create_token(ctx.store, name, "operator")
    return secret, next(t for t in list_tokens(ctx.store) if t.name == name)


def test_the_session_cookie_names_the_token_never_its_secret_and_lasts_12_hours(ctx):
    assert "12 hours" in DOC and LIFETIME == 12 * 3600
    secret, token = _token(ctx)
    sessions = Sessions(b"k" * 32)
    cookie = sessions.make(token, at=1_000_000.0)
    assert secret not in cookie and secret.removeprefix("enf_") not in cookie
    assert sessions.check(cookie, ctx.store, at=1_000_000.0 + LIFETIME - 1).name == "noc-alice"
    assert sessions.check(cookie, ctx.store, at=1_000_000.0 + LIFETIME + 1) is None


def test_a_session_dies_with_its_tokens_revocation(ctx):
    _, token = _token(ctx)
    sessions = Sessions(b"k" * 32)
    cookie = sessions.make(token)
    assert sessions.check(cookie, ctx.store) is not None
    revoke_token(ctx.store, "noc-alice")
    assert sessions.check(cookie, ctx.store) is None


def test_a_cookie_signed_with_another_key_or_edited_opens_nothing(ctx):
    _, token = _token(ctx)
    cookie = Sessions(b"k" * 32).make(token)
    assert Sessions(b"j" * 32).check(cookie, ctx.store) is None
    name, rest = cookie.split(".", 1)
    forged = f"{name}.{rest[:-1]}{'0' if rest[-1] != '0' else '1'}"
    assert Sessions(b"k" * 32).check(forged, ctx.store) is None


def test_a_cookie_from_before_session_ids_is_refused(ctx):
    assert "A cookie made before session ids existed has none to record and is refused" in FLAT
    _, token = _token(ctx)
    sessions = Sessions(b"k" * 32)
    payload = ".".join(sessions.make(token).split(".")[:3])  # name, stamp, expiry: what such a cookie signed
    assert sessions.check(f"{payload}.{sessions._sign(payload)}", ctx.store) is None


def test_enforcer_console_secret_makes_sessions_survive_a_restart_and_span_instances(ctx, monkeypatch):
    _, token = _token(ctx)
    assert Sessions().check(Sessions().make(token), ctx.store) is None  # a random key per process
    monkeypatch.setenv("ENFORCER_CONSOLE_SECRET", "shared between instances")
    assert Sessions().check(Sessions().make(token), ctx.store).name == "noc-alice"


def _ended(store) -> list[str]:
    """The session ids the store holds as logged out."""
    with store.session() as s:
        return list(s.scalars(select(EndedSessionRow.sid)))


def test_a_logout_record_is_swept_once_its_cookie_would_have_expired(ctx):
    assert "a record is swept once its cookie would have expired" in FLAT
    _, token = _token(ctx)
    sessions = Sessions(b"k" * 32)
    first = sessions.make(token, at=1_000_000.0)
    sessions.end(first, ctx.store, at=1_000_010.0)
    assert sessions.check(first, ctx.store, at=1_000_020.0) is None
    assert _ended(ctx.store) == [first.split(".")[3]]
    later = 1_000_000.0 + LIFETIME + 1  # the first cookie is dead by itself now
    second = sessions.make(token, at=later)
    sessions.end(second, ctx.store, at=later)
    assert _ended(ctx.store) == [second.split(".")[3]]  # the first's record went with this logout


def test_counter_reads_are_cached_for_10_seconds(ctx, monkeypatch):
    assert "Reads are cached for 10 s." in DOC
    reads = []
    monkeypatch.setattr("enforcer.counters.read_counters", lambda _ctx: reads.append(1) or {})
    cache = CounterCache(ctx)
    cache.read(at=100.0)
    cache.read(at=109.9)
    assert len(reads) == 1
    cache.read(at=110.0)
    assert len(reads) == 2


def test_the_seed_playbooks_keep_the_default_idle_flag_and_none_lifts_idle_blocks():
    assert "flag_idle_after` (default `10m`" in DOC
    for violation, book in load_playbooks(REPO / "playbooks").items():
        assert book.flag_idle_after == timedelta(minutes=10), violation
        assert book.lift_when_idle is None, violation


def test_an_idle_lift_is_audited_as_actor_enforcer_source_counters(ctx):
    books = dict(ctx.playbooks)
    books[Violation.DDOS_VICTIM] = books[Violation.DDOS_VICTIM].model_copy(
        update={"lift_when_idle": timedelta(minutes=30)})  # fmt: skip
    ctx.__dict__["playbooks"] = books  # as if playbooks/ddos-victim.yaml said `lift_when_idle: 30m`
    d = Decision.model_validate({"target": "203.0.113.7", "violation": "ddos-victim", "actor": "noc", "source": "cli"})
    victim = service.submit(ctx, d).decision_id
    sampler = Sampler(idle=600)
    sampler.observe({victim: Counter(packets=4000, bytes=10**6)}, at=0)
    assert lift_idle(ctx, sampler, at=1801) == [victim]
    [entry] = [e for e in ctx.store.history(decision_id=victim) if e.action == "unblock"]
    assert (entry.actor, entry.source) == ("enforcer", "counters")


def _notice_example() -> tuple[dict, dict]:
    [block] = re.findall(r"```yaml\n(# customers.yaml\n.*?)```", DOC, flags=re.S)
    customers, settings = block.split("# settings.yaml\n")
    return yaml.safe_load(customers), yaml.safe_load(settings)


def test_the_notice_configuration_example_loads_as_written(tmp_path: Path):
    customers, settings = _notice_example()
    inv = shutil.copytree(EXAMPLE_INVENTORY, tmp_path / "inventory")
    for name, extra in (("customers.yaml", customers), ("settings.yaml", settings)):
        loaded = yaml.safe_load((inv / name).read_text())
        for key, value in extra.items():
            loaded[key] = {**loaded[key], **value} if name == "customers.yaml" else value
        (inv / name).write_text(yaml.safe_dump(loaded))
    got = load_inventory(inv)
    globex = got.customers["globex"]
    assert (globex.abuse_contact, globex.notices, globex.notices_opt_out) == (
        "abuse@globex.example.net", True, (Violation.PHISHING,))  # fmt: skip
    n = got.notices
    assert (n.enabled, n.sender, n.opt_out) == (True, "abuse-desk@provider.example.net", (Violation.DDOS_VICTIM,))
    assert (n.smtp.host, n.smtp.port, n.smtp.starttls, n.smtp.timeout) == ("127.0.0.1", 25, False, 10)
    assert n.smtp == type(n.smtp)()  # the example's relay settings are the defaults


def test_a_bad_abuse_contact_is_refused_at_load_naming_customers_yaml_and_the_field(tmp_path: Path):
    assert "exit 2 naming customers.yaml: globex.abuse_contact" in DOC
    inv = shutil.copytree(EXAMPLE_INVENTORY, tmp_path / "inventory")
    loaded = yaml.safe_load((inv / "customers.yaml").read_text())
    loaded["globex"]["abuse_contact"] = "abuse at globex"
    (inv / "customers.yaml").write_text(yaml.safe_dump(loaded))
    with pytest.raises(InventoryError, match=r"customers\.yaml: globex\.abuse_contact"):
        load_inventory(inv)


def test_the_pages_refresh_every_10_s_without_javascript_and_poll_every_2_s_without_a_stream():
    assert "(a `<noscript>` refresh every 10 s)" in DOC and "the page polls every 2 s" in DOC
    base = (REPO / "enforcer" / "console" / "templates" / "base.html").read_text()
    script = (REPO / "enforcer" / "console" / "static" / "console.js").read_text()
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in base
    assert re.search(r'dataset\.live === "poll"\) refresh\(\); \}, 2000\)', script)
    assert re.search(r"setInterval\(tick, 1000\)", script)  # the countdowns tick each second


@pytest.fixture
def console(tmp_path: Path):
    """tests/api's app over HTTPS (the session cookie is ``Secure``), its tokens by scope."""
    from fastapi.testclient import TestClient

    from enforcer.api.app import create_app

    from .api.conftest import write_inventory

    settings = Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'api.db'}",
                        playbooks=REPO / "playbooks", templates=REPO / "templates", output=tmp_path / "out")  # fmt: skip
    api_ctx = service.Context.open(settings)
    secrets = {scope: create_token(api_ctx.store, f"{scope}-1", scope, ("ddos-outbound",) * (scope == "detector"))
               for scope in ("operator", "reader", "detector")}  # fmt: skip
    with TestClient(create_app(lambda: api_ctx, reconcile=False), base_url="https://testserver") as client:
        yield client, api_ctx, secrets


def _session(client, store, scope: str) -> str:
    """Log ``scope``'s token in as the browser would: the session cookie is set, its CSRF token returned."""
    token = next(t for t in list_tokens(store) if t.name == f"{scope}-1")
    cookie = client.app.state.sessions.make(token)
    client.cookies.set("enforcer_session", cookie, domain="testserver.local", path="/console")
    return client.app.state.sessions.csrf(cookie)


def _log_in(client, secret: str):
    """The login form as a browser fills it in: its double-submit nonce, then the token posted."""
    client.cookies.clear()
    nonce = client.get("/console/login").cookies["enforcer_login_csrf"]
    return client.post("/console/login", data={"token": secret, "csrf": nonce}, follow_redirects=False)


def test_only_an_operator_session_may_approve_a_held_decision(console):
    client, api_ctx, secrets = console
    r = client.post("/v1/decisions", json={"target": "203.0.112.0/23", "violation": "ddos-outbound"},
                    headers={"Authorization": f"Bearer {secrets['detector']}"})  # fmt: skip
    assert r.status_code == 201 and r.json()["pending"], r.text
    held = r.json()["decision_id"]
    csrf = _session(client, api_ctx.store, "reader")
    r = client.post(f"/console/decisions/{held}/approve", data={"csrf": csrf, "reason": "looks right"})
    assert "a reader session cannot approve; it needs operator" in r.text
    csrf = _session(client, api_ctx.store, "detector")
    r = client.post(f"/console/decisions/{held}/approve", data={"csrf": csrf, "reason": "looks right"})
    assert r.status_code == 403 and "the console needs a reader or operator token" in r.text
    assert api_ctx.store.get_decision(held).status.value == "pending"
    csrf = _session(client, api_ctx.store, "operator")
    client.post(f"/console/decisions/{held}/approve", data={"csrf": csrf, "reason": "checked"})
    assert api_ctx.store.get_decision(held).status.value == "active"


def _pages() -> list[tuple[str, str]]:
    """The console's pages as the doc's table lists them, each with its screenshot."""
    pages = re.findall(r"^\| `(/console/\w+)` \| .* \| `(docs/console/[\w-]+\.png)` \|$", DOC, flags=re.M)
    assert len(pages) == 5
    return pages


def test_every_page_the_table_lists_answers_reader_and_operator_sessions_and_has_its_screenshot(console):
    client, api_ctx, _ = console
    pages = _pages()
    assert "a reader's or an operator's, opens a session that reads every page" in FLAT
    for scope in ("operator", "reader"):
        _session(client, api_ctx.store, scope)
        for path, screenshot in pages:
            r = client.get(path)
            assert r.status_code == 200 and "<main" in r.text, (scope, path)
            assert (REPO / screenshot).is_file(), screenshot
    client.cookies.clear()
    assert all(client.get(path, follow_redirects=False).status_code in (303, 401) for path, _ in pages)


def test_a_detector_token_is_refused_at_login_with_why_and_the_refusal_is_audited(console):
    client, api_ctx, secrets = console
    assert (
        "A detector token cannot log in (403, audited as `forbidden`, source `console`, at most one entry a "
        "minute per address and token, as the API's refusals)"
    ) in FLAT
    r = _log_in(client, secrets["detector"])
    assert r.status_code == 403 and "enforcer_session" not in r.cookies
    assert "token: a detector token is a machine credential" in r.text
    assert "the console needs a reader or operator token" in r.text
    assert 'name="csrf"' in r.text and r.cookies.get("enforcer_login_csrf")  # the form, ready for another token
    [entry] = [e for e in api_ctx.store.history() if e.action == "forbidden"]
    assert (entry.actor, entry.source, entry.target) == ("detector-1", "console", "/console/login")
    assert _log_in(client, secrets["detector"]).status_code == 403  # again, within the minute: counted, not written
    assert [e.action for e in api_ctx.store.history()].count("forbidden") == 1
    assert client.get("/console/active", follow_redirects=False).status_code == 303  # still no session


def test_a_wrong_token_at_login_is_refused_and_audited_as_the_apis_401s(console):
    client, api_ctx, _ = console
    assert (
        "A login with an unknown or revoked token, or from a stale form, gets 401 and is audited as "
        "`auth-failed`, actor `anonymous`, source `console`, under the same one-entry-a-minute rule"
    ) in FLAT
    r = _log_in(client, "not-a-token")
    assert r.status_code == 401 and "enforcer_session" not in r.cookies
    [entry] = [e for e in api_ctx.store.history() if e.action == "auth-failed"]
    assert (entry.actor, entry.source, entry.target) == ("anonymous", "console", "/console/login")
    assert "unknown or revoked token" in entry.reason
    assert _log_in(client, "still-not-a-token").status_code == 401  # within the minute: counted, not written
    assert [e.action for e in api_ctx.store.history()].count("auth-failed") == 1


def test_a_detector_session_reads_no_console_page(console):
    """A session made before the rule (or by a key that signed one anyway) is refused page by page."""
    client, api_ctx, _ = console
    assert "a detector's session, should one exist, is refused every page" in FLAT
    for path, _ in [*_pages(), ("/console/events", "")]:
        _session(client, api_ctx.store, "detector")
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 403 and "session: a detector token is a machine credential" in r.text, path
        assert "<nav>" not in r.text and "Log out" not in r.text, path  # none of the page's content
        assert 'enforcer_session=""' in r.headers["set-cookie"], path  # and the cookie is cleared


def test_the_history_page_filters_by_action_actor_target_and_case(console):
    client, api_ctx, _ = console
    for target, actor in (("203.0.113.7", "alice"), ("203.0.113.8", "bob")):
        d = Decision.model_validate({"target": target, "violation": "spam", "actor": actor, "source": "cli"})
        service.submit(api_ctx, d)
    [first] = [r.id for r in service.list_decisions(api_ctx) if str(r.target) == "203.0.113.7/32"]
    _session(client, api_ctx.store, "operator")

    def rows(**query) -> list[str]:
        page = client.get("/console/history", params=query).text
        found = re.findall(r"<tr>.*?</tr>", page[page.index("<tbody") :], flags=re.S)
        return [row for row in found if 'class="empty"' not in row]

    for query in ({"actor": "ALI"}, {"target": "203.0.113.7"}, {"decision": str(first)}):
        got = rows(action="block", **query)
        assert len(got) == 1 and "203.0.113.7" in got[0] and "203.0.113.8" not in got[0], query
    assert len(rows(action="block")) == 2
    assert rows(action="unblock") == []


def test_every_form_that_posts_carries_a_csrf_token_and_the_login_form_a_double_submit_cookie(console):
    client, api_ctx, secrets = console
    r = client.post("/v1/decisions", json={"target": "203.0.112.0/23", "violation": "ddos-outbound"},
                    headers={"Authorization": f"Bearer {secrets['detector']}"})  # fmt: skip
    assert r.json()["pending"]
    csrf = _session(client, api_ctx.store, "operator")
    page = client.get("/console/approvals").text
    forms = re.findall(r'<form[^>]*method="post".*?</form>', page, flags=re.S)
    assert len(forms) >= 3  # approve, reject, logout
    assert all(f'name="csrf" value="{csrf}"' in form for form in forms), forms
    client.cookies.clear()
    login = client.get("/console/login")
    [nonce] = re.findall(r'name="csrf" value="([^"]+)"', login.text)
    assert login.cookies.get("enforcer_login_csrf") == nonce


def _csrf_of(page: str) -> str:
    [csrf] = set(re.findall(r'name="csrf" value="([^"]+)"', page))
    return csrf


def _replay(client, cookie: str) -> None:
    """Present ``cookie`` alone, as whoever copied it would."""
    client.cookies.clear()
    client.cookies.set("enforcer_session", cookie, domain="testserver.local", path="/console")


def _to_login(response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/console/login")


def test_after_logout_a_copy_of_the_session_cookie_opens_nothing(console):
    client, api_ctx, secrets = console
    assert "a copy of the cookie replayed after logout gets the login page" in FLAT
    assert _log_in(client, secrets["operator"]).status_code == 303
    cookie = client.cookies["enforcer_session"]
    page = client.get("/console/active")
    assert page.status_code == 200
    r = client.post("/console/logout", data={"csrf": _csrf_of(page.text)}, follow_redirects=False)
    assert _to_login(r) and 'enforcer_session=""' in r.headers["set-cookie"]
    _replay(client, cookie)
    for path in ("/console/active", "/console/history", "/console/approvals", "/console/events"):
        assert _to_login(client.get(path, follow_redirects=False)), path
    assert _to_login(client.post("/console/logout", data={"csrf": _csrf_of(page.text)}, follow_redirects=False))
    [entry] = [e for e in api_ctx.store.history() if e.action == "console-logout"]
    assert (entry.actor, entry.source) == ("operator-1", "console")


def test_revoking_the_token_still_ends_its_open_console_session(console):
    client, api_ctx, secrets = console
    assert _log_in(client, secrets["reader"]).status_code == 303
    assert client.get("/console/active").status_code == 200
    revoke_token(api_ctx.store, "reader-1")
    assert _to_login(client.get("/console/active", follow_redirects=False))


BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("ENFORCER_TEST_PG") else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_session_logged_out_on_one_instance_is_refused_by_another_on_the_same_store(backend, tmp_path, monkeypatch):
    """Two apps on one store and one ``ENFORCER_CONSOLE_SECRET`` (PostgreSQL: several instances)."""
    from fastapi.testclient import TestClient

    from enforcer.api.app import create_app

    from .api.conftest import write_inventory

    assert "every instance sharing the store refuses it" in FLAT
    monkeypatch.setenv("ENFORCER_CONSOLE_SECRET", "shared between instances")
    db = f"sqlite:///{tmp_path / 'shared.db'}" if backend == "sqlite" else os.environ["ENFORCER_TEST_PG"]
    if backend == "postgres":
        engine = create_engine(db)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    settings = Settings(inventory=write_inventory(tmp_path), db=db, playbooks=REPO / "playbooks",
                        templates=REPO / "templates", output=tmp_path / "out")  # fmt: skip
    first, second = service.Context.open(settings), service.Context.open(settings)
    secret = create_token(first.store, "noc-alice", "operator")
    with (
        TestClient(create_app(lambda: first), base_url="https://testserver") as a,
        TestClient(create_app(lambda: second), base_url="https://testserver") as b,
    ):
        cookies = []
        for _ in range(2):  # two sessions, two browsers
            assert _log_in(a, secret).status_code == 303
            cookies.append(a.cookies["enforcer_session"])
        ended, kept = cookies
        _replay(a, ended)
        page = a.get("/console/active")
        assert page.status_code == 200
        assert _to_login(a.post("/console/logout", data={"csrf": _csrf_of(page.text)}, follow_redirects=False))
        _replay(b, ended)
        assert _to_login(b.get("/console/active", follow_redirects=False))
        _replay(b, kept)
        assert b.get("/console/active", follow_redirects=False).status_code == 200  # the other session lives on
    for ctx in (first, second):
        ctx.store.engine.dispose()
