"""The configuration blocks of ``docs/detectors.md``, taken verbatim: a test of a documented config
runs the file an operator would copy, not a tidied copy of it."""

from __future__ import annotations

import re
from pathlib import Path

DETECTORS_MD = Path(__file__).resolve().parents[2] / "docs" / "detectors.md"


def doc_block(first_line: str) -> str:
    """The fenced block of docs/detectors.md whose first line is ``first_line`` (e.g. ``# alertmanager.yml``)."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", DETECTORS_MD.read_text(), re.S | re.M)
    found = [b for b in blocks if b.splitlines()[0].strip() == first_line]
    assert len(found) == 1, f"docs/detectors.md: {len(found)} blocks start with {first_line!r}"
    return found[0]
