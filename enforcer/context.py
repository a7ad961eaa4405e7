"""The per-process context every command, the API and the controller pass around.

Apart from :mod:`enforcer.decisions` so that a command that only reads (``enforcer render``,
``plan``, ``apply``) opens the store and the inventory without importing the intake stack
(:mod:`enforcer.batch`, :mod:`enforcer.groupcommit`, the playbooks' policy): those are imported
by the first call that needs them (issue 12.5, ``tests/test_cli_imports.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .inventory import Device, Inventory, Transport, load_inventory
from .settings import Settings
from .store import Store

if TYPE_CHECKING:
    from .drivers.base import Driver
    from .groupcommit import GroupCommit
    from .model import Violation
    from .policy import Playbook


@dataclass
class Context:
    """Everything a request needs, loaded once per process (CLI run, API server, controller)."""

    settings: Settings
    store: Store
    _inventory: Inventory | None = None
    _playbooks: dict[Violation, Playbook] | None = None
    driver_factory: Callable[[Device], Driver] | None = field(default=None)
    _groups: dict[bool, GroupCommit] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, settings: Settings) -> Context:
        return cls(settings=settings, store=Store(settings.db))

    def group(self, automatic: bool) -> GroupCommit:
        """The group commit of this process's single submits (operators' and detectors' apart)."""
        from .decisions import submit_many
        from .groupcommit import GroupCommit

        return self._groups.setdefault(automatic, GroupCommit(
            lambda decisions: submit_many(self, decisions, automatic=automatic), queue=self.store.queued))  # fmt: skip

    @cached_property
    def inventory(self) -> Inventory:
        return self._inventory or load_inventory(self.settings.inventory)

    @cached_property
    def playbooks(self) -> dict[Violation, Playbook]:
        from .policy import load_playbooks

        return self._playbooks or load_playbooks(self.settings.playbooks)

    def driver(self, device: Device) -> Driver:
        if self.driver_factory is not None:
            return self.driver_factory(device)
        if device.effective_transport is Transport.OFFLINE:
            from .drivers.offline import OfflineDriver

            return OfflineDriver(
                device, output_dir=self.settings.output, last_applied=self.store.last_applied(device.name)
            )
        from .drivers import get_driver

        return get_driver(device)
