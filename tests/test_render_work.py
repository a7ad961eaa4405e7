"""A big ACL costs the templates a fixed amount of work per entry, and no macro call or slow check per entry
(issue 12.1: a 10,000-entry deny ACL for seven platforms).

Counted, not timed: macro invocations, printed values that needed the slow check (:func:`render._checked`),
and template renders. The output itself is the goldens' subject (tests/test_templates.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import jinja2.runtime
import pytest

from enforcer import render
from enforcer.inventory import Platform
from enforcer.jinja_compiler import CompiledTemplates
from enforcer.model import ActionParams, Protocol
from enforcer.render import build_section, print_section
from tests.test_templates import EDGE, T0, enforcement
from tests.test_templates import inventory as inventory  # noqa: F401 - the module fixture

#: The platforms whose ACL prints one line per port per entry.
LINE_ACLS = [Platform.IOS, Platform.IOSXR, Platform.EOS, Platform.NXOS]


def spam_acl(n: int, offset: int = 0) -> list:
    """``n`` spam acl enforcements (tcp 25/465/587 from the host), IPv4 and IPv6 alternating."""
    params = ActionParams(protocol=Protocol.TCP, ports=(25, 465, 587))
    return [enforcement(i, "acl", f"10.9.{i // 250}.{i % 250}/32" if i % 2 else f"2001:db8::{i:x}/128",
                        params=params, comment="")
            for i in range(1 + offset, n + 1 + offset)]  # fmt: skip


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> Iterator[list[int]]:
    calls = [0]
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    yield calls
    monkeypatch.setattr(owner, name, original)


def _printed(inventory, platform: Platform, enforcements: list) -> str:
    device = inventory.device(EDGE[platform])
    render.forget(device.name)
    try:
        return print_section(build_section(device, enforcements, inventory, at=T0))
    finally:
        render.forget(device.name)


@pytest.mark.parametrize("platform", LINE_ACLS, ids=str)
def test_an_acl_entry_costs_no_macro_call(inventory, platform, monkeypatch) -> None:  # noqa: F811
    """The operand (any / host A / A WILDCARD / A/L) is spelled inline, once per entry: a macro
    call per entry (Context.call, a new frame, a Markup join) was a quarter of the print."""
    _printed(inventory, platform, spam_acl(2))  # templates compiled and imported
    counts = []
    for n in (20, 200):
        with counting(monkeypatch, jinja2.runtime.Macro, "_invoke") as calls:
            text = _printed(inventory, platform, spam_acl(n))
        assert text.count("deny") >= 3 * n
        counts.append(calls[0])
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("platform", [*LINE_ACLS, Platform.JUNOS, Platform.NFTABLES], ids=str)
def test_an_ipv4_acl_entry_prints_nothing_through_the_slow_check(inventory, platform, monkeypatch) -> None:  # noqa: F811
    """Networks, ints, the entry's enums and plain safe strings are decided by type: the violation
    (an enum) went through ``_checked`` on every remark."""
    ipv4 = [e for e in spam_acl(400) if e.target.version == 4]
    counts = []
    for n in (20, 200):
        with counting(monkeypatch, render, "_checked") as calls:
            text = _printed(inventory, platform, ipv4[:n])
        assert str(ipv4[n - 1].target.network_address) in text
        counts.append(calls[0])
    assert counts[0] == counts[1], counts


def test_a_new_process_loads_the_compiled_templates_instead_of_compiling_them(monkeypatch) -> None:
    """Compiling the 46 templates of the seven ACL platforms was a tenth of a render process's CPU."""
    import jinja2

    from enforcer.platforms import TEMPLATES_DIR

    first = render.environment.__wrapped__(TEMPLATES_DIR)  # what a process builds at its first render
    first.get_template("ios/section.j2")
    second = render.environment.__wrapped__(TEMPLATES_DIR)  # the next process
    with counting(monkeypatch, jinja2.Environment, "compile") as compiles:
        second.get_template("ios/section.j2").render  # noqa: B018 - loaded, with what it imports
        second.get_template("ios/acl.j2")
    assert compiles[0] == 0


def test_a_cache_that_cannot_be_written_only_compiles_again(tmp_path) -> None:
    import jinja2

    (tmp_path / "not-a-directory").write_text("")
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.j2": "{{ x }}"}),
                             bytecode_cache=CompiledTemplates(str(tmp_path / "not-a-directory")))  # fmt: skip
    assert env.get_template("t.j2").render(x=1) == "1"


def test_the_junos_chain_prefilter_matches_exactly_the_lines_a_chain_pattern_matches() -> None:
    """setconf.chains tries its kinds only on lines the one alternation matches: never one less."""
    from enforcer import setconf
    from enforcer.platforms import platform_info

    kinds = tuple(platform_info(Platform.JUNOS).slots.set_chains.items())
    patterns, maybe = setconf._chain_patterns(kinds)
    assert maybe is not None
    lines = ["set interfaces ge-0/0/1 unit 0 family inet filter input-list ENFORCER-ACL-V4",
             "set interfaces ge-0/0/1 unit 0 family inet6 filter input CUST",
             "set protocols bgp group CUST neighbor 192.0.2.1 export ENFORCER-RTBH-GUARD",
             "set protocols bgp import PASS", "set protocols bgp group CUST type external",
             "set firewall family inet filter ENFORCER-ACL-V4 term ENFORCER-1 then discard",
             "set interfaces ge-0/0/1 unit 0 family inet filter input"]  # fmt: skip
    for line in lines:
        assert (maybe.match(line) is not None) == any(p.match(line) for p in patterns.values()), line


