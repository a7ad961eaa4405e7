"""A config tree of the line-oriented, indented CLIs (IOS, IOS XR, EOS, NX-OS, FRR) and the
ordered merge candidate between two of them.

Why a tree in Python and not a Jinja merge: the candidate is an algorithm (parse, match, order),
and the template version compared every line with every other (quadratic; 66 % of a 10,000-route
push). Here each section is parsed once into nodes keyed by their text, and the diff walks both
trees once: linear in the section size.

hier-config (PyPI) was considered: its remediation negates every running line the intended config
lacks (enforcer diffs sections that hold context lines like ``router bgp 65000`` it must only
enter), it has no FRR driver, and it has no notion of enforcer's slot ordering (objects before the
lines that reference them). The model needed is small, so it lives here.

Rules, each from a platform fact (``templates/<platform>/platform.yaml``, key ``tree``):

* A node is **owned** when its line matches a ``managed`` pattern, or it is a leaf (a leaf in a
  managed section is always enforcer's: a static route, a prefix-list entry, an ACE placed in an
  operator's ACL). A block that matches no pattern (``interface X``, ``router bgp N``, the
  operator's ``ip access-list extended CUST-IN`` enforcer composes into) is **context**: entered,
  never negated.
* Changes are **entry-level**: inside a block present on both sides only the children that differ
  are negated or stated (by sequence number on the platforms that number entries), never
  delete-and-rebuild. Blocks closed by an ``atomic`` closer (IOS XR ``end-set`` / ``end-policy``)
  are restated whole, which IOS XR applies as one replacement.
* **Order** (never dangle, never lapse): new and changed objects first; then new references
  (lines matching ``references``: an ACL bound to an interface, a prefix-list on a neighbour);
  then references that left (unless a new line in the same ``replaces`` slot already replaced
  them); then entries that left surviving objects, and last whole objects that left (in reverse
  order, so a policy-map goes before the class-maps it calls). Within an object, an entry whose
  sequence number is reused by a new entry is negated first (the device refuses a duplicate).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


class TreeFacts(BaseModel):
    """How one platform's CLI nests, negates and numbers (``platform.yaml`` ``tree``)."""

    model_config = ConfigDict(frozen=True)
    negate: str = "no "
    reenter: str = ""
    atomic_closers: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    sequence: str = r"^(\d+) "
    create_order: tuple[str, ...] = ()
    #: references bound in this order (unbound in reverse); others after
    bind_order: tuple[str, ...] = ()
    #: blocks that are enforcer's although they match no managed pattern (an entry enforcer put in
    #: an operator's route-map): negated whole, never emptied
    owned_blocks: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ("!",)
    #: top-level block kinds in the order the render prints them, where the device's own order
    #: of its top-level blocks carries no meaning (IOS XR, NX-OS: a config is a set of objects;
    #: entries inside a block keep their order): :func:`canonical` sorts both sides by it
    block_order: tuple[str, ...] = ()


class SlotPath(BaseModel):
    """Where a slot sits: one regex per level of the config tree (``router bgp`` → address family
    → the binding line); ``family`` limits it to IPv4 or IPv6. Placeholders: ``{family}``,
    ``{neighbor}``, ``{name}``, ``{kw}`` (``ip`` / ``ipv6``); group ``object`` is the bound object."""

    model_config = ConfigDict(frozen=True)
    path: tuple[str, ...]
    family: int | None = None


