"""Every test, test file and source file the README and docs name exists (docs/benchmarks.md aside:
it is measured figures, quoted as they were).

The docs back each claim by naming its test; a test renamed or deleted would leave the claim
pointing at nothing. A reference written ``…::test_x`` or ``…_suffix`` continues the nearest test
file named before it in the same doc, as a reader resolves it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "benchmarks.md") + [REPO / "README.md"]

_CODE = re.compile(r"`([^`]+)`")
_TEST_FILE = re.compile(r"tests/[\w/]+\.py")
_REPO_PATH = re.compile(r"(?<![\w/.])((?:tests|enforcer|bench|scripts)/[\w/-]+\.(?:py|sh|yaml|j2))")


def _spans(doc: Path) -> list[str]:
    """The doc's inline code spans, fenced blocks left out (their backticks would pair wrongly)."""
    return _CODE.findall(re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.M | re.S))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_a_doc_names_exists(doc: Path):
    named = {m for s in _spans(doc) for m in _REPO_PATH.findall(s)}
    missing = sorted(p for p in named if not (REPO / p).exists() and not (REPO / "enforcer" / p).exists())
    assert not missing, f"{doc.name} names files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_test_a_doc_names_is_defined_where_the_doc_says(doc: Path):
    """``file.py::test_x``, ``…::test_x`` / ``…_suffix`` and ``-k word`` (the last file named
    before), and a bare ``test_x`` (anywhere under tests/)."""
    missing, last = [], None
    every_test = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    for span in _spans(doc):
        for path, name in re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", span):
            last = path
            if name and f"def {name}(" not in (REPO / path).read_text():
                missing.append(f"{path}::{name}")
        for rest in re.findall(r"^…(?:::)?(\w+)$", span):
            if last is None or rest not in (REPO / last).read_text():
                missing.append(f"{last}::…{rest}")
        if re.fullmatch(r"test_\w+", span) and f"def {span}(" not in every_test:
            missing.append(span)
        for word in re.findall(r"(?:^|\s)-k (\w+)", span):  # a selector: some test of the last file named
            if last is None or not re.search(rf"def test_\w*{word}\w*\(", (REPO / last).read_text()):
                missing.append(f"{last} -k {word}")
    assert not missing, f"{doc.name} names tests that are not there: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_environment_variable_a_doc_names_is_one_the_code_reads(doc: Path):
    named = set(re.findall(r"\bENFORCER_[A-Z][A-Z_]*[A-Z]\b", doc.read_text()))
    code = "\n".join(p.read_text(errors="replace") for folder in ("enforcer", "tests", "scripts", "bench")
                     for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".sh") and p.is_file())  # fmt: skip
    code = code.replace((REPO / "tests" / "test_docs_references.py").read_text(), "")
    assert not sorted(v for v in named if v not in code), doc.name
