"""An API on a temporary store and a small offline inventory: one FRR edge, one nftables edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from enforcer import service
from enforcer.api.app import create_app
from enforcer.api.tokens import create_token
from enforcer.settings import REPO_ROOT, Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hooks"

HOSTS = """
edge1:
  platform: frr
  role: edge
  transport: offline
  bgp_asn: 64500
fw1:
  platform: nftables
  role: edge
  transport: offline
"""
CUSTOMERS = """
cust-b:
  name: Customer B
  asn: 64511
  prefixes: [192.0.2.0/24]
  attachments:
    - device: edge1
      neighbor: 192.0.2.1
"""
SETTINGS = """
guardrails:
  protected: [198.51.100.200/29]
  own_space: [203.0.113.0/24]
"""


def write_inventory(root: Path) -> Path:
    inv = root / "inventory"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(HOSTS)
    (inv / "customers.yaml").write_text(CUSTOMERS)
    (inv / "settings.yaml").write_text(SETTINGS)
    return inv


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        inventory=write_inventory(tmp_path),
        db=f"sqlite:///{tmp_path / 'enforcer.db'}",
        playbooks=REPO_ROOT / "playbooks",
        templates=REPO_ROOT / "templates",
        output=tmp_path / "out",
    )


@pytest.fixture
def ctx(settings: Settings) -> service.Context:
    return service.Context.open(settings)


@pytest.fixture
def tokens(ctx: service.Context) -> dict[str, str]:
    """One token of each kind; the detector may submit ddos and spam categories only."""
    return {
        "operator": create_token(ctx.store, "noc", "operator"),
        "reader": create_token(ctx.store, "dashboard", "reader"),
        "detector": create_token(ctx.store, "fastnetmon-1", "detector",
                                 ("ddos-victim", "ddos-outbound", "spam", "bgp-hijack")),
    }


def _client(ctx: service.Context, reconcile: bool) -> TestClient:
    return TestClient(create_app(lambda: ctx, reconcile=reconcile, interval=3600, coalesce=0.3))


@pytest.fixture
def client(ctx: service.Context, tokens: dict[str, str]):
    with _client(ctx, reconcile=False) as c:
        yield c


@pytest.fixture
def served(ctx: service.Context, tokens: dict[str, str]):
    """The app with its reconcile loop running, as ``enforcer serve`` runs it."""
    with _client(ctx, reconcile=True) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())
