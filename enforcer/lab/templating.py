"""The one Jinja environment for the lab routers' own configuration files (``enforcer/lab/configs/``).

These are the lab's devices as their operator configured them, not enforcer's managed sections
(those are rendered by :mod:`enforcer.render` from ``templates/``).
"""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("enforcer.lab", "configs"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_config(template: str, **context: object) -> str:
    """Render ``configs/TEMPLATE`` with ``context``."""
    return _env().get_template(template).render(**context)
