"""Fixtures for tests against the live network-namespace lab (root, FRR, nftables, iperf3).

``lab`` brings one lab up for the whole session under a unique name and tears it down by PID at
the end, even when tests fail. Tests find routers and hosts through ``lab status`` records
(:class:`enforcer.lab.testing.Lab`), never through hard-coded names. ``clean_lab`` puts the lab
back to its freshly-built state after each test that used it, so tests do not leak into each other.
``gobgp_lab`` is a second lab, built on first use, whose customer router speaks GoBGP instead of FRR.

Probes (``ping``, ``tcp_connect``, ``udp_throughput``, ``kernel_route``, ``bgp_table``…) are in
:mod:`enforcer.lab.probes`; section builders (``enforcement``, ``push``) in :mod:`enforcer.lab.testing`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from enforcer.drivers import get_driver
from enforcer.inventory import Transport
from enforcer.lab.testing import Lab, running_lab
from enforcer.store import Base, Store


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (network namespaces, FRR, nftables); run them as root")
    folder = tmp_path_factory.mktemp("lab")
    # The lab's OpenFlow controller pushes from this store: CLI runs against the lab should use lab.db.
    with running_lab(folder / "inventory", db=f"sqlite:///{folder / 'enforcer.db'}") as running:
        yield running


@pytest.fixture(scope="session")
def gobgp_lab(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A second lab whose customer router is GoBGP (Debian gobgpd), for the same tests against
    another BGP implementation. Started after ``lab`` so that its teardown runs first."""
    folder = tmp_path_factory.mktemp("gobgp-lab")
    with running_lab(folder / "inventory", db=f"sqlite:///{folder / 'enforcer.db'}", customer_bgp="gobgp") as running:
        yield running


@pytest.fixture
def lab_db(lab: Lab) -> Iterator[str]:
    """The lab's store, empty, for tests that drive enforcer end to end (CLI, API, hooks).

    It must be the lab's own store: the lab's OpenFlow controller pushes from it, exactly as in
    production. Emptied before the test; afterwards emptied again and every switch resynced, so
    the next test starts from switches without enforcer flows.
    """
    with fresh_store(lab):
        yield lab.db


@contextmanager
def fresh_store(lab: Lab) -> Iterator[None]:
    """``lab``'s store emptied for the block; afterwards emptied again and every switch resynced."""
    assert lab.db is not None
    _empty_store(lab.db)
    try:
        yield
    finally:
        _empty_store(lab.db)
        for device in lab.inventory.devices.values():
            if device.effective_transport is Transport.OPENFLOW:
                with get_driver(device) as driver:
                    driver.sync(full=True)


def _empty_store(url: str) -> None:
    store = Store(url)
    with store.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    store.engine.dispose()


@pytest.fixture(autouse=True)
def clean_lab(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the session lab, undo what it changed on the routers and firewall."""
    yield
    for name in ("gobgp_lab", "lab"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
