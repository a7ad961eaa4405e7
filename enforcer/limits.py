"""Platform limits (comment, name and interface lengths) as facts, and the checks that use them.

One value over a device's limit is enough for the device to refuse the whole push (nft rejects a
comment over 128 bytes, an interface name over 15 characters), and then every later push to that
device, so one bad input would stop all enforcement on it. The limits live in
``templates/<platform>/platform.yaml`` under ``limits:``, each with the pattern that finds the
limited value in a rendered line; they are checked on every render (a line over a limit withholds
the enforcement behind it, see :mod:`enforcer.withhold`) and, for interface names, when the
inventory is loaded (:func:`interface_names_over_limit`, so ``enforcer validate`` and every command
refuse a name the device cannot take, before anything is rendered). The render-time check stays
as the second line, for values that only exist at render time (comments, remarks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache, cached_property
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from .resources import TEMPLATES, load_yaml

if TYPE_CHECKING:
    from .inventory import Customer, Device


class Limit(BaseModel):
    """One limit: ``what`` may be at most ``max`` characters; ``pattern``'s first group finds it in a rendered line."""

    model_config = ConfigDict(frozen=True)
    what: str
    max: int
    pattern: str
    source: str = ""

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


class OverLimit(BaseModel):
    model_config = ConfigDict(frozen=True)
    line: str
    what: str
    length: int
    max: int

    def __str__(self) -> str:
        return f"{self.what} of {self.length} characters over the platform's limit of {self.max}"


#: (slot, limits) → every line of the last text checked clean there: no value in it is over a limit.
#: A line's findings depend on the line alone, so a line in here needs no check again. Each value is
#: replaced whole, never changed in place (device workers of several threads read it).
_clean: dict[tuple[object, tuple[Limit, ...]], set[str]] = {}

#: More new lines than this take the whole check: past a few hundred, its scan in C costs less.
_FEW = 256


def over_limits(text: str, limits: tuple[Limit, ...], slot: object = None) -> list[OverLimit]:
    """Every rendered line holding a value longer than its platform allows.

    ``slot`` (a device's name) keeps the lines of the last clean text checked there: a push's next
    section differs from its last one by the change, so only lines not in that text are checked,
    one by one (10,000 active: one or two lines, not a scan of 500 KB per limit). The findings of a
    text are its lines' findings in line order, and each line's depend on that line alone; when
    every new line is clean the answer is none, as the whole check's would be. A new line with a
    finding, many new lines, a first text, no slot, or a line break other than ``\n`` takes the
    whole check (:func:`_over_limits`), which gives the order. Only a clean text is kept: a slot
    shared by two devices stays correct, it only knows fewer lines."""
    if not limits:
        return []
    if slot is None or any(c in text for c in _OTHER_BREAKS):  # a substring search each: a regex class cost more
        return _over_limits(text, limits)
    key = (slot, limits)
    known = _clean.get(key)
    lines = set(text.split("\n"))
    if known is not None:
        new = lines.difference(known)
        if len(new) <= _FEW and not any(_line_over(line, limits) for line in new):
            _clean[key] = lines
            return []
    found = _over_limits(text, limits)
    if not found:
        if "" in lines and _line_over("", limits):  # a last "\n" splits off a line splitlines never checked
            lines.discard("")
        _clean[key] = lines
    return found


def forget(slot: object) -> None:
    """Drop the clean lines kept for ``slot``: a one-shot pass (``plan``, ``apply``) checks each
    device once, and kept, one set of every line a device printed would stay to the end of it."""
    for key in [k for k in list(_clean) if k[0] == slot]:  # list(): one step, beside other devices' workers
        _clean.pop(key, None)


def _line_over(line: str, limits: tuple[Limit, ...]) -> bool:
    """Whether one line holds a value over one of ``limits`` (the whole check's test, per line)."""
    return any(len(m.group(1).encode()) > limit.max for limit in limits for m in limit.regex.finditer(line))


