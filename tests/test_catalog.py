"""Every clause the catalog cites is quoted verbatim from the seed policy it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from enforcer.catalog import CATALOG
from enforcer.model import Violation

SEEDS = Path(__file__).resolve().parent.parent / "docs" / "seeds"


def _norm(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("violation", list(Violation))
def test_each_clause_is_quoted_verbatim_from_its_seed(violation):
    category = CATALOG[violation]
    assert category.clauses
    for clause in category.clauses:
        seed = _norm((SEEDS / clause.seed).read_text())
        assert _norm(clause.text) in seed, f"{violation}: not verbatim in {clause.seed}: {clause.text[:60]}"
