"""What a merge candidate would change on an indented (IOS-style) configuration, read from the device.

``merge_diff(live, candidate)`` walks the candidate the way a CLI merge applies it: a line that
the live config already holds (under the same parents) changes nothing; a new line is an
addition; ``no X`` removes the live line(s) starting with ``X`` — a whole block if ``X`` opens
one — and is a no-op when nothing matches. The result lists only real changes, with their parent
lines for context, so an idempotent push compares empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Lines that carry no configuration: banners of ``show running-config`` and block terminators.
_NOISE_PREFIXES = ("Building configuration", "Current configuration", "frr version", "end")
_TERMINATORS = {"exit", "exit-address-family", "exit-vrf", "exit-vni", "quit", "end", "!"}


@dataclass
class Block:
    line: str
    children: list[Block] = field(default_factory=list)

    def find(self, line: str) -> Block | None:
        return next((c for c in self.children if c.line == line), None)

    def starting_with(self, text: str) -> list[Block]:
        return [c for c in self.children if c.line == text or c.line.startswith(text + " ")]


def parse(config: str, comment: str = "!") -> Block:
    """An indented config as a tree; indentation gives nesting, terminators and comments are dropped."""
    root = Block("")
    stack: list[tuple[int, Block]] = [(-1, root)]
    for raw in config.splitlines():
        line = raw.rstrip()
        text = line.strip()
        if not text or text in _TERMINATORS or text.startswith(comment) or text.startswith(_NOISE_PREFIXES):
            continue
        indent = len(line) - len(line.lstrip())
        while stack[-1][0] >= indent:
            stack.pop()
        block = Block(text)
        stack[-1][1].children.append(block)
        stack.append((indent, block))
    return root


def _lines(block: Block, depth: int, mark: str) -> list[str]:
    out = [f"{mark}{' ' * depth}{block.line}"]
    for child in block.children:
        out += _lines(child, depth + 1, mark)
    return out


def _copy(block: Block) -> Block:
    return Block(block.line, [_copy(c) for c in block.children])


def apply_merge(live: Block, cand: Block) -> None:
    """Apply ``cand`` onto ``live`` in order, as a CLI merge would (in place)."""
    for c in cand.children:
        if c.line.startswith("no "):
            gone = live.starting_with(c.line[3:])
            live.children = [x for x in live.children if x not in gone]
            continue
        existing = live.find(c.line)
        if existing is None:
            existing = Block(c.line)
            live.children.append(existing)
        apply_merge(existing, c)


def tree_diff(before: Block, after: Block, depth: int = 0) -> list[str]:
    """Lines only in ``before`` (``-``) or only in ``after`` (``+``), with unchanged parents as context."""
    out: list[str] = []
    after_lines = {c.line for c in after.children}
    for b in before.children:
        if b.line not in after_lines:
            out += _lines(b, depth, "-")
    for a in after.children:
        b = before.find(a.line)
        if b is None:
            out += _lines(a, depth, "+")
            continue
        inner = tree_diff(b, a, depth + 1)
        if inner:
            out.append(f" {' ' * depth}{a.line}")
            out += inner
    return out


def merge_diff(live: str, candidate: str, comment: str = "!") -> str:
    """The change ``candidate`` makes to ``live``, one ``+``/``-`` line each ('' when nothing changes)."""
    before = parse(live, comment)
    after = _copy(before)
    apply_merge(after, parse(candidate, comment))
    lines = tree_diff(before, after)
    return "\n".join(lines) + "\n" if lines else ""