class SlotFacts(BaseModel):
    """``platform.yaml`` ``slots``: where a platform binds enforcer's objects, and how to read them."""

    model_config = ConfigDict(frozen=True)
    #: enforcer's default sequence range inside an operator's object (below the usual first entry, 5 or 10)
    sequence_range: tuple[int, int] = (1, 4)
    neighbor_prefix_list_in: tuple[SlotPath, ...] = ()
    redistribute_static: tuple[SlotPath, ...] = ()
    #: a customer session's outbound route-map (RTBH guard); the path to an entry of route-map
    #: ``{name}`` (groups ``action``, ``seq``), and the line that makes an entry enforcer's
    neighbor_route_map_out: tuple[SlotPath, ...] = ()
    #: the path to a configured BGP session with ``{neighbor}``: no session, nothing to guard
    neighbor_session: tuple[str, ...] = ()
    #: where a session carries address family ``{family}`` (a guard is bound there only); empty:
    #: every session carries every family enforcer announces (FRR)
    neighbor_family_active: tuple[SlotPath, ...] = ()
    route_map_entry: str = r"^route-map {name} (?P<action>permit|deny) (?P<seq>\d+)$"
    guard_match: str = "match community ENFORCER-RTBH"
    #: what makes a permit entry of an operator's redistribution route-map enforcer's RTBH entry
    rtbh_match: str = "match tag 666"
    #: set where the templates can put that entry into the operator's `redistribute static
    #: route-map` (FRR): the line the device prints after a route-map entry (``exit``). Empty:
    #: an operator's redistribution is refused, never composed with.
    rtbh_entry_closer: str = ""
    #: the path to an entry of prefix-list ``{name}``: groups ``seq`` (its number), ``rest``
    prefix_list_entry: tuple[str, ...] = ()
    #: entries enforcer places: a deny of a prefix and its more-specifics
    enforcer_entry: str = r"^deny \S+( le \d+)?$"
    #: an interface's inbound ACL per family (path from ``interface {interface}``), the header
    #: line of ACL ``{name}`` and the regex of one of its numbered entries (groups ``seq``, ``rest``)
    interface_acl_in: tuple[SlotPath, ...] = ()
    acl_header: tuple[SlotPath, ...] = ()
    acl_entry: tuple[SlotPath, ...] = ()
    #: entries enforcer places in an operator's ACL: denies only (no remark: it would take a number)
    acl_enforcer_entry: str = r"^deny "
    #: an interface's uRPF statement per family (path from ``interface {interface}``; group
    #: ``object``: what follows ``verify unicast``), read before enforcer sets uRPF anti-spoof there
    urpf_in: tuple[SlotPath, ...] = ()
    #: the exec command that makes the router re-run ``{neighbor}``'s inbound filter after its
    #: prefix-list changed (FRR: the list's entries are not re-applied by themselves); enforcer.refresh
    refresh_in: str = ""
    #: the same for an IPv6 list where the platform spells it per family; empty: ``refresh_in``
    refresh_in_v6: str = ""
    #: IOS XR (RPL, enforcer.compose_rpl): regexes over an operator's route-policy that show it
    #: already gives tag-666 statics the blackhole community (``{community}``), or drops it outbound
    rpl_rtbh_entry: str = ""
    rpl_guard: str = ""
    #: Junos (``set`` lines, enforcer.setconf / enforcer.compose_junos): per kind of ordered list
    #: (``filter``, ``import``, ``export``) the regex of one of its lines (groups ``slot``,
    #: ``value``, optional ``form``); and the regex of a BGP neighbour's line (``group``, ``neighbor``)
    set_chains: dict[str, str] = {}
    set_neighbor: str = ""
    #: Junos: the most filters one ``filter input-list`` holds
    filter_list_max: int = 16
    #: Junos: the top-level statements in the order ``display set`` prints them (setconf.canonical)
    set_order: tuple[str, ...] = ()


@dataclass(slots=True)
class Node:
    """One line and the lines indented under it, children keyed by their stripped text."""

    line: str
    children: dict[str, Node] = field(default_factory=dict)
    closer: str | None = None

    @property
    def text(self) -> str:
        return self.line.strip()

    @property
    def indent(self) -> int:
        return len(self.line) - len(self.line.lstrip())

    def lines(self) -> list[str]:
        """The node as printed: itself, its children in order, then its closer. One list filled
        in one walk (a leaf's line appended as it is): a generator per node and a resumption per
        line passed up was most of printing a 4,000-line ACL as the merge candidate."""
        out: list[str] = []
        self._lines_into(out)
        return out

    def _lines_into(self, out: list[str]) -> None:
        out.append(self.line)
        for child in self.children.values():
            if child.children or child.closer is not None:
                child._lines_into(out)
            else:
                out.append(child.line)
        if self.closer is not None:
            out.append(self.closer)

    def same(self, other: Node) -> bool:
        return self.lines() == other.lines()


#: Per thread, inside :func:`trees_kept`: the last few trees parsed, (text, the facts a parse
#: reads, tree), newest last. Outside it (None) nothing is kept.
_parsed = threading.local()
_PARSED_KEPT = 3
#: Texts parsed into trees (not answered from the kept ones): what the tests count.
parses = 0


