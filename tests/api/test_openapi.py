"""The committed OpenAPI document is the one the app serves: an API change without a spec update fails here."""

from __future__ import annotations

import json

from enforcer.api.spec import openapi, render
from enforcer.settings import REPO_ROOT

from .conftest import auth

COMMITTED = REPO_ROOT / "docs" / "openapi.json"


def test_committed_spec_equals_the_apps_current_spec():
    assert COMMITTED.read_text() == render(), "run: python -m enforcer.api.spec > docs/openapi.json"


def test_served_spec_is_the_committed_one(client, tokens):
    assert client.get("/openapi.json", headers=auth(tokens["reader"])).json() == json.loads(COMMITTED.read_text())


def test_every_operation_documents_its_json_errors():
    spec = openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/"):
                assert {"401", "422"} <= set(op["responses"]), f"{method.upper()} {path}"
                if method in ("post", "delete"):
                    assert {"403", "409"} <= set(op["responses"]), f"{method.upper()} {path}"
