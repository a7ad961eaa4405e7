"""Start the controller in this process: os-ken's AppManager, the enforcer app, the control socket.

os-ken 4.x has no ``osken-manager``; an application is loaded and run through
:class:`os_ken.base.app_manager.AppManager` (docs/lab-facts.md). Blocks until the process is stopped.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

from .. import controller as _hub_choice  # noqa: F401 - selects the eventlet hub before os-ken loads
from .app import Desired, Devices, EnforcerController, Lease

LOG = logging.getLogger("enforcer.controller")


def configure(ofp_host: str, ofp_port: int) -> None:
    """os-ken reads its listen address from oslo.config; parse an empty command line, then override."""
    import os_ken.base.app_manager  # noqa: F401 - registers the controller's options first
    from os_ken import cfg

    if cfg.CONF._namespace is None:  # not parsed yet
        cfg.CONF(args=[], project="os_ken")
    cfg.CONF.set_override("ofp_listen_host", ofp_host)
    cfg.CONF.set_override("ofp_tcp_listen_port", ofp_port)


def start(
    desired: Desired,
    devices: Devices,
    ofp_host: str = "127.0.0.1",
    ofp_port: int = 6653,
    control: Path | None = None,
    resync_interval: float = 0.0,
    lease: Lease | None = None,
) -> tuple[EnforcerController, list[Any]]:
    """Instantiate and start everything; returns the app and the green threads to join."""
    from os_ken.base.app_manager import AppManager
    from os_ken.lib import hub

    configure(ofp_host, ofp_port)
    manager = AppManager.get_instance()
    manager.load_apps(["os_ken.controller.ofp_handler"])
    contexts = manager.create_contexts()
    app = manager.instantiate(EnforcerController, desired=desired, devices=devices, lease=lease, **contexts)
    threads = manager.instantiate_apps(**contexts)
    if control is not None:
        from .server import serve

        threads.append(serve(app, control))
        LOG.info("control API on unix:%s", control)
    if resync_interval > 0:

        def periodic() -> None:
            while True:
                hub.sleep(resync_interval)
                try:
                    for report in app.sync_all():
                        if not report.ok or report.changes:
                            LOG.info("periodic resync: %s", report.as_dict())
                except Exception:  # noqa: BLE001 - logged; the next round tries again
                    LOG.exception("periodic resync failed")

        threads.append(hub.spawn(periodic))
    LOG.info("OpenFlow 1.3/1.4 controller listening on %s:%d", ofp_host, ofp_port)
    return app, threads


def run(desired: Desired, devices: Devices, **kwargs: Any) -> None:
    """Start and block; SIGTERM/SIGINT end the process cleanly."""
    from os_ken.lib import hub

    _, threads = start(desired, devices, **kwargs)

    def stop(*_: object) -> None:
        LOG.info("stopping")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    hub.joinall(threads)


def setup_logging(path: Path | None, level: str = "INFO") -> None:
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
