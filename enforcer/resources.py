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
from typing import Any

import yaml


def bundled(name: str) -> Path:
    """The package's data folder ``name`` (``templates``, ``playbooks``, ``example_inventory``).

    A :class:`~pathlib.Path`, not a Traversable: Jinja2, YAML loading and ``--templates``-style
    overrides all take a directory on disk, and enforcer is never imported from a zip.
    """
    return Path(str(files("enforcer") / name))


TEMPLATES = bundled("templates")
PLAYBOOKS = bundled("playbooks")
EXAMPLE_INVENTORY = bundled("example_inventory")


#: libyaml's parser where PyYAML was built with it: a tenth of the pure-Python parser's time, and
#: every command parses the inventory, the playbooks and the platforms' facts at start-up (issue 12.5).
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` of ``text``, parsed by libyaml; the same values (the same safe constructor).

    A document that does not parse is parsed again by the pure-Python parser, so that the
    :class:`yaml.YAMLError` (the message an operator reads, naming line and column) is the one
    enforcer has always given: libyaml words its problems differently.
    """
    try:
        return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return yaml.safe_load(text)
