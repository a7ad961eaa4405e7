"""Every HTTP endpoint the README and docs name (docs/benchmarks.md aside) is one ``enforcer serve``
answers: asked without a token it is refused or redirected to the login, never a 404 or a 405."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from enforcer import service
from enforcer.api.app import create_app
from enforcer.settings import Settings

from .api.conftest import write_inventory
from .conftest import REPO
from .test_docs_references import _CODE, DOCS, _shell_lines

_PATH = r"/(?:v1|console)(?:/[\w{},|.-]+)*|/healthz|/metrics|/openapi\.json|/docs|/redoc"
_NAMED = re.compile(rf"(?:\b(GET|POST|HEAD|DELETE|PUT) )?(?<![\w.])({_PATH})(?![\w/.-])")
_IN_URL = re.compile(rf"https?://[\w.:@$-]+({_PATH})")


def _endpoints() -> set[tuple[str | None, str]]:
    found = set()
    for doc in DOCS:
        text = doc.read_text()
        spans = _CODE.findall(re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))
        for span in spans:
            found |= {(m.group(1), m.group(2)) for m in _NAMED.finditer(span) if not span.startswith(("docs/", "/tmp"))}
        for line in _shell_lines(text) + re.findall(
            r"^\s+(?:- )?(?:url|hooks:|default:|api_url:).*$", text, flags=re.M
        ):
            found |= {(None, p) for p in _IN_URL.findall(line)}
    out = set()
    for method, path in found:
        if m := re.search(r"\{([^}]*,[^}]*)\}", path):  # a shell brace list: each name
            found_here = [path[: m.start()] + name + path[m.end() :] for name in m.group(1).split(",")]
        else:
            found_here = [path]
        for one in found_here:
            parts = re.sub(r"\{[^}]+\}", "1", one).split("/")  # a parameter: any id
            out |= {(method, "/".join([*parts[:-1], tail])) for tail in parts[-1].split("|")}
    return out


ENDPOINTS = sorted(_endpoints(), key=lambda e: (e[1], e[0] or ""))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("endpoints")
    ctx = service.Context.open(Settings(inventory=write_inventory(tmp), db=f"sqlite:///{tmp / 'e.db'}",
                                        playbooks=REPO / "playbooks", templates=REPO / "templates",
                                        output=tmp / "out"))  # fmt: skip
    with TestClient(create_app(lambda: ctx, reconcile=False, docs=True), base_url="https://testserver") as c:
        yield c


def test_the_docs_name_the_endpoints_a_reader_needs():
    paths = {p for _, p in ENDPOINTS}
    assert {"/v1/decisions", "/v1/hooks/fastnetmon", "/v1/counters", "/console/events", "/metrics"} <= paths


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=lambda v: v or "")
def test_every_endpoint_a_doc_names_exists(client, method, path):
    methods = [method] if method else ["GET", "POST"]
    answers = {m: client.request(m, path, follow_redirects=False).status_code for m in methods}
    assert any(code not in (404, 405) for code in answers.values()), answers
