"""``enforcer lab up | down | status | hijack | env``: thin wrappers around :mod:`enforcer.lab.lifecycle`."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..settings import REPO_ROOT, Settings
from .proc import LabError
from .topology import DEFAULT_NAME, HIJACK_PREFIX

lab_app = typer.Typer(
    help="The network-namespace lab: FRR edge, upstream and customer routers, hosts, nftables (needs root).",
    no_args_is_help=True,
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")

NameOpt = Annotated[
    str, typer.Option("--name", "-n", help="Lab name: prefix of every namespace and directory, so labs coexist.")
]
DirOpt = Annotated[
    Path | None, typer.Option("--dir", help="State directory (default /run/enforcer-lab/NAME).", show_default=False)
]


def _lifecycle():  # noqa: ANN202 - the module
    """:mod:`enforcer.lab.lifecycle`, imported by the command that runs: it pulls in every lab
    daemon's module, which ``enforcer block`` must not wait for (see enforcer/cli.py)."""
    from . import lifecycle

    return lifecycle


def register(app: typer.Typer) -> None:
    """Add the ``lab`` sub-app to the main ``enforcer`` app."""
    app.add_typer(lab_app, name="lab")


def _check(name: str) -> None:
    if not _NAME.match(name):
        _fail(f"--name: {name!r}: use 1-16 lowercase letters, digits or '-'")
    if os.geteuid() != 0:
        _fail("the lab needs root (network namespaces, FRR, sshd)")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _log(text: str) -> None:
    typer.echo(text, err=True)


@lab_app.command()
def up(
    ctx: typer.Context,
    name: NameOpt = DEFAULT_NAME,
    dir: DirOpt = None,
    inventory_out: Annotated[
        Path, typer.Option("--inventory-out", help="Where to write the lab's inventory.")
    ] = REPO_ROOT / "inventory" / "lab",
    customer_bgp: Annotated[
        str, typer.Option("--customer-bgp", help="The customer router's BGP speaker: frr or gobgp (GoBGP 3.10).")
    ] = "frr",
) -> None:
    """Build the lab (idempotent) and write its inventory.

    The lab's OpenFlow controller reads the same store as the CLI (``--db`` / ``ENFORCER_DB``).
    """
    _check(name)
    if customer_bgp not in _lifecycle().CUSTOMER_BGP:
        _fail(f"--customer-bgp: {customer_bgp!r} is not one of {', '.join(_lifecycle().CUSTOMER_BGP)}")
    settings = ctx.find_root().obj if isinstance(ctx.find_root().obj, Settings) else Settings.from_env()
    try:
        _lifecycle().up(name, dir, inventory_out, log=_log, db=settings.db, customer_bgp=customer_bgp)
    except LabError as exc:
        _fail(str(exc))
    _log(f'inventory: {inventory_out}  (credentials: eval "$(enforcer lab env --name {name})")')


@lab_app.command()
def down(name: NameOpt = DEFAULT_NAME, dir: DirOpt = None) -> None:
    """Stop every lab process by PID and delete the lab's namespaces."""
    _check(name)
    _lifecycle().down(name, dir, log=_log)


@lab_app.command()
def status(
    name: NameOpt = DEFAULT_NAME,
    dir: DirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the nodes as JSON.")] = False,
) -> None:
    """The lab's nodes: name, namespace, role, addresses, customer, management endpoint."""
    nodes = _lifecycle().status(name, dir)
    if as_json:
        typer.echo(json.dumps([n.model_dump(mode="json") for n in nodes], indent=2))
        return
    if not nodes:
        _log(f"lab {name} is not up")
        raise typer.Exit(1)
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "role", "netns", "addresses", "customer", "mgmt", "device", title=f"lab {name}")
    for n in nodes:
        mgmt = " ".join(filter(None, [n.mgmt, n.mgmt_inband and f"in-band {n.mgmt_inband}"]))
        table.add_row(n.name, n.role, n.netns or "", " ".join(n.addresses), n.customer or "", mgmt,
                      n.device or "")  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@lab_app.command()
def hijack(
    state: Annotated[str, typer.Argument(help="on | off")],
    name: NameOpt = DEFAULT_NAME,
    dir: DirOpt = None,
    prefix: Annotated[str, typer.Option(help="Prefix the customer router announces without owning it.")] = str(
        HIJACK_PREFIX
    ),
) -> None:
    """Make the customer router announce a prefix it does not own (on), or stop (off)."""
    from ipaddress import IPv4Network

    _check(name)
    if state not in ("on", "off"):
        _fail(f"state: {state!r} is not on or off")
    try:
        _lifecycle().hijack(state == "on", name, dir, IPv4Network(prefix))
    except (LabError, ValueError) as exc:
        _fail(str(exc))


@lab_app.command()
def env(name: NameOpt = DEFAULT_NAME, dir: DirOpt = None) -> None:
    """Print ``export`` lines for the credentials the lab inventory names (eval them)."""
    try:
        values = _lifecycle().credentials_env(name, dir)
    except LabError as exc:
        _fail(str(exc))
    for var, value in values.items():
        sys.stdout.write(f"export {var}={shlex.quote(value)}\n")


@lab_app.command()
def reset(name: NameOpt = DEFAULT_NAME, dir: DirOpt = None) -> None:
    """Undo every change made since ``up``: routers back to their baseline, no enforcer table, no pending revert."""
    _check(name)
    try:
        _lifecycle().reset(name, dir)
    except LabError as exc:
        _fail(str(exc))
