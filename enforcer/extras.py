"""Optional stacks and the one-line error that names the extra to install.

The core install (render, plan, the CLI's decision commands, offline devices) needs only Jinja2,
pydantic, Typer, Rich, SQLAlchemy and PyYAML. Vendor drivers, the OpenFlow controller, the HTTP
service and PostgreSQL are extras, so an operator who renders configs in CI does not pull NAPALM,
os-ken and eventlet. Every import of an optional library is lazy; when one fails, the module it
names is looked up here and the user is told which extra brings it, not shown a traceback.
"""

from __future__ import annotations

from .model import EnforcerError

#: Top-level module → the extra (``pip install 'enforcer[EXTRA]'``) that installs it.
EXTRA_FOR_MODULE = {
    "napalm": "napalm",
    "netmiko": "napalm",
    "ncclient": "napalm",
    "paramiko": "napalm",
    "os_ken": "openflow",
    "eventlet": "openflow",
    "fastapi": "server",
    "uvicorn": "server",
    "starlette": "server",
    "prometheus_client": "server",
    "psycopg": "postgres",
}


class MissingExtra(EnforcerError):
    """An optional library is not installed; the message names the extra that brings it."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra, self.module = extra, module
        super().__init__(f"{module} is not installed: pip install 'enforcer[{extra}]'")


def missing_extra(exc: ImportError) -> MissingExtra | None:
    """The :class:`MissingExtra` behind ``exc`` when it is an optional library, else None (a real bug)."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_FOR_MODULE.get(top)
    return MissingExtra(extra, top) if extra else None
