"""Typed sections → device text, through the Jinja2 templates in ``templates/<platform>/``.

:func:`render_section` prints a :class:`~enforcer.section.Section` (built by
:func:`enforcer.build.build_section`) with ``templates/<platform>/section.j2``; :func:`render_push`
turns a desired section and the live one into the exact merge candidate. Templates never decide
*whether* to block: they only spell the entries in the platform's syntax. Removal is therefore a
re-render without the entry.

Defence in depth against injection: every ``{{ expression }}`` passes through :func:`_finalize`,
which refuses a string holding anything but ``[A-Za-z0-9 ._:/@+=-]``. Typed values (networks,
ints, enums) print as themselves; a newline or ``;`` from anywhere fails the render.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from itertools import compress, repeat
from operator import is_, itemgetter, not_
from pathlib import Path
from typing import Any, NamedTuple

import jinja2

from . import build, limits, nftables, setconf
from .build import RoleIndex, allocate_meters, build_section
from .conftree import Differ, canonical
from .inventory import Device, Platform
from .jinja_compiler import FastEnvironment, compiled_templates
from .model import ActionKind, Community, Direction, Prefix, Protocol, Violation
from .platforms import TEMPLATES_DIR, PlatformInfo, RenderError, platform_info
from .section import (
    TRAFFIC_ACTIONS,
    AclRule,
    AntiSpoof,
    ComposedDeny,
    ComposedRtbh,
    InterfaceAcl,
    MeteredRate,
    NullRoute,
    PrefixFilter,
    RateLimit,
    RtbhGuard,
    RtbhRoute,
    Section,
)
from .seqnum import SeqRange, number

#: The section entries are defined in enforcer/section.py, the selection in enforcer/build.py and
#: the platform facts in enforcer/platforms.py; render keeps exporting them (callers import
#: Section, build_section and platform_info from here).
__all__ = [
    "TRAFFIC_ACTIONS",
    "AclRule",
    "AntiSpoof",
    "ComposedDeny",
    "ComposedRtbh",
    "InterfaceAcl",
    "MeteredRate",
    "NullRoute",
    "PrefixFilter",
    "RateLimit",
    "RtbhGuard",
    "RtbhRoute",
    "Section",
    "PlatformInfo",
    "RenderError",
    "Rendered",
    "RoleIndex",
    "allocate_meters",
    "build_section",
    "environment",
    "finish_section",
    "platform_info",
    "print_section",
    "render_push",
    "render_section",
    "TEMPLATES_DIR",
]

_SAFE_TEXT = re.compile(r"[A-Za-z0-9 ._:/@+=-]*")


class Spelled(str):
    """Text a filter of this module spelled from validated values and checked against the safe set
    when it was made (:func:`_spelled`): printed as it is, like an int, without a check per print.
    A 10,000-entry ACL prints its ids and port texts some 40,000 times."""


def _spelled(text: str) -> Spelled:
    if not _SAFE_TEXT.fullmatch(text):
        raise RenderError(f"refusing to print unsafe text into a device config: {text[:40]!r}")
    return Spelled(text)


#: What a template may print: validated text and typed values. A list or dict (an inventory value of
#: the wrong shape) would print its repr, brackets, quotes and commas included. ``Undefined`` is
#: the empty ``{{ x if c }}`` without an else (StrictUndefined still raises on a missing name).
_PRINTABLE = (str, int, IPv4Network, IPv6Network, IPv4Address, IPv6Address, Community, jinja2.Undefined)
#: Printed as they are, unchecked: their text is digits, dots and a slash, or (the enums an ACL
#: entry prints) one of a fixed set of values, each in the safe set (checked here, once).
_PLAIN = frozenset(
    {
        int,
        IPv4Network,
        IPv4Address,
        Spelled,
        *(
            kind
            for kind in (Violation, Protocol, Direction, ActionKind)
            if all(_SAFE_TEXT.fullmatch(m.value) for m in kind)
        ),
    }
)
#: Every character ``str.splitlines`` breaks a line on.
_LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class Rendered(str):
    """A line that enforcer's own templates produced (or the device already holds in the managed
    section): ``push.j2`` may print it verbatim, which :func:`_finalize` allows for nothing else."""


class RenderedRows(str):
    """Lines of enforcer's own templates (:class:`Rendered`), joined by the ``rows`` filter with the
    separators the template spelled: printed whole, like the template's own literal text."""


