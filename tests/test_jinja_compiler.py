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
