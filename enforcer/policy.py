"""Playbooks turn a Decision into enforcements; guardrails refuse what would hurt the network.

A playbook (``playbooks/<category>.yaml``) is an escalation ladder: the first offence takes the
first step, a repeat for the same target within ``escalation_window`` the next, and so on (the
last step repeats). Guardrails run before anything is stored: protected prefixes, absurd or
over-broad prefixes, bogons, and the rates that stop a detector flood from blackholing the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, lru_cache
from ipaddress import ip_network
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .inventory import Inventory, PrefixSet, covers
from .model import (
    TRAFFIC_ACTIONS,
    ActionKind,
    ActionParams,
    Community,
    Decision,
    Direction,
    DurationT,
    FileProblems,
    InvalidInput,
    Name,
    Port,
    Prefix,
    Protocol,
    Refused,
    Status,
    Violation,
    trusted,
)
from .resources import load_yaml
from .tables import DecisionRecord

#: Actions that drop all of an address's traffic: a detector may take them only for our own space.
BLACKHOLES = frozenset({ActionKind.NULL_ROUTE, ActionKind.RTBH})


class PlaybookError(FileProblems):
    """A problem in the playbook files."""


class Step(BaseModel):
    """One rung of the ladder: an action, its parameters, and optionally its own TTL and roles."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: ActionKind
    protocol: Protocol = Protocol.ANY
    ports: tuple[Port, ...] = ()
    direction: Direction = Direction.SOURCE
    rate: str | int | None = None
    burst: int | None = None
    community: Community | None = None
    ttl: DurationT | None = None
    roles: tuple[Name, ...] | None = None

    def params(self) -> ActionParams:
        """The step's parameters as one model, validated once (intake asks for every decision)."""
        return self.action_params

    @cached_property
    def action_params(self) -> ActionParams:
        return ActionParams(
            protocol=self.protocol,
            ports=self.ports,
            direction=self.direction,
            rate_bps=self.rate,
            burst_bytes=self.burst,
            community=self.community,
        )