# ------------------------------------------------------------------ Jinja2


def _finalize(value: Any) -> Any:
    """Every printed expression: typed values pass, strings must be in the safe character set.

    The common cases are decided first, by type alone (an IPv4 network or an int cannot print a
    line break or an unsafe character; a plain string in the safe set holds no line break): a
    10,000-entry ACL prints some 100,000 values. Everything else is :func:`_checked`.
    """
    kind = type(value)
    if kind in _PLAIN or (kind is str and _SAFE_TEXT.fullmatch(value)):
        return value
    if kind is Rendered and _LINE_BREAK.search(value) is None:  # all _checked asks of enforcer's own line
        return value
    if kind is RenderedRows:  # each line was checked (Rendered, above); the breaks are the template's
        return value
    return _checked(value)


def _checked(value: Any) -> Any:
    """A value that is not plainly safe by its type: refused unless printable and safe.

    A line break of any kind (``str.splitlines`` splits on ten of them) is refused whatever the
    type, :class:`Rendered` included: one printed value must never become two device lines.
    ``fullmatch`` matters: ``re.match`` with ``$`` accepts a trailing newline, which split a Junos line.
    """
    if value is None:
        raise RenderError("template printed None (a missing value)")
    if not isinstance(value, _PRINTABLE):
        raise RenderError(f"refusing to print a {type(value).__name__} into a device config: {value!s:.40}")
    text = str(value)
    if _LINE_BREAK.search(text):
        raise RenderError(f"refusing to print unsafe text (a line break) into a device config: {text[:40]!r}")
    if isinstance(value, str) and not isinstance(value, Rendered) and not _SAFE_TEXT.fullmatch(value):
        raise RenderError(f"refusing to print unsafe text into a device config: {value[:40]!r}")
    scoped = value.network_address if isinstance(value, IPv6Network) else value
    if isinstance(scoped, IPv6Address) and scoped.scope_id:
        raise RenderError(f"refusing to print an address with a zone id into a device config: {value!s:.40}")
    return value


class Scaled(NamedTuple):
    """``value`` × 1024 ** ``power``: a number in the largest binary unit that holds it exactly."""

    value: int
    power: int


def _by1024(n: int, most: int) -> Scaled:
    """``n`` in the largest unit 1024 ** k (k ≤ ``most``) that divides it exactly: nft prints a
    rate or a burst that way (``10 mbytes``), so the template picks the unit's name by ``power``."""
    power = 0
    while power < most and n % 1024 == 0:
        n, power = n // 1024, power + 1
    return Scaled(n, power)


def _rows(lines: Sequence[Any], per_row: int, within: str, between: str) -> RenderedRows:
    """``lines`` (enforcer's own, from ``entries``) ``per_row`` to a row, joined by ``within`` inside
    a row and by ``between`` from row to row: the layout of a 10,000-element nftables set, spelled
    by the template, joined here at C speed (a Jinja loop over the elements was most of its print).
    Anything but a :class:`Rendered` line without a break is refused, as :func:`_finalize` would."""
    if not set(map(type, lines)) <= {Rendered} or _LINE_BREAK.search("".join(lines)):
        bad = next(x for x in lines if type(x) is not Rendered or _LINE_BREAK.search(x))
        raise RenderError(f"rows: refusing {type(bad).__name__} {str(bad)[:40]!r}: only enforcer's own lines")
    if per_row < 1:
        raise RenderError(f"rows: {per_row} lines per row")
    if per_row > 1:
        lines = [within.join(lines[i : i + per_row]) for i in range(0, len(lines), per_row)]
    return RenderedRows(between.join(lines))


