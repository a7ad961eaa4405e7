"""enforcer's Jinja2 compiler (enforcer.jinja_compiler) changes how a template runs, never what it
prints: each case renders the same template through a plain Jinja2 environment and through
enforcer's, and the guard still sees every value."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from enforcer import render
from enforcer.jinja_compiler import FastEnvironment
from enforcer.platforms import RenderError


class Entry:
    target = "198.51.100.7"
    ports = (25, 587)


def both(source: str, **values: Any) -> tuple[str, str]:
    """``source`` rendered by stock Jinja2 and by enforcer's compiler, with the same options."""
    options: dict[str, Any] = {"undefined": jinja2.StrictUndefined, "trim_blocks": True, "lstrip_blocks": True}
    plain = jinja2.Environment(**options).from_string(source).render(**values)
    fast = FastEnvironment(**options).from_string(source).render(**values)
    return plain, fast


@pytest.mark.parametrize(
    "source",
    [
        "{{ e.target }} {{ e.ports[0] }}",  # an attribute, then an item
        "{{ d.key }}",  # a dict's key read with a dot: the item, as in Jinja2
        "{{ 'yes' if e.community is defined else 'no' }}",  # a missing attribute is undefined
        "{{ 'yes' if e.community is not defined else 'no' }}",
        "{% for p in e.ports %} <seq> deny {{ e.target }} eq {{ p }}\n{% endfor %}",  # a joined line
        "{% set x %}a {{ e.target }} b{% endset %}[{{ x }}]",  # a buffered block keeps Jinja2's code
        "{% macro m(a) %}<{{ a }}>{% endmacro %}{{ m(e.target) }} {{ m(e.ports|join('+')) }}",
        "{{ d.get('key') }} {{ d.items()|list|length }}",  # a dict's methods are attributes
        "{{ 'host ' ~ e.target ~ ' ' ~ e.ports[1] }}|{{ ('a' ~ 1) ~ none }}",  # ~ joins the str of each
    ],
)
def test_enforcers_compiler_prints_what_jinja2_prints(source):
    plain, fast = both(source, e=Entry(), d={"key": "value"})
    assert fast == plain


def test_a_missing_attribute_used_in_output_still_raises_as_strict_undefined():
    with pytest.raises(jinja2.UndefinedError):
        FastEnvironment(undefined=jinja2.StrictUndefined).from_string("x {{ e.community }} y").render(e=Entry())


def test_a_value_joined_into_a_line_still_passes_the_guard(tmp_path):
    """The pieces of a line are joined in one string: each value is still finalized first."""
    (tmp_path / "t.j2").write_text(" <seq> deny {{ a }} eq {{ b }}\n")
    env = render.environment.__wrapped__(tmp_path)
    assert env.get_template("t.j2").render(a="198.51.100.7", b=25) == " <seq> deny 198.51.100.7 eq 25\n"
    with pytest.raises(RenderError, match="line break"):
        env.get_template("t.j2").render(a=render.Rendered("x\ny"), b=25)
    with pytest.raises(RenderError, match="unsafe text"):
        env.get_template("t.j2").render(a="x;reload", b=25)


def _counted(value: Any) -> Any:
    _counted.calls += 1  # type: ignore[attr-defined]
    if isinstance(value, str) and ";" in value:
        raise RenderError(f"unsafe: {value}")
    return value


def test_a_value_of_a_passing_type_prints_without_the_finalize_call_and_the_same_text():
    """``finalize_passes``: types the finalize returns as they are; their values skip the call, any
    other value (a str here) is still finalized, so still refused when unsafe."""
    source = "{% for p in e.ports %}<seq> {{ p }} {{ n }} {{ e.target }}\n{% endfor %}{{ 'x' ~ n }}"
    _counted.calls = 0  # type: ignore[attr-defined]
    plain = jinja2.Environment(finalize=_counted).from_string(source).render(e=Entry(), n=7)
    assert _counted.calls == 7  # type: ignore[attr-defined]  # stock Jinja2: every printed value
    fast_env = FastEnvironment(finalize=_counted)
    fast_env.finalize_passes = frozenset({int})
    _counted.calls = 0  # type: ignore[attr-defined]
    assert fast_env.from_string(source).render(e=Entry(), n=7) == plain
    assert _counted.calls == 3  # the str target on each of the two lines, the joined 'x7'; no int
    with pytest.raises(RenderError, match="unsafe"):
        fast_env.from_string("{{ n }} {{ s }}").render(n=1, s="x;reload")


def test_a_thousand_entry_acl_finalizes_only_the_values_not_plain_by_their_type(monkeypatch):
    """An IOS ACL entry prints 13 values (remark, ids, violation, 3 x deny and port): all but the
    comment are of a type _finalize passes by type, and are printed without its call."""
    from ipaddress import ip_network

    from enforcer.inventory import Platform, load_inventory
    from enforcer.model import ActionKind, ActionParams, Enforcement
    from tests.test_templates import EDGE, REPO, T0

    inventory = load_inventory(REPO / "enforcer" / "example_inventory")
    device = inventory.device(EDGE[Platform.IOS])
    params = ActionParams.model_validate({"protocol": "tcp", "ports": [25, 465, 587]})
    given = [Enforcement(id=i, decision_id=i, action=ActionKind.ACL, target=ip_network(f"10.1.{i >> 8}.{i & 255}/32"),
                         violation="spam", params=params, created_at=T0) for i in range(1, 1001)]  # fmt: skip
    section = render.build_section(device, given, inventory, T0)
    calls = [0]
    real = render._finalize
    monkeypatch.setattr(render.environment(render.TEMPLATES_DIR), "finalize", lambda v: calls.__setitem__(0, calls[0] + 1) or real(v))
    text = render.print_section(section)
    render.forget(device.name)
    assert text.count(" deny   tcp host 10.1.") == 3000, text[:300]
    assert calls[0] <= 1000 + 20, calls


def test_an_entrys_ids_are_spelled_in_one_python_call():
    from tests.helpers import python_calls

    assert render._ids((12, 40)) == "12+40" and type(render._ids((3,))) is render.Spelled
    assert python_calls(render._ids, (12, 40, 41)) == 1
    with pytest.raises(RenderError):
        render._ids((True, "x;y"))  # type: ignore[arg-type]