def _over_limits(text: str, limits: tuple[Limit, ...]) -> list[OverLimit]:
    """The whole check of :func:`over_limits`, over every line of ``text``.

    Each limit's pattern first runs over the whole text at once (in C: a 10,000-element nftables
    section is 5,000 lines, and a Python loop of a regex per line and limit cost 8-9 % of serve's CPU
    per decision); only the lines where it finds a value that may be over the limit are then checked
    line by line as before. The answer is the same, in the same order: the line-by-line check is
    kept whole whenever the shortcut could see something it would not (see :func:`_suspect_lines`)."""
    suspects = _suspect_lines(text, limits)
    lines = text.splitlines() if suspects is None else suspects
    found = []
    for line in lines:
        for limit in limits:
            for m in limit.regex.finditer(line):
                if len(m.group(1).encode()) > limit.max:
                    found.append(OverLimit(line=line, what=limit.what, length=len(m.group(1).encode()), max=limit.max))
    return found


#: Line breaks ``str.splitlines`` knows besides ``\n``: a text holding one is checked line by line.
_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@cache
def _whole_text(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` for a scan of the whole text whose matches within a line are the line's own
    matches: ``^`` and ``$`` at each line (MULTILINE), and the whole match as group 1 (the limited
    value is group 2) so that ``findall`` hands both over without a Python step per match; None for
    what could still tell the whole text from one line (inline flags, lookarounds and named groups,
    ``\\A``, ``\\Z``) or that the added group would renumber (a back reference)."""
    if "(?" in pattern or re.search(r"\\[AZ1-9]", pattern):
        return None
    return re.compile(f"({pattern})", re.MULTILINE)


def _suspect_lines(text: str, limits: tuple[Limit, ...]) -> list[str] | None:
    """The lines, in order, where some limit's whole-text match holds a value that may be over it;
    None when the line-by-line check must see every line (a match that spans a line break, a
    pattern :func:`_whole_text` declines, a line break other than ``\\n``)."""
    if any(c in text for c in _OTHER_BREAKS):  # a substring search each: a regex class cost more
        return None
    starts: set[int] = set()
    for limit in limits:
        regex = _whole_text(limit.pattern)
        if regex is None:
            return None
        found = regex.findall(text)
        if not found:
            continue
        matches, values = list(zip(*found, strict=True))[:2]
        if "\n" in "".join(matches):
            return None
        if max(map(len, values)) * 4 <= limit.max:  # UTF-8: at most 4 bytes a character
            continue
        for m in regex.finditer(text):
            if len(m.group(2).encode()) > limit.max:
                starts.add(text.rfind("\n", 0, m.start()) + 1)
    lines = []
    for start in sorted(starts):
        end = text.find("\n", start)
        lines.append(text[start:] if end < 0 else text[start:end])
    return lines


def limit_of(limits: tuple[Limit, ...], what: str) -> int | None:
    """The platform's limit named ``what`` (e.g. ``interface name``), if it declares one."""
    return next((lim.max for lim in limits if lim.what == what), None)


@cache
def platform_limits(platform: str) -> tuple[Limit, ...]:
    """The ``limits:`` of a bundled platform's ``platform.yaml``, read without the render stack
    (the inventory is loaded by every command, the hooks' light start-up included)."""
    path = TEMPLATES / platform / "platform.yaml"
    data = load_yaml(path.read_text()) if path.exists() else None
    return tuple(Limit.model_validate(x) for x in (data or {}).get("limits", []))


def interface_names_over_limit(
    devices: Iterable[Device], customers: Iterable[Customer]
) -> Iterator[tuple[str, str, str]]:
    """``(file, field, reason)`` for each interface name longer than its device's platform allows:
    a device's ``attach_interfaces`` (hosts.yaml) and a customer attachment's ``interface``
    (customers.yaml) on that device."""
    customers = list(customers)
    for dev in devices:
        named = [("hosts.yaml", f"{dev.name}.attach_interfaces.{i}", n) for i, n in enumerate(dev.attach_interfaces)]
        named += [("customers.yaml", f"{c.id}.attachments.{i}.interface", a.interface)
                  for c in customers for i, a in enumerate(c.attachments)
                  if a.device == dev.name and a.interface]  # fmt: skip
        if not named:  # nothing to check: the platform's facts are not read (every command's start-up)
            continue
        limit = limit_of(platform_limits(dev.platform.value), "interface name")
        if limit is None:
            continue
        for file, where, name in named:
            if len(name.encode()) > limit:
                yield file, where, (f"{name!r} is {len(name.encode())} characters; "
                                    f"{dev.platform.value} on {dev.name} allows {limit}")  # fmt: skip