def _unheld_ports(rules: Iterable[AclRule]) -> list[tuple[AclRule, list[int | None]]]:
    """Each ACL rule with the ports (``None``: the protocol's one match) whose match (protocol,
    direction, target, port) no earlier rule holds, rules left with none left out: a switch holds
    a flow of one priority and match once (the priority follows from the target), so OpenFlow
    writes it once, for the first rule. Decided here in one pass (it was a Jinja dict and a
    ``seen.update`` per flow, a third of a 10,000-entry switch's print)."""
    held: set[tuple[Any, ...]] = set()
    out = []
    for r in rules:
        ports = []
        for port in r.ports or (None,):
            key = (r.protocol, r.direction, r.target, port)
            if key not in held:
                held.add(key)
                ports.append(port)
        if ports:
            out.append((r, ports))
    return out


class UnheldSpoof(NamedTuple):
    """What one anti-spoof entry adds to a switch that earlier entries of its port do not hold."""

    entry: Any
    drop_families: list[int]  # the port's drop-all flow per IP family
    allowed_v4: list[Any]  # the pass flow per own prefix
    allowed_v6: list[Any]
    pass_v6_neighbour: bool  # the port's :: and fe80::/10 pass flows (neighbour discovery)


def _unheld_spoof(entries: Iterable[Any]) -> list[UnheldSpoof]:
    """Each anti-spoof entry with the flows of its port no earlier entry holds (a switch holds a
    flow of one priority and match once, so it is written for the first entry): decided here, the
    template prints what it is given (it was a Jinja dict and a ``seen.update`` per flow)."""
    held: set[tuple[Any, ...]] = set()

    def unheld(keys: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        fresh = [k for k in keys if k not in held]
        held.update(fresh)
        return fresh

    out = []
    for s in entries:
        port = s.interface
        out.append(UnheldSpoof(
            entry=s,
            drop_families=[k[2] for k in unheld(("spoof-drop", port, f) for f in (4, 6))],
            allowed_v4=[k[2] for k in unheld(("spoof-pass", port, p) for p in _v4(s.allowed))],
            allowed_v6=[k[2] for k in unheld(("spoof-pass", port, p) for p in _v6(s.allowed))],
            pass_v6_neighbour=bool(unheld([("spoof-pass6", port)])),
        ))  # fmt: skip
    return out


def _netmask(p: Prefix) -> str:
    return str(p.netmask)


def _wildcard(p: Prefix) -> str:
    return str(p.hostmask)


_INT = frozenset({int})


def _ids(ids: tuple[int, ...]) -> Spelled:
    """An entry's enforcement ids, ``12+40``: digits and ``+`` only (ints joined), so :class:`Spelled`."""
    if not set(map(type, ids)) <= _INT:  # an int subclass could print anything; a set, not a Python loop
        return _spelled("+".join(map(str, ids)))
    return Spelled("+".join(map(str, ids)))


#: eq_ports' texts per distinct (ports, name table); the table is held with them, so its id stays its own.
_eq_texts: dict[tuple[tuple[int, ...], int], tuple[dict, tuple[Spelled, ...]]] = {}


def _eq_ports(ports: tuple[int, ...], names: dict[Any, str]) -> tuple[Spelled, ...]:
    """The text each port adds to an ACL line, `` eq smtp`` (by its name in ``names``, the
    platform's port table, where it has one; else its number), or one empty text for a line
    without ports: worked out once per distinct (ports, table), not per entry, and checked once."""
    key = (ports, id(names))
    hit = _eq_texts.get(key)
    if hit is None or hit[0] is not names:
        if len(_eq_texts) > 4096:
            _eq_texts.clear()
        texts = tuple(_spelled(f" eq {names.get(p, p)}") for p in ports) or (Spelled(""),)
        hit = _eq_texts[key] = (names, texts)
    return hit[1]


def _named(value: Any, names: dict[Any, str]) -> Any:
    """``value`` by its name in ``names`` where it has one (IOS prints ``eq 25`` as ``eq smtp``)."""
    return names.get(value, value)


def _kbps(bps: int) -> int:
    return max(1, bps // 1000)


def _v4(items: Iterable[Any]) -> list[Any]:
    return [i for i in items if _family(i) == 4]


def _v6(items: Iterable[Any]) -> list[Any]:
    return [i for i in items if _family(i) == 6]


def _family(item: Any) -> int:
    if isinstance(item, IPv4Network | IPv6Network):
        return item.version
    for attr in ("target", "neighbor"):
        if hasattr(item, attr):
            return getattr(item, attr).version
    raise RenderError(f"no address family for {type(item).__name__}")


@cache
def environment(templates_dir: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = FastEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        # Templates are part of the release: no stat() of the file each time one is looked up
        # (12 % of a 100,000-enforcement plan).
        auto_reload=False,
        bytecode_cache=compiled_templates(),
    )
    env.finalize_passes = _PLAIN  # what _finalize returns as it is, by type alone: printed without the call
    env.filters.update(
        netmask=_netmask,
        wildcard=_wildcard,
        ids=_ids,
        kbps=_kbps,
        v4=_v4,
        v6=_v6,
        by1024=_by1024,
        named=_named,
        eq_ports=_eq_ports,
        checked=_spelled,
        rows=_rows,
        unheld_ports=_unheld_ports,
        unheld_spoof=_unheld_spoof,
    )
    return env


def render_section(
    section: Section, templates_dir: Path = TEMPLATES_DIR, live: str = "", ranges: dict[str, SeqRange] | None = None
) -> str:
    """The device's whole managed section as text, normalised: no trailing spaces, one final newline.

    ``live`` (the device's live section) only decides sequence numbers: an entry the device
    already holds keeps its number, so an update is entry by entry (:mod:`enforcer.seqnum`);
    ``ranges`` confines entries placed in an operator's object to enforcer's reserved range.
    """
    return finish_section(section, print_section(section, templates_dir), templates_dir, live, ranges)


#: The last printed text per device name, with the section object it printed (held: its identity
#: stays valid). A Section is frozen, so the same object prints the same text; build_section hands
#: back the same object for the same inputs (enforcer.build), so a second render of unchanged
#: inputs (serve's board right after the push) prints nothing.
_printed: dict[str, tuple[Section, Path, str]] = {}
#: Sections printed through the templates (not answered from the last print): what the tests count.
prints = 0


#: Per device name, the text each entry object printed last time through :class:`EntryTexts`.
_entry_texts: dict[str, dict[tuple[str, int], tuple[Any, str]]] = {}
#: Entries printed through their own template (not answered from the last print): what tests count.
entry_prints = 0


#: The last numbered text per device name, with what it was numbered from (the section and its
#: printed text, held, by identity; the live section and the ranges, by value). The plan numbers a
#: section alone for the withholding checks (enforcer.withhold) and again against the live
#: section: when the device holds nothing of enforcer's yet (a first push, an offline device) and
#: no operator's range applies, that is the same numbering, done once.
_finished: dict[str, tuple[Section, str, Path, tuple, str]] = {}
#: Sections numbered and ordered (not answered from the last one): what the tests count.
finishes = 0


def forget(device: str) -> None:
    """Drop the prints kept for ``device`` and its section's build (:func:`enforcer.build.forget`)."""
    _printed.pop(device, None)
    _finished.pop(device, None)
    _entry_texts.pop(device, None)
    build.forget(device)
    limits.forget(device)


class EntryTexts:
    """``entries(template, items)`` in a template: the line each of ``items`` prints through
    ``template`` (a template printing each of its ``items`` on one line of its own), the ones the
    last print of the device printed from the very same objects answered from it.

    Safe because an entry is a frozen model, the template reads nothing but the entries (and
    templates are never reloaded), and the last print holds the objects, so their identities stay
    their own; build hands back the same entry objects for the same enforcements (enforcer.build).
    A 10,000-element set then costs one entry's line per new decision, not 10,000; and the entries
    not printed before are printed in one render of the template, not one render each (a render's
    own setup was most of a first print of 10,000 elements)."""

    def __init__(self, templates_dir: Path, previous: dict[tuple[str, int], tuple[Any, str]]):
        self.templates_dir = templates_dir
        self.previous = previous
        self.current: dict[tuple[str, int], tuple[Any, str]] = {}

    def __call__(self, template: str, items: Sequence[Any]) -> list[Rendered]:
        """The look-ups run in C (``map`` over the items: a Python loop of a key, a look-up and an
        identity check per entry was a tenth of serve's busy samples per decision at 10,000)."""
        global entry_prints
        keys = list(zip(repeat(template), map(id, items)))  # noqa: B905 - repeat() has no end
        hits = list(map(self.previous.get, keys, repeat(_MISS)))
        missing = list(compress(range(len(hits)), map(not_, map(is_, map(_FIRST, hits), items))))
        if missing:
            fresh = [items[i] for i in missing]
            lines = environment(self.templates_dir).get_template(template).render(items=fresh).splitlines()
            if len(lines) != len(fresh):
                raise RenderError(f"{template} printed {len(lines)} lines for {len(fresh)} entries, not one each")
            for i, e, line in zip(missing, fresh, lines, strict=True):
                hits[i] = (e, Rendered(line))
            entry_prints += len(fresh)
        self.current.update(zip(keys, hits, strict=True))
        return list(map(_SECOND, hits))


#: What :class:`EntryTexts` finds for an entry the last print did not print: no entry is its first.
_MISS = (object(), None)
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def print_section(section: Section, templates_dir: Path = TEMPLATES_DIR) -> str:
    """The template's text of the section, normalised, ``<seq>`` placeholders still in it: the
    costly half of :func:`render_section`, which a caller numbering the same section twice (the
    plan: once alone, once against the live section) does once (:func:`finish_section`)."""
    global prints
    name = section.device.name
    last = _printed.get(name)
    if last is not None and last[0] is section and last[1] == templates_dir:
        return last[2]
    text = _print(section, templates_dir)
    prints += 1
    _printed[name] = (section, templates_dir, text)
    return text


def _print(section: Section, templates_dir: Path) -> str:
    platform = section.device.platform
    slots = platform_info(platform, templates_dir).slots
    if section.set_chains is None and slots is not None and slots.set_chains:
        # Not composed against a live config (goldens, validate, a device never read): every
        # Junos list is free. Imported here: compose_junos builds on the render's types.
        from .compose_junos import compose_junos

        section = compose_junos(section, None, slots)[0]
    name = section.device.name
    entries = EntryTexts(templates_dir, _entry_texts.get(name, {}))
    try:
        template = environment(templates_dir).get_template(f"{platform.value}/section.j2")
        text = _render_and_let_go(
            template, section=section, device=section.device, ActionKind=ActionKind, entries=entries
        )
        _entry_texts[name] = entries.current
    except RenderError:
        raise
    except jinja2.TemplateError as exc:
        raise RenderError(f"templates/{platform.value}: {exc}") from exc
    return _tidy(text)


def _render_and_let_go(template: jinja2.Template, **values: Any) -> str:
    """``template.render(**values)`` (as Jinja2 3.1 writes it), then the render's context emptied.

    A template that defines macros (``openflow/section.j2``) leaves its context and each macro
    holding the other (the macro's code reaches the context through its closure), and the context
    holds the values: each OpenFlow device's whole section (its 1,000 entries, their targets) was
    left for the cyclic collector to find, 117,000 objects of a 100,000-enforcement plan. Emptied,
    the context is freed as the render returns, and the section with it once the device is done."""
    context = template.new_context(values)
    try:
        return template.environment.concat(template.root_render_func(context))  # type: ignore[attr-defined]
    except Exception:
        template.environment.handle_exception()
        raise  # pragma: no cover - handle_exception raises
    finally:
        context.vars.clear()
        context.exported_vars.clear()


#: What ``str.rstrip`` strips or ``str.splitlines`` breaks on in ASCII text, but a space or ``\n``.
_ASCII_UNTIDY = ("\t", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x1f", " \n")


def _tidy(text: str) -> str:
    """``text``'s lines without trailing whitespace, without trailing empty lines, one final
    newline (nothing for no lines). A printed section is ASCII with nothing to strip but the last
    blank lines: seen in a few ``in`` scans (a split, strip and join of its 255,000 lines for the
    seven platforms was a twentieth of their print), else done line by line."""
    if text.isascii() and not text.endswith(" ") and not any(c in text for c in _ASCII_UNTIDY):
        text = text.rstrip("\n")
        return text + "\n" if text else ""
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def finish_section(
    section: Section,
    printed: str,
    templates_dir: Path = TEMPLATES_DIR,
    live: str = "",
    ranges: dict[str, SeqRange] | None = None,
) -> str:
    """``printed`` (:func:`print_section` of ``section``) numbered against ``live`` and put in the
    platform's canonical order: what :func:`render_section` returns."""
    global finishes
    if not printed:
        return ""
    name, key = section.device.name, (live, tuple(sorted((ranges or {}).items())))
    last = _finished.get(name)
    if last is not None and last[0] is section and last[1] is printed and last[2] == templates_dir and last[3] == key:
        return last[4]
    info = platform_info(section.device.platform, templates_dir)
    text = number(printed, live, ranges)
    if info.slots is not None and info.slots.set_chains:
        text = setconf.canonical(text, info.slots)
    elif section.device.platform is Platform.NFTABLES:
        text = nftables.canonical(text)  # in the order nft lists a table kept in place
    elif info.tree is not None:
        text = canonical(text, info.tree)
    finishes += 1
    _finished[name] = (section, printed, templates_dir, key, text)
    return text


@cache
def _differ(platform: Platform, templates_dir: Path = TEMPLATES_DIR) -> Differ:
    info = platform_info(platform, templates_dir)
    assert info.tree is not None
    return Differ(info.tree, info.managed)


def render_push(
    device: Device,
    desired: str,
    live: str,
    removed: list[str],
    templates_dir: Path = TEMPLATES_DIR,
    config: str | None = None,
) -> str:
    """The merge candidate that turns ``live`` into ``desired`` on this platform: the exact text sent.

    Line-oriented platforms (a ``tree`` in platform.yaml) get the ordered, entry-level diff of
    :mod:`enforcer.conftree`; the others print their ``push.j2`` (nftables empties and restates its
    own table in one transaction, :mod:`enforcer.nftables`; Junos deletes and sets changed objects,
    OpenFlow states the whole flow set).
    ``removed`` is kept for those templates; the tree diff finds what left by itself. Junos
    (``slots.set_chains``) gets :func:`enforcer.setconf.candidate`, which reads the operator's
    values of each list it rewrites from the device's full ``config``.
    """
    info = platform_info(device.platform, templates_dir)
    if info.slots is not None and info.slots.set_chains:
        lines = setconf.candidate(live, desired, config or None, info.slots)
        return "\n".join(lines) + "\n" if lines else "\n"
    if info.tree is not None:
        lines = _differ(device.platform, templates_dir).candidate(live, desired)
        return "\n".join([ln.rstrip() for ln in lines]) + "\n" if lines else "\n"  # a list: no resumption a line
    if device.platform is Platform.NFTABLES and (elements := nftables.element_changes(live, desired)):
        return "\n".join(elements) + "\n"  # only set elements differ: those alone, no flush (enforcer.nftables)
    template = environment(templates_dir).get_template(f"{device.platform.value}/push.j2")
    try:
        replace = nftables.transition(live, desired) if device.platform is Platform.NFTABLES else []
        text = template.render(
            device=device,
            desired=[Rendered(x) for x in desired.splitlines()],
            live=[Rendered(x) for x in live.splitlines()],
            removed=[Rendered(x) for x in removed],
            replace=[Rendered(x) for x in replace],
        )
    except (jinja2.TemplateError, nftables.TransitionError) as exc:
        raise RenderError(f"templates/{device.platform.value}/push.j2: {exc}") from exc
    return "\n".join([ln.rstrip() for ln in text.splitlines()]).strip("\n") + "\n"
