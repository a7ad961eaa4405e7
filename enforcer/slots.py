"""Reading one attachment point (slot) of a device's live config: the decision types and the
tree walks that :mod:`enforcer.compose` and :mod:`enforcer.compose_acl` share (platform facts in
``platform.yaml`` ``slots``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .conftree import Node, SlotFacts, SlotPath
from .inventory import Device
from .render import platform_info
from .seqnum import SeqRange


class SlotMode(StrEnum):
    FREE = "free"
    COMPOSED = "composed"
    REFUSED = "refused"


class SlotDecision(BaseModel):
    """One attachment point on one device: how enforcer uses it, and why (shown by ``enforcer plan``)."""

    model_config = ConfigDict(frozen=True)
    slot: str
    mode: SlotMode
    operator_object: str | None = None
    reason: str = ""


def slot_facts(device: Device) -> SlotFacts | None:
    info = platform_info(device.platform)
    return info.slots


def sequence_range(device: Device, facts: SlotFacts) -> SeqRange:
    lo, hi = device.sequence_range or facts.sequence_range
    return SeqRange(lo=lo - 1, hi=hi, step=1, ordered=False)


def fill(pattern: str, **values: str) -> re.Pattern[str]:
    for key, value in values.items():
        pattern = pattern.replace("{" + key + "}", value)
    return re.compile(pattern, re.IGNORECASE)


def matches(tree: Node, path: list[re.Pattern[str]]) -> Iterator[tuple[list[Node], re.Match[str]]]:
    """Every chain of nodes matching ``path`` level by level (top-level line, a line under it,
    ...), with the match of the last level: one walk of the parts of the tree the path names."""
    def walk(node: Node, depth: int, chain: list[Node]) -> Iterator[tuple[list[Node], re.Match[str]]]:
        for child in node.children.values():
            m = path[depth].search(child.text)
            if not m:
                continue
            if depth == len(path) - 1:
                yield [*chain, child], m
            else:
                yield from walk(child, depth + 1, [*chain, child])

    return walk(tree, 0, [])


def slot_object(tree: Node, paths: tuple[SlotPath, ...], family: int, **values: str) -> tuple[str, str] | None:
    """(the line, the operator's object) in the first occupied slot of ``paths`` for ``family``;
    enforcer's own objects (ENFORCER-…) do not occupy a slot."""
    for sp in paths:
        if sp.family not in (None, family):
            continue
        path = [fill(p, family=str(family), **values) for p in sp.path]
        for chain, m in matches(tree, path):
            obj = m.groupdict().get("object") or ""
            if not obj.startswith("ENFORCER-"):
                return chain[-1].text, obj
    return None


