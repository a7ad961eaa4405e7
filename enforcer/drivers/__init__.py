"""Device transports: one :class:`~enforcer.drivers.base.Driver` per way of reaching a device.

The names below load on first use (PEP 562), not when the package is imported: the router-side
shell (:mod:`enforcer.drivers.frr_shell`) lives in this package and runs on every SSH exec, so
importing the package must not pull in pydantic, the inventory or any driver library.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Driver": ".base",
    "DriverError": ".base",
    "extract_managed": ".base",
    "REGISTRY": ".registry",
    "driver_class": ".registry",
    "get_driver": ".registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
