"""Nornir SimpleInventory resolution: a host's values as Nornir itself would resolve them.

An operator's Nornir inventory (``hosts.yaml``, ``groups.yaml``, ``defaults.yaml``) is read as it is:
the five connection attributes (``hostname``, ``port``, ``username``, ``password``, ``platform``)
and ``connection_options`` at the top of each element, everything else under ``data:``, groups that
belong to groups. enforcer's own keys (``role``, ``transport``, ``attach_interfaces`` ...) live under
``data:`` like any other tool's; the older flat layout (enforcer's keys at the top, as in
``inventory/example``) is read as if those keys were the element's ``data``.

The order is Nornir's (``nornir.core.inventory.Host``), so both tools agree on every value:
the host, then its *extended* groups (each group followed depth-first by its own parents, no
group twice), then the defaults. ``tests/test_inventory_nornir.py`` checks that against a real
``InitNornir`` on the same files. Nornir itself is not imported: it is a test dependency only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The attributes Nornir keeps outside ``data:``; every other top-level key is enforcer's (flat layout).
ATTRIBUTES = ("hostname", "port", "username", "password", "platform")
_STRUCTURE = {*ATTRIBUTES, "groups", "data", "connection_options"}


def extended_groups(element: Mapping[str, Any], groups: Mapping[str, Any], problems: list[str],
                    where: str, groups_where: str, _seen: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """``Host.extended_groups()``: each group, then its own parents depth-first; a name appears once."""
    out: list[str] = []
    for name in element.get("groups") or []:
        if name not in groups:
            problems.append(f"{where}.groups: unknown group {name!r}")
            continue
        if name in _seen:
            problems.append(f"{where}.groups: group {name!r} belongs to itself")
            continue
        parents = extended_groups(groups[name] or {}, groups, problems, f"{groups_where}{name}", groups_where,
                                  (*_seen, name))  # fmt: skip
        for g in (name, *parents):
            if g not in out:
                out.append(g)
    return out


def _data(element: Mapping[str, Any]) -> dict[str, Any]:
    """The element's ``data:``, with the flat layout's enforcer keys read as data too (``data:`` wins)."""
    flat = {k: v for k, v in element.items() if k not in _STRUCTURE}
    return {**flat, **(element.get("data") or {})}


def resolve_host(name: str, hosts: Mapping[str, Any], groups: Mapping[str, Any], defaults: Mapping[str, Any],
                 problems: list[str], where: tuple[object, object] = ("hosts.yaml", "groups.yaml"),
                 ) -> dict[str, Any]:  # fmt: skip
    """One host as Nornir resolves it: ``{"attributes", "data", "groups", "connection_options"}``.

    ``data`` holds every key Nornir's ``host[key]`` would answer (a defaults value of None counts as
    absent, as in Nornir); ``connection_options`` maps each connection named anywhere in the chain
    to what ``host.get_connection_parameters(name)`` returns.
    """
    host = hosts[name] or {}
    hosts_file, groups_file = where
    chain_names = extended_groups(host, groups, problems, f"{hosts_file}: {name}", f"{groups_file}: ")
    chain = [host, *(groups[g] or {} for g in chain_names)]
    attributes = {a: next((e[a] for e in (*chain, defaults) if e.get(a) is not None), None) for a in ATTRIBUTES}
    data: dict[str, Any] = {}
    for element in chain:
        for k, v in _data(element).items():
            data.setdefault(k, v)
    for k, v in _data(defaults).items():
        if v is not None:
            data.setdefault(k, v)
    names = {c for e in (*chain, defaults) for c in (e.get("connection_options") or {})}
    options = {c: _connection(c, host, groups, defaults, attributes) for c in sorted(names)}
    return {"attributes": attributes, "data": data, "groups": chain_names, "connection_options": options}


def _connection(conn: str, host: Mapping[str, Any], groups: Mapping[str, Any], defaults: Mapping[str, Any],
                attributes: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """``host.get_connection_parameters(conn)``: the options found first, else the host's attribute."""
    found = _options_recursively(conn, host, groups, defaults, ())
    out = {a: found[a] if found.get(a) is not None else attributes[a] for a in ATTRIBUTES}
    out["extras"] = found["extras"] if found.get("extras") is not None else {}
    return out


def _options_recursively(conn: str, element: Mapping[str, Any], groups: Mapping[str, Any],
                         defaults: Mapping[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    """``_get_connection_options_recursively``: the element's own, then each parent group's, then defaults'."""
    keys = (*ATTRIBUTES, "extras")
    own = ((element.get("connection_options") or {}).get(conn)) or {}
    merged = {k: own.get(k) for k in keys}
    below = [_options_recursively(conn, groups[g] or {}, groups, defaults, (*seen, g))
             for g in element.get("groups") or [] if g in groups and g not in seen]  # fmt: skip
    fallback = ((defaults.get("connection_options") or {}).get(conn)) or {}
    for other in (*below, fallback):
        for k in keys:
            if merged[k] is None:
                merged[k] = other.get(k)
    return merged
