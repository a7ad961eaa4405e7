"""Where the controller's desired set comes from: the store and the inventory, read at every sync.

The controller holds no desired state of its own (a restart must lose nothing), so each sync asks
:meth:`StoreSource.desired`; the inventory is re-read only when one of its files changed. The
rows come through :class:`enforcer.desired.DesiredState`: one two-column query of the ids and
expiries the switch's role may carry, and models only for rows not read before — with 10,000
flows installed, one more decision no longer rebuilds 10,000 models.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..desired import DesiredState
from ..inventory import Device, Inventory, InventoryError, Platform, load_inventory
from ..lease import device_lease, holder_name
from ..model import now
from ..settings import Settings
from ..store import Store
from .pieces import Wanted

LOG = logging.getLogger("enforcer.controller")


class StoreSource:
    """The desired set for one switch, read fresh from the store and the inventory at every sync."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.db)
        self.rows = DesiredState(self.store)
        self.holder = holder_name("openflow controller")
        self._inventory: tuple[tuple[Any, ...], Inventory] | None = None

    def inventory(self) -> Inventory:
        """Re-read when a file of the inventory folder changed (checked by mtime at every sync)."""
        folder = Path(self.settings.inventory)
        stamp = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.yaml"))) if folder.is_dir() else ()
        if self._inventory is None or self._inventory[0] != stamp:
            self._inventory = (stamp, load_inventory(folder))
        return self._inventory[1]

    def devices(self) -> list[Device]:
        try:
            inv = self.inventory()
        except InventoryError as exc:  # e.g. the lab writes its inventory after starting us
            LOG.warning("inventory %s: %s", self.settings.inventory, exc)
            return []
        return [d for d in inv.devices.values() if d.platform is Platform.OPENFLOW]

    def desired(self, device: Device) -> Wanted:
        """The enforcements ``device``'s section is made of now (the controller renders them in pieces)."""
        at = now()
        inputs = self.rows.inputs(device.role, at)
        return Wanted(inputs.enforcements, self.inventory(), at, inputs.keys)

    def lease(self, device: Device) -> AbstractContextManager[None]:
        """The device's push lease, held by this controller for one of its own syncs."""
        return device_lease(self.store, device.name, self.holder, self.settings.lease_ttl)