@contextmanager
def trees_kept() -> Iterator[None]:
    """Within the block, this thread's :func:`parse` of a text it parsed already in the block
    answers with the same tree. One device's plan parses its desired section three times (the
    merge candidate, then twice for the commands after the commit, enforcer.refresh) and the live
    one twice. Scoped to a block (``service``'s plan of one device), so no thread keeps a big
    section's tree after it. A tree is read-only once returned: nothing outside :func:`parse`
    changes a Node (the differ and the slot readers only walk)."""
    outer = getattr(_parsed, "trees", None)
    if outer is None:
        _parsed.trees = []
    try:
        yield
    finally:
        if outer is None:
            _parsed.trees = None


def parse(text: str | Iterable[str], facts: TreeFacts) -> Node:
    """The config as a tree under an empty root; one pass over the lines (inside
    :func:`trees_kept`, a text parsed already answers with its tree)."""
    global parses
    kept: list[tuple[str, tuple, Node]] | None = getattr(_parsed, "trees", None)
    if kept is None or not isinstance(text, str):
        parses += 1
        return _parse(text, facts)
    reads = (facts.ignore, facts.atomic_closers)  # all of the facts a parse reads
    for i, (t, f, tree) in enumerate(kept):
        if f == reads and t == text:
            kept.append(kept.pop(i))
            return tree
    tree = _parse(text, facts)
    parses += 1
    kept.append((text, reads, tree))
    del kept[:-_PARSED_KEPT]
    return tree


_new_node = object.__new__


def _parse(text: str | Iterable[str], facts: TreeFacts) -> Node:
    """One pass, two strips a line (``line.lstrip()`` of the right-stripped line is its stripped
    text, and the indent is what that took off): the desired sections of a 100,000-enforcement
    plan are 230,000 lines, parsed for the merge candidate."""
    root = Node("")
    stack: list[tuple[int, Node]] = [(-1, root)]
    last_top: Node | None = None
    ignore, closers = facts.ignore, facts.atomic_closers
    for raw in text.splitlines() if isinstance(text, str) else text:
        line = raw.rstrip()
        stripped = line.lstrip()
        if not stripped or stripped in ignore:
            continue
        if stripped in closers and last_top is not None:
            last_top.closer = line
            del stack[1:]
            continue
        indent = len(line) - len(stripped)
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        children = parent.children
        node = children.get(stripped)
        if node is None:  # Node(line), its fields set here: no __init__ call a line
            node = children[stripped] = _new_node(Node)
            node.line, node.children, node.closer = line, {}, None
        if parent is root:
            last_top = node
        stack.append((indent, node))
    return root


def canonical(text: str, facts: TreeFacts) -> str:
    """``text`` with its top-level blocks (a line at column 0, the lines indented under it, its
    atomic closer) in ``facts.block_order``, stably: the plan and the read-back compare a live
    section with a render, and IOS XR prints prefix-sets after the interfaces, NX-OS its
    interfaces after the ACLs and prefix-lists, where the render has them the other way round."""
    if not facts.block_order or not text:
        return text
    order = [re.compile(p) for p in facts.block_order]
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if blocks and (line[:1].isspace() or line.strip() in facts.atomic_closers):
            blocks[-1].append(line)
        else:
            blocks.append([line])

    def rank(block: list[str]) -> int:
        return next((i for i, p in enumerate(order) if p.search(block[0])), len(order))

    return "".join(ln + "\n" for block in sorted(blocks, key=rank) for ln in block)


@dataclass
class _Op:
    context: tuple[str, ...]
    lines: list[str]


@dataclass
class _Phases:
    create: list[_Op] = field(default_factory=list)
    bind: list[_Op] = field(default_factory=list)
    unbind: list[_Op] = field(default_factory=list)
    prune: list[_Op] = field(default_factory=list)
    destroy: list[_Op] = field(default_factory=list)

    def ordered(self) -> list[_Op]:
        return self.create + self.bind + self.unbind + self.prune + list(reversed(self.destroy))