class Playbook(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    violation: Violation
    default_ttl: DurationT
    escalation_window: DurationT = timedelta(days=30)
    roles: tuple[Name, ...] = ("edge",)
    ladder: tuple[Step, ...] = Field(min_length=1)
    #: Opt-in: end a block whose counters saw no traffic, or stopped seeing it, for this long
    #: (enforcer.counters.lift_idle) — a detector blind behind its own blackhole never says "over".
    lift_when_idle: DurationT | None = None
    #: How long a block's counters may sit still before the console and ``/v1/counters`` flag it
    #: ("no traffic seen", "traffic stopped"): a scan block may rightly idle for hours, a DDoS
    #: blackhole that counts nothing for minutes is worth a look (enforcer.counters.Sampler).
    flag_idle_after: DurationT = timedelta(minutes=10)

    def step_for(self, prior_offences: int) -> tuple[int, Step]:
        index = min(prior_offences, len(self.ladder) - 1)
        return index, self.ladder[index]


class NeedsForce(Refused):
    """Refused only for its breadth: an operator may force it, a detector's waits for approval."""


class EnforcementSpec(BaseModel):
    """An enforcement before the store gives it an id."""

    model_config = ConfigDict(frozen=True)
    action: ActionKind
    target: Prefix
    params: ActionParams
    roles: frozenset[str]
    ttl: timedelta


def load_playbooks(folder: Path) -> dict[Violation, Playbook]:
    """Every ``*.yaml`` in ``folder``; every problem reported with its file and path."""
    problems: list[str] = []
    books: dict[Violation, Playbook] = {}
    if not folder.is_dir():
        raise PlaybookError([f"{folder}: playbook folder does not exist"])
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = load_yaml(path.read_text()) or {}
            book = Playbook.model_validate(data)
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(f"{path}: {loc}: {err['msg'].removeprefix('Value error, ')}")
            continue
        if book.violation in books:
            problems.append(f"{path}: violation: a second playbook for {book.violation}")
        books[book.violation] = book
    missing = sorted(set(Violation) - set(books))
    if missing:
        problems.append(f"{folder}: no playbook for: {', '.join(missing)}")
    if problems:
        raise PlaybookError(problems)
    return books


def enforcements_for(decision: Decision, book: Playbook, prior_offences: int) -> tuple[int, list[EnforcementSpec]]:
    """The ladder step this decision takes and the enforcements it creates."""
    index, step = book.step_for(prior_offences)
    ttl = step.ttl or book.default_ttl
    roles = frozenset(step.roles if step.roles is not None else book.roles)
    # Every value is typed already (the decision, the playbook's step): validating the spec again
    # was a tenth of storing a list of 10,000 (issue 12.5).
    spec = trusted(EnforcementSpec, {"action": step.action, "target": decision.target, "params": step.params(),
                                     "roles": roles, "ttl": ttl})
    return index, [spec]


# ------------------------------------------------------------------ guardrails

DEFAULT_V4 = ip_network("0.0.0.0/0")
DEFAULT_V6 = ip_network("::/0")

#: Addresses that are never a meaningful target of a traffic block: this-network, loopback,
#: link-local, multicast, reserved, IPv4-mapped. Documentation ranges are *not* here: they are
#: what the examples and the lab use. RFC 1918 space is not here either: hosting networks block
#: their own private addressing in practice. A prefix filter may still deny a bogon announcement.
BOGONS: tuple[Prefix, ...] = tuple(
    ip_network(p)
    for p in (
        "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/8", "fe80::/10", "ff00::/8", "::ffff:0:0/96",
    )
)


#: Bisection over merged ranges, not a subnet test per bogon per decision (intake runs this per item).
_BOGON_SET = PrefixSet(BOGONS)


@lru_cache(maxsize=64)
def prefix_set(prefixes: tuple[Prefix, ...]) -> PrefixSet:
    """The guardrails' protected prefixes as one :class:`PrefixSet`, built once per list, not per decision."""
    return PrefixSet(prefixes)


def check_decision(decision: Decision, inventory: Inventory, book: Playbook) -> None:
    """Refuse (``Refused``/``InvalidInput`` naming the field) before anything is stored."""
    target = decision.target
    g = inventory.guardrails
    if target in (DEFAULT_V4, DEFAULT_V6):
        raise Refused("target", f"{target} is the default route; it is never blocked")
    if decision.customer is not None and decision.customer not in inventory.customers:
        raise InvalidInput("customer", f"no customer {decision.customer!r} in the inventory")
    if decision.violation in (Violation.BGP_HIJACK, Violation.SPOOFING):
        _check_customer_scoped(decision, inventory)
    actions = {s.action for s in book.ladder}
    if not actions & TRAFFIC_ACTIONS:
        return
    if _BOGON_SET.overlaps(target):
        bogon = next(b for b in BOGONS if covers((b,), target))
        raise Refused("target", f"{target} overlaps the bogon {bogon}; it is never blocked")
    if g.protected and prefix_set(g.protected).overlaps(target):
        protected = next(p for p in g.protected if covers((p,), target))
        raise Refused("target", f"{target} overlaps protected prefix {protected}; it is never blocked")
    limit = g.max_prefixlen_v4 if target.version == 4 else g.max_prefixlen_v6
    if target.prefixlen < limit and not decision.force:
        raise NeedsForce("target", f"{target} is broader than /{limit}; add --force if you really mean it")


def _check_customer_scoped(decision: Decision, inventory: Inventory) -> None:
    cust = inventory.customers.get(decision.customer or "")
    if cust is None and decision.asn is not None:
        cust = inventory.customer_by_asn(decision.asn)
    if cust is None:
        raise InvalidInput("customer", f"{decision.violation} needs a known customer (by id or ASN)")
    if decision.violation is Violation.BGP_HIJACK and covers(cust.prefixes, decision.target):
        raise Refused(
            "target",
            f"{decision.target} overlaps {cust.id}'s own prefixes; filtering it would drop their legitimate routes",
        )


def resolve_customer(decision: Decision, inventory: Inventory) -> str | None:
    """The customer id a decision concerns (given directly, or found by ASN)."""
    if decision.customer:
        return decision.customer
    if decision.asn is not None:
        cust = inventory.customer_by_asn(decision.asn)
        return cust.id if cust else None
    return None


# ------------------------------------------------------------------ the intake decision, over one snapshot


@dataclass(frozen=True)
class Snapshot:
    """What the store holds that a decision's fate depends on, read inside the intake transaction."""

    by_key: DecisionRecord | None  # the decision in force that created this idempotency key
    duplicate: DecisionRecord | None  # the same offence from the same source, in force
    new_automatic: int  # automatic decisions stored in the last minute, every source (detectors' only)
    new_from_source: int  # ... from this decision's source and caller (detectors' only)
    active: int  # active enforcements, all devices
    prior: int  # decisions for this target and category inside the escalation window
    hosts_in_space: int  # automatic decisions in force inside the customer prefix holding the target (detectors')


@dataclass(frozen=True)
class Replay:
    """Nothing new to store: the decision in force answers (a retry, a repeat, a second alert)."""

    record: DecisionRecord


@dataclass(frozen=True)
class Admit:
    """Store a new decision: held (pending) or enforced, at this ladder step."""

    status: Status
    step: int
    specs: list[EnforcementSpec]


def decide(
    decision: Decision, snap: Snapshot, inventory: Inventory, book: Playbook, *, automatic: bool
) -> Replay | Admit:
    """The whole intake policy, a pure function of the snapshot (raises ``Refused``/``InvalidInput``).

    ``automatic``: from a detector. Detectors are held where an operator would need ``--force``,
    stopped by the flood breaker, and may blackhole only customers' and the operator's own space;
    operators are never stopped by the flood breaker (during a flood they are the ones who must act).
    """
    if snap.by_key is not None:
        held = snap.by_key
        if ip_network(held.target) != decision.target or held.violation is not decision.violation:
            raise Refused("idempotency_key",
                          f"already used by decision {held.id} ({held.violation} {held.target}); use a new key")
        return Replay(held)
    if snap.duplicate is not None:
        return Replay(snap.duplicate)
    status = Status.ACTIVE
    try:
        check_decision(decision, inventory, book)
        if automatic:
            _check_detector_breadth(decision, snap, inventory)
    except NeedsForce:
        if not automatic:
            raise
        status = Status.PENDING
    step, specs = enforcements_for(decision, book, snap.prior)
    if automatic:
        _check_blackhole_space(decision, specs, inventory)
        _check_flood(decision, snap, inventory)
    g = inventory.guardrails
    if snap.active + len(specs) > g.max_active:
        raise Refused("blast_radius", f"{snap.active} active enforcements; the cap is {g.max_active}")
    return Admit(status=status, step=step, specs=specs)


def _check_flood(decision: Decision, snap: Snapshot, inventory: Inventory) -> None:
    """The flood breaker: automatic decisions per rolling minute, for every detector and for this one."""
    g = inventory.guardrails
    if snap.new_automatic >= g.max_new_per_minute:
        raise Refused("rate", f"{snap.new_automatic} detector decisions in the last minute; "
                              f"the cap is {g.max_new_per_minute} (operators are not capped)")
    per_source = g.max_new_per_minute_per_source
    if per_source is not None and snap.new_from_source >= per_source:
        raise Refused("rate", f"{snap.new_from_source} decisions from {decision.source} ({decision.actor}) "
                              f"in the last minute; the per-source cap is {per_source}")


def customer_space(target: Prefix, inventory: Inventory) -> tuple[Prefix, ...]:
    """The prefixes of the customer whose space holds ``target`` (empty when none does)."""
    for cust in inventory.customers.values():
        for p in cust.prefixes:
            if p.version == target.version and target.subnet_of(p):  # type: ignore[arg-type]
                return cust.prefixes
    return ()


def _check_detector_breadth(decision: Decision, snap: Snapshot, inventory: Inventory) -> None:
    """A detector's block of a customer's whole prefix, or of more than N of its hosts, waits for a person."""
    target = decision.target
    for cust in inventory.customers.values():
        for p in cust.prefixes:
            if p.version == target.version and p.subnet_of(target):  # type: ignore[arg-type]
                raise NeedsForce("target", f"{target} covers {cust.id}'s whole prefix {p}; held for approval")
    limit = inventory.guardrails.max_detector_hosts_per_customer
    if customer_space(target, inventory) and snap.hosts_in_space >= limit:
        raise NeedsForce("target", f"detectors already block {snap.hosts_in_space} hosts of the customer holding "
                                   f"{target} (limit {limit}); held for approval")


def _check_blackhole_space(decision: Decision, specs: list[EnforcementSpec], inventory: Inventory) -> None:
    """RFC 7999 §3.3: a detector may blackhole only addresses inside a customer's or the operator's own
    space; a third-party address (an attacker, someone's web server) needs an operator."""
    if not any(s.action in BLACKHOLES for s in specs):
        return
    target = decision.target
    if customer_space(target, inventory) or covers_within(inventory.guardrails.own_space, target):
        return
    raise Refused("target", f"{target} is in no customer's and not in the operator's own space "
                            "(guardrails.own_space): a detector may not blackhole it; an operator can")


def covers_within(space: tuple[Prefix, ...], target: Prefix) -> bool:
    return any(p.version == target.version and target.subnet_of(p) for p in space)  # type: ignore[arg-type]
