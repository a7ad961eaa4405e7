"""Platform limits (comment, name and interface lengths) as facts, and the checks that use them.

One value over a device's limit is enough for the device to refuse the whole push (nft rejects a
comment over 128 bytes, an interface name over 15 characters), and then every later push to that
device, so one bad input would stop all enforcement on it. The limits live in
``templates/<platform>/platform.yaml`` under ``limits:``, each with the pattern that finds the
limited value in a rendered line; they are checked on every render (a line over a limit withholds
the enforcement behind it, see :mod:`enforcer.withhold`) and on the inventory by ``enforcer validate``.
"""

from __future__ import annotations

import re
from functools import cached_property

from pydantic import BaseModel, ConfigDict


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


def over_limits(text: str, limits: tuple[Limit, ...]) -> list[OverLimit]:
    """Every rendered line holding a value longer than its platform allows."""
    found = []
    for line in text.splitlines():
        for limit in limits:
            for m in limit.regex.finditer(line):
                if len(m.group(1).encode()) > limit.max:
                    found.append(OverLimit(line=line, what=limit.what, length=len(m.group(1).encode()), max=limit.max))
    return found


def limit_of(limits: tuple[Limit, ...], what: str) -> int | None:
    """The platform's limit named ``what`` (e.g. ``interface name``), if it declares one."""
    return next((lim.max for lim in limits if lim.what == what), None)
