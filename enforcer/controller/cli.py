"""``enforcer controller run | switches | state | sync``: run the OpenFlow controller, or ask it things.

``run`` serves OpenFlow 1.3 switches (inventory devices with ``platform: openflow`` and a
``datapath_id``) from the store given by the global ``--inventory`` / ``--db`` options. The other
commands talk to a running controller through its control socket (``--control``, or the
``optional_args.controller`` of the device named with ``--device``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..settings import Settings

if TYPE_CHECKING:  # imported where used: see the start-up note in enforcer/cli.py
    from ..inventory import Device

controller_app = typer.Typer(
    help="The OpenFlow controller (os-ken) that keeps switches' enforcer flows equal to the store.",
    no_args_is_help=True,
)
LOG = logging.getLogger("enforcer.controller")


@controller_app.command("run")
def run_cmd(
    ctx: typer.Context,
    ofp_host: Annotated[str, typer.Option(help="Address switches connect to")] = "127.0.0.1",
    ofp_port: Annotated[int, typer.Option(help="OpenFlow TCP port")] = 6653,
    control: Annotated[Path | None, typer.Option(help="Unix socket for plan/apply (state, sync)")] = None,
    resync_interval: Annotated[
        float, typer.Option(help="Also resync every switch from the store this often (seconds; 0: only on connect)")
    ] = 30.0,
    log_file: Annotated[Path | None, typer.Option(help="Log here instead of stderr")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Serve OpenFlow switches until stopped (SIGTERM)."""
    from .runner import run, setup_logging
    from .source import StoreSource

    setup_logging(log_file, log_level.upper())
    settings: Settings = ctx.obj
    source = StoreSource(settings)
    LOG.info("inventory %s, store %s", settings.inventory, settings.db)
    run(
        source.desired,
        source.devices,
        lease=source.lease,
        ofp_host=ofp_host,
        ofp_port=ofp_port,
        control=control,
        resync_interval=resync_interval,
    )


def _address(ctx: typer.Context, control: Path | None, device: str | None) -> tuple[str, Device | None]:
    from ..inventory import load_inventory

    if control is not None:
        dev = load_inventory(ctx.obj.inventory).device(device) if device else None
        return f"unix:{control}", dev
    if device is None:
        raise typer.BadParameter("give --control or --device")
    dev = load_inventory(ctx.obj.inventory).device(device)
    address = dev.optional_args.get("controller")
    if not address:
        raise typer.BadParameter(f"device {device} has no optional_args.controller")
    return str(address), dev


def _dpid(dev: Device | None, dpid: str | None) -> int:
    if dpid is not None:
        return int(dpid, 0)
    if dev is None or dev.datapath_id is None:
        raise typer.BadParameter("give --dpid or a --device with a datapath_id")
    return dev.datapath_id


ControlOpt = Annotated[Path | None, typer.Option(help="The controller's control socket")]
DeviceOpt = Annotated[str | None, typer.Option("--device", "-d", help="Inventory device (an openflow switch)")]
DpidOpt = Annotated[str | None, typer.Option(help="Datapath id (default: the device's)")]


def _call(address: str, request: dict[str, Any]) -> dict[str, Any]:
    from ..cli import fail
    from .control import ControlError, call

    try:
        return call(address, request)
    except ControlError as exc:
        fail(str(exc), 1)


@controller_app.command("switches")
def switches_cmd(ctx: typer.Context, control: ControlOpt = None, device: DeviceOpt = None) -> None:
    """Connected switches and their last sync, as JSON."""
    address, _ = _address(ctx, control, device)
    typer.echo(json.dumps(_call(address, {"op": "switches"})["switches"], indent=2))


@controller_app.command("state")
def state_cmd(ctx: typer.Context, control: ControlOpt = None, device: DeviceOpt = None, dpid: DpidOpt = None) -> None:
    """The switch's live enforcer flows and meters, in the section format."""
    address, dev = _address(ctx, control, device)
    typer.echo(_call(address, {"op": "state", "dpid": _dpid(dev, dpid)})["text"], nl=False)


@controller_app.command("sync")
def sync_cmd(ctx: typer.Context, control: ControlOpt = None, device: DeviceOpt = None, dpid: DpidOpt = None) -> None:
    """Resync one switch from the store now; returns once the switch confirmed (barrier)."""
    address, dev = _address(ctx, control, device)
    typer.echo(json.dumps(_call(address, {"op": "sync", "dpid": _dpid(dev, dpid)})["report"]))


def register(app: typer.Typer) -> None:
    """Add ``enforcer controller …`` to the main app."""
    app.add_typer(controller_app, name="controller")
