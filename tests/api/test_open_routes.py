"""Only ``/healthz`` and ``/metrics`` answer without a token.

The spec maps every route and its limits, so ``/openapi.json`` needs a token (a reader's will do)
and the ``/docs`` and ``/redoc`` pages are off unless ``enforcer serve --docs`` turns them on for
a test bench. Every route the app has is tried, so a new one cannot open up unnoticed.
"""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from starlette.routing import Route

from enforcer.api.app import create_app
from enforcer.settings import REPO_ROOT

from .conftest import auth

OPEN = {"/healthz", "/metrics"}


def _requests(app) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        if isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            out += [(method, path) for method in sorted(route.methods or ())]
    return out


def test_every_route_but_healthz_and_metrics_needs_a_token(client):
    tried = _requests(client.app)
    assert {p for _, p in tried} >= OPEN | {"/openapi.json", "/v1/decisions", "/v1/hooks/fastnetmon"}
    for method, path in tried:
        r = client.request(method, path)
        if path in OPEN:
            assert r.status_code == 200, f"{method} {path}: {r.status_code}"
        else:
            assert r.status_code == 401, f"{method} {path} answered {r.status_code} without a token"


def test_the_spec_needs_a_reader_token_and_the_doc_pages_are_off(client, tokens):
    assert client.get("/openapi.json").status_code == 401
    r = client.get("/openapi.json", headers=auth(tokens["reader"]))
    assert r.status_code == 200
    assert r.json() == json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(page).status_code == 404, page
        assert client.get(page, headers=auth(tokens["reader"])).status_code == 404, page


def test_serve_docs_opens_the_pages_and_the_spec_for_a_test_bench(ctx):
    with TestClient(create_app(lambda: ctx, docs=True)) as c:
        assert "swagger-ui" in c.get("/docs").text
        assert "redoc" in c.get("/redoc").text
        assert c.get("/openapi.json").json()["info"]["title"] == "enforcer"
        assert c.get("/v1/decisions").status_code == 401