def test_trusted_models_share_one_fields_set_and_a_copy_leaves_the_others_alone() -> None:
    """A set of 13 field names per stored enforcement was 73 MB of a 100,000-enforcement plan."""
    from datetime import timedelta
    from ipaddress import ip_network

    from enforcer.model import ActionKind, Enforcement, trusted

    def one(i: int) -> Enforcement:
        return trusted(Enforcement, {"id": i, "decision_id": i, "action": ActionKind.ACL,
                                     "target": ip_network(f"192.0.2.{i}/32"), "violation": "spam",
                                     "params": ActionParams(protocol="tcp", ports=(25,)), "roles": frozenset(),
                                     "customer": None, "asn": None, "comment": "", "created_at": T0,
                                     "expires_at": None, "status": "active"})  # fmt: skip

    many = [one(i) for i in range(1, 200)]
    assert len({id(e.__pydantic_fields_set__) for e in many}) == 1
    later = many[0].model_copy(update={"expires_at": T0 + timedelta(hours=1)})
    assert later.expires_at == T0 + timedelta(hours=1) and many[1].expires_at is None
    assert later.model_fields_set == many[1].model_fields_set == set(Enforcement.model_fields)
    assert many[1] == Enforcement.model_construct(**dict(many[1]))


def test_the_printed_texts_tidy_fast_path_gives_what_the_line_by_line_tidy_gives() -> None:
    """A section prints ASCII with nothing to strip but its last blank lines: `_tidy` sees that in a
    few scans instead of splitting 255,000 lines; any text must come out as the line-by-line tidy."""
    import itertools

    def by_line(text: str) -> str:
        lines = [ln.rstrip() for ln in text.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n" if lines else ""

    pieces = ["a", " ", "\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\u2028", "é"]
    for n in range(5):
        for combo in itertools.product(pieces, repeat=n):
            text = "".join(combo)
            assert render._tidy(text) == by_line(text), repr(text)


class _CountedSafeText:
    """``render._SAFE_TEXT`` that counts its ``fullmatch`` calls: each is one check of a printed string."""

    def __init__(self, pattern):
        self.pattern, self.calls = pattern, 0

    def fullmatch(self, text):
        self.calls += 1
        return self.pattern.fullmatch(text)


@pytest.mark.parametrize("platform", [*LINE_ACLS, Platform.JUNOS], ids=str)
def test_an_acl_entry_s_text_is_checked_once_not_once_per_printed_line(inventory, platform, monkeypatch) -> None:  # noqa: F811
    """The deny (Junos: term) text of an entry is checked when the template makes it (``checked``)
    and the port texts once per distinct ports (``eq_ports``): checking every printed string of a
    3-port entry was 8 or more regex matches per entry (IOS 12)."""
    counted = _CountedSafeText(render._SAFE_TEXT)
    monkeypatch.setattr(render, "_SAFE_TEXT", counted)
    counts = []
    for n in (20, 200):
        counted.calls = 0
        text = _printed(inventory, platform, spam_acl(n))
        assert text.count("deny" if platform is not Platform.JUNOS else "discard") >= n
        counts.append(counted.calls)
    assert (counts[1] - counts[0]) / 180 <= 2, counts  # the deny or term, and one of the comment or protocol


def test_a_template_s_checked_text_is_refused_as_a_printed_one_would_be() -> None:
    env = render.environment()
    assert env.from_string("{{ x|checked }}").render(x="deny tcp host 10.0.0.1 any") == "deny tcp host 10.0.0.1 any"
    for bad in ("a\nb", "x; flush ruleset", "a\u2028b"):
        with pytest.raises(render.RenderError):
            env.from_string("{% set y = x|checked %}{{ y }}").render(x=bad)


def test_port_texts_follow_the_table_given_and_refuse_an_unsafe_name() -> None:
    env = render.environment()
    line = env.from_string("{% for eq in ports|eq_ports(names) %}[{{ eq }}]{% endfor %}")
    assert line.render(ports=(25, 26), names={25: "smtp"}) == "[ eq smtp][ eq 26]"
    assert line.render(ports=(25, 26), names={25: "mail"}) == "[ eq mail][ eq 26]"  # another table, its own names
    assert line.render(ports=(), names={}) == "[]"  # one line without ports
    with pytest.raises(render.RenderError):
        line.render(ports=(25,), names={25: "smtp\nexit"})


@pytest.mark.parametrize("platform", [*LINE_ACLS, Platform.JUNOS, Platform.NFTABLES, Platform.OPENFLOW], ids=str)
def test_a_printed_section_is_freed_without_the_cyclic_collector(inventory, platform) -> None:  # noqa: F811
    """A section template that defines macros (OpenFlow's) left its render's context and the macros
    holding each other, and the context held the device's section: every OpenFlow section of a big
    plan waited for the cyclic collector (117,000 objects at 100,000 enforcements). Now the print
    leaves nothing for it, so the one-shot plan runs with the collector off (collector.one_command)."""
    device = inventory.device(EDGE.get(platform, "of-edge1"))
    enforcements = spam_acl(200)

    def printed() -> str:
        try:
            return print_section(build_section(device, enforcements, inventory, at=T0))
        finally:
            render.forget(device.name)

    printed()  # templates loaded: not what is counted
    gc.collect()
    gc.disable()
    try:
        text = printed()
        left = gc.collect()
    finally:
        gc.enable()
    assert "10.9.0.199" in text  # the last entry: the section was printed whole
    assert left == 0