class Differ:
    """The ordered merge candidate from ``live`` to ``desired`` for one platform's facts."""

    def __init__(self, facts: TreeFacts, managed: Iterable[str]):
        self.facts = facts
        self.managed = [re.compile(p) for p in managed]
        self.references = [re.compile(p) for p in facts.references]
        self.replaces = [re.compile(p) for p in facts.replaces]
        self.sequence = re.compile(facts.sequence)
        self.create_order = [re.compile(p) for p in facts.create_order]
        self.owned_blocks = [re.compile(p) for p in facts.owned_blocks]
        self.bind_order = [re.compile(p) for p in facts.bind_order]

    # -- classification

    def owned(self, node: Node) -> bool:
        return (not node.children or any(p.search(node.text) for p in self.managed)
                or any(p.search(node.text) for p in self.owned_blocks))

    def is_reference(self, node: Node) -> bool:
        return any(p.search(node.text) for p in self.references)

    def slot(self, text: str) -> str | None:
        """The slot a line fills (its text with the object name blanked), if stating it replaces."""
        for p in self.replaces:
            m = p.search(text)
            if m:
                return text[: m.start("object")] + "\0" + text[m.end("object") :]
        return None

    def seq(self, text: str) -> str | None:
        m = self.sequence.search(text)
        return m.group(1) if m else None

    # -- the walk

    def candidate(self, live: str, desired: str) -> list[str]:
        phases = _Phases()
        self._walk(parse(live, self.facts), parse(desired, self.facts), (), phases, top=True)
        phases.create.sort(key=self._rank)
        phases.destroy.sort(key=self._rank)
        phases.bind.sort(key=self._bind_rank)
        phases.unbind.sort(key=self._bind_rank, reverse=True)
        return self._print(phases.ordered())

    def _bind_rank(self, op: _Op) -> int:
        line = op.lines[0].strip().removeprefix(self.facts.negate)
        return next((i for i, p in enumerate(self.bind_order) if p.search(line)), len(self.bind_order))

    def _rank(self, op: _Op) -> int:
        """Objects that others call come first (an ACL before the class-map matching it)."""
        head = (op.context or (op.lines[0],))[0].strip().removeprefix(self.facts.negate)
        return next((i for i, p in enumerate(self.create_order) if p.search(head)), len(self.create_order))

    def _walk(self, live: Node, want: Node, ctx: tuple[str, ...], ph: _Phases, top: bool) -> None:
        new = [k for k in want.children if k not in live.children]
        added_slots = {self.slot(k) for k in new} - {None}
        added_seqs = {self.seq(k) for k in new} - {None}
        for key, node in live.children.items():
            if key in want.children:
                continue
            if not self.owned(node):
                self._walk(node, Node(node.line), (*ctx, node.line), ph, top=False)
                continue
            negation = _Op(ctx, [node.line[: node.indent] + self.facts.negate + node.text])
            if self.slot(key) is not None and self.slot(key) in added_slots:
                continue  # the new line in the same slot already replaced it
            if self.is_reference(node):
                ph.unbind.append(negation)
            elif self.seq(key) is not None and self.seq(key) in added_seqs:
                ph.create.append(negation)  # free the number before the new entry takes it
            elif top:
                ph.destroy.append(negation)
            else:
                ph.prune.append(negation)
        for key, node in want.children.items():
            old = live.children.get(key)
            if old is None and node.children and not self.owned(node):
                # a new context (router bgp, interface): its lines are ordered one by one
                self._walk(Node(node.line), node, (*ctx, node.line), ph, top=False)
            elif old is None:
                op = _Op(ctx, node.lines())
                (ph.bind if self.is_reference(node) else ph.create).append(op)
            elif node.closer is not None and not node.same(old):
                ph.create.append(_Op(ctx, node.lines()))
            elif node.children or old.children:
                self._walk(old, node, (*ctx, node.line), ph, top=False)

    def _print(self, ops: list[_Op]) -> list[str]:
        out: list[str] = []
        now: tuple[str, ...] = ()
        for op in ops:
            common = 0
            while common < min(len(now), len(op.context)) and now[common] == op.context[common]:
                common += 1
            if self.facts.reenter and common < len(now):
                out.append(self.facts.reenter)
                common = 0
            out.extend(op.context[common:])
            out.extend(op.lines)
            # A block printed whole leaves the CLI inside it, unless it closed itself (end-set).
            opened = len(op.lines) > 1 and op.lines[-1].strip() not in self.facts.atomic_closers
            now = (*op.context, op.lines[0]) if opened else op.context
        return out
