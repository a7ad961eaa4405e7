"""One device's desired section, minus the enforcements the device cannot take, each with its reason.

No single input may wedge a device: a template that fails for one enforcement, a value past the
platform's limits (:mod:`enforcer.limits`), or a line the live device would refuse or that would
merge into an object the operator owns (:meth:`~enforcer.drivers.base.Driver.conflicts`) withholds
*that* enforcement, which the plan reports; every other enforcement on the device is still pushed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .inventory import Device, Inventory
from .limits import over_limits
from .model import Enforcement, EnforcerError
from .render import RenderError, Section, build_section, finish_section, platform_info, print_section, render_section

#: Enforcement ids as templates print them (``12`` or ``12+13+14``), and addresses in a line.
_IDS = re.compile(r"(?<![\w.:/-])(\d+(?:\+\d+)*)(?![\w.:/])")
#: A problem that cannot be pinned on an enforcement after this many rounds withholds every suspect.
_ROUNDS = 64

Conflicts = Callable[[str], list[tuple[str, str]]]


@dataclass
class Rendered:
    section: Section
    desired: str
    withheld: list[tuple[int, str]] = field(default_factory=list)
    #: ``section`` as its template printed it, before numbering (:func:`enforcer.render.print_section`):
    #: the plan numbers it again against the live section without printing it twice
    printed: str = ""


def render_for(
    device: Device,
    enforcements: list[Enforcement],
    inventory: Inventory,
    at: datetime,
    conflicts: Conflicts | None = None,
) -> Rendered:
    """Render ``device``'s section; withhold, one by one, the enforcements whose lines the device
    would refuse (or that would take over an operator's object), and render the rest again."""
    limits = platform_info(device.platform).limits
    kept = list(enforcements)
    withheld: dict[int, str] = {}
    for round_ in range(_ROUNDS + 1):
        section, printed, text, failed = _try_render(device, kept, inventory, at)
        if failed:
            withheld.update(failed)
            kept = [e for e in kept if e.id not in failed]
            continue
        problems = [(o.line, str(o)) for o in over_limits(text, limits, slot=device.name)]
        problems += (conflicts or _none)(text)
        if not problems:
            return Rendered(section, text, sorted(withheld.items()), printed)
        found = _culprits(problems, kept, every=round_ == _ROUNDS)
        if not found:
            raise RenderError(f"{device.name}: {problems[0][1]} in {problems[0][0].strip()!r}")
        withheld.update(found)
        kept = [e for e in kept if e.id not in found]
    raise RenderError(f"{device.name}: could not render a section the device accepts")  # pragma: no cover


def _none(_: str) -> list[tuple[str, str]]:
    return []


def _try_render(
    device: Device, kept: list[Enforcement], inventory: Inventory, at: datetime
) -> tuple[Section, str, str, dict[int, str]]:
    """The whole render (printed, then numbered); if it fails, the enforcements that fail alone
    (the rest is rendered next round)."""
    try:
        section = build_section(device, kept, inventory, at)
        printed = print_section(section)
        return section, printed, finish_section(section, printed), {}
    except (RenderError, EnforcerError) as whole:
        failed = {}
        for e in kept:
            try:
                render_section(build_section(device, [e], inventory, at))
            except (RenderError, EnforcerError) as exc:
                failed[e.id] = f"render: {exc}"
        if not failed:
            raise whole
        return Section(device=device), "", "", failed


def _culprits(problems: list[tuple[str, str]], kept: list[Enforcement], every: bool) -> dict[int, str]:
    """For each problem line, the newest enforcement it carries (by the ids it prints or its target,
    else by the customer its object is named after); ``every``: all of them. Withholding the newest
    keeps what the device already enforces."""
    found: dict[int, str] = {}
    for line, reason in problems:
        ids = {int(i) for token in _IDS.findall(line) for i in token.split("+")}
        suspects = [e for e in kept if e.id in ids or _target_in(e, line)]
        suspects = suspects or [e for e in kept if e.customer and _named_in(e.customer, line)]
        for e in suspects if every else sorted(suspects, key=lambda e: e.id)[-1:]:
            found.setdefault(e.id, f"withheld: {reason} ({line.strip()[:120]})")
    return found


def _named_in(customer: str, line: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(customer)}(?![A-Za-z0-9])", line) is not None


def _target_in(e: Enforcement, line: str) -> bool:
    words = set(re.split(r"[\s,{}\"]+", line))
    host = e.target.prefixlen == e.target.max_prefixlen
    return str(e.target) in words or (host and str(e.target.network_address) in words)
