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


def _shell_lines(text: str) -> list[str]:
    """The lines of the doc's ``sh``/``bash``/unlabelled fenced blocks."""
    lines, inside, shell = [], False, False
    for line in text.splitlines():
        if line.startswith("```"):
            inside, shell = (not inside, line.strip() in ("```", "```sh", "```bash")) if not inside else (False, False)
        elif inside and shell:
            lines.append(line)
    return lines


def _enforcer_commands(doc: Path) -> list[str]:
    text = doc.read_text()
    return [m.group(1) for s in _CODE.findall(re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)) + _shell_lines(text)
            if (m := re.search(r"(?:^|/|\s)enforcer ((?:-|[a-z]).*)", s))]  # fmt: skip


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_and_option_a_doc_shows_is_one_the_cli_has(doc: Path):
    """``enforcer [global options] command [subcommand] [--option value]…`` as a doc writes it: the
    (sub)commands exist and every option is the command's or a global one. ``a | b`` lists siblings."""
    import typer.main

    from enforcer.cli import app

    root = typer.main.get_command(app)
    root.list_commands(None)  # the command modules' commands are added lazily (enforcer/cli.py)

    def options(cmd) -> dict[str, bool]:
        """option → whether it is a flag (takes no value)."""
        return {"--help": True} | {o: bool(p.is_flag or p.count) for p in cmd.params if hasattr(p, "is_flag")
                                   for o in (*p.opts, *p.secondary_opts)}  # fmt: skip

    wrong = []
    for line in _enforcer_commands(doc):
        path, takes_value = [root], False
        for word in line.split("#")[0].replace("\\", " ").split():
            if takes_value:
                takes_value = False
            elif word == "|":
                path = path[:-1] or [root]
            elif word.lstrip("[").startswith("-"):
                flag = word.strip("[]").split("=")[0]
                known = {k: v for cmd in path for k, v in options(cmd).items()}
                if flag not in known:
                    wrong.append(f"{flag} in `enforcer {line}`")
                takes_value = flag in known and not known[flag] and "=" not in word
            elif word in ("…", "..."):
                continue
            elif hasattr(path[-1], "commands"):
                if word not in path[-1].commands:
                    wrong.append(f"{word!r} is not a command in `enforcer {line}`")
                    break
                path.append(path[-1].commands[word])
            # else: one of the command's arguments
    assert not wrong, f"{doc.name}: {wrong}"


def _python_names(doc: Path) -> list[str]:
    """``module.function`` (an enforcer module), ``Class.method`` (or field) and the exception names a
    doc gives."""
    names = []
    for span in _spans(doc):
        if m := re.fullmatch(r"([a-z_]+)\.([a-z_]+)", span):
            if (REPO / "enforcer" / f"{m[1]}.py").is_file() and m[2] not in ("py", "yaml", "json", "j2"):
                names.append(span)
        elif re.fullmatch(r"[A-Z][a-z][A-Za-z]*\.[a-z_]+|[A-Z][A-Za-z]+(?:Refused|Failed|Busy|Unreachable)", span):
            names.append(span)
    return names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_function_class_and_method_a_doc_names_is_in_the_code(doc: Path):
    import importlib

    sources = {p: p.read_text() for p in (REPO / "enforcer").rglob("*.py")}
    missing = []
    for name in _python_names(doc):
        first, _, attr = name.partition(".")
        if first.islower():
            if not hasattr(importlib.import_module(f"enforcer.{first}"), attr):
                missing.append(name)
            continue
        homes = [text for text in sources.values() if re.search(rf"^class {first}\b", text, flags=re.M)]
        if not homes or (attr and not any(re.search(rf"^    (?:def {attr}\(|{attr}:)", t, flags=re.M) for t in homes)):
            missing.append(name)
    assert not missing, f"{doc.name} names what the code does not have: {missing}"
