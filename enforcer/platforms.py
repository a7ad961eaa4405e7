"""Each platform's facts: ``templates/<platform>/platform.yaml``, read once, typed.

Kept apart from the Jinja side of :mod:`enforcer.render` so that what only needs the facts (the
inventory's anti-spoof check at load, the drivers, the slot reader) does not import Jinja.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .conftree import SlotFacts, TreeFacts
from .inventory import AntiSpoofMethod, Platform
from .limits import Limit
from .model import ActionKind, EnforcerError
from .resources import TEMPLATES, load_yaml

TEMPLATES_DIR = TEMPLATES


class RenderError(EnforcerError):
    """A template failed, or tried to print a value that is not a validated type."""


class PlatformInfo(BaseModel):
    """``templates/<platform>/platform.yaml``: what the platform supports and how its config is spelled."""

    model_config = ConfigDict(frozen=True)
    name: str
    actions: tuple[ActionKind, ...]
    comment: str = "!"
    managed: tuple[str, ...] = ()
    description: str = ""
    #: Junos: the per-interface filter also carries the rate-limit terms (so they decide it too)
    acl_carries_rate_limits: bool = False
    #: OpenFlow: rate limits are switch meters, numbered in the device's band (allocate_meters)
    meters: bool = False
    tree: TreeFacts | None = None
    slots: SlotFacts | None = None
    limits: tuple[Limit, ...] = ()  # what the device refuses past a length (enforcer.limits)
    #: how the platform can do anti-spoof (``Device.anti_spoof``); uRPF where the device has it
    anti_spoof_methods: tuple[AntiSpoofMethod, ...] = (AntiSpoofMethod.ACL,)
    #: appended to the refusal of a method the platform lacks (where to do it instead)
    anti_spoof_hint: str = ""


@cache
def platform_info(platform: Platform, templates_dir: Path = TEMPLATES_DIR) -> PlatformInfo:
    path = templates_dir / platform.value / "platform.yaml"
    if not path.exists():
        raise RenderError(f"{path}: missing (every platform folder declares its actions)")
    data = load_yaml(path.read_text()) or {}
    return PlatformInfo.model_validate({"name": platform.value, **data})
