"""Which driver reaches a device: one :class:`~enforcer.drivers.base.Driver` per transport.

``get_driver(device)`` picks the driver from the device's transport (``transport:`` in the
inventory, else its platform's default). Drivers import their libraries lazily, so rendering
and planning offline never need netmiko, NAPALM or os-ken.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..extras import missing_extra
from ..inventory import Device, Transport
from .base import Driver, DriverError

#: Transport → "module:class", imported on first use.
REGISTRY: dict[Transport, str] = {
    Transport.FRR: "enforcer.drivers.frr:FrrDriver",
    Transport.LINUX: "enforcer.drivers.linux:LinuxDriver",
    Transport.NAPALM: "enforcer.drivers.napalm:NapalmDriver",
    Transport.OFFLINE: "enforcer.drivers.offline:OfflineDriver",
    Transport.OPENFLOW: "enforcer.drivers.openflow:OpenFlowDriver",
}


def driver_class(transport: Transport) -> type[Driver]:
    target = REGISTRY[transport]
    module, _, cls = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        missing = missing_extra(exc)
        reason = str(missing) if missing else f"driver {target} is not available ({exc})"
        raise DriverError("-", f"transport {transport.value}: {reason}") from exc
    found = getattr(mod, cls, None)
    if found is None:  # a module written under another class name: take its one Driver subclass
        subclasses = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, Driver) and v is not Driver
                      and v.__module__ == mod.__name__]  # fmt: skip
        found = subclasses[0] if len(subclasses) == 1 else None
    if found is None:
        raise DriverError("-", f"transport {transport.value}: {module} has no {cls}")
    return found


def get_driver(device: Device, **kwargs: Any) -> Driver:
    """The driver for ``device`` (not yet opened); ``kwargs`` go to its constructor (e.g. ``output_dir``)."""
    try:
        cls = driver_class(device.effective_transport)
    except DriverError as exc:
        raise DriverError(device.name, exc.reason) from None
    return cls(device, **kwargs)
