"""Where the bundled templates, playbooks and example inventory are: inside the installed package.

The checkout keeps ``templates/``, ``playbooks/`` and ``inventory/example/`` at the top, where an
operator reads and reviews them; ``enforcer/templates``, ``enforcer/playbooks`` and
``enforcer/example_inventory`` are symlinks to them, so a wheel built from the checkout carries real
copies (setuptools follows the links) and :func:`importlib.resources.files` finds them the same way
in a checkout, an editable install and a wheel installed anywhere else.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled(name: str) -> Path:
    """The package's data folder ``name`` (``templates``, ``playbooks``, ``example_inventory``).

    A :class:`~pathlib.Path`, not a Traversable: Jinja2, YAML loading and ``--templates``-style
    overrides all take a directory on disk, and enforcer is never imported from a zip.
    """
    return Path(str(files("enforcer") / name))


TEMPLATES = bundled("templates")
PLAYBOOKS = bundled("playbooks")
EXAMPLE_INVENTORY = bundled("example_inventory")
