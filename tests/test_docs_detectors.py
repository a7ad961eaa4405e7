"""docs/detectors.md's lists and defaults, parsed from the page, against the code that applies them.

The behaviour behind each is tested in tests/hooks, tests/api and tests/detectors; these fail when
the page and the code name different labels, categories, names or numbers.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import get_args

import yaml

from enforcer.api import cli as api_cli
from enforcer.api.lapi import OFFENDERS
from enforcer.api.limits import MAX_BODY
from enforcer.api.tokens import Scope
from enforcer.api.webhooks import MAX_EVENTS
from enforcer.hooks import RESERVED_SOURCES
from enforcer.hooks.alertmanager import TARGET_LABELS, VIOLATION_LABELS
from enforcer.hooks.crowdsec import SCENARIO_CATEGORIES
from enforcer.hooks.fastnetmon import VIOLATION_BY_DIRECTION
from enforcer.hooks.results import Outcome
from enforcer.model import Violation
from enforcer.notify_call import NOTIFY_STDIN_IDLE, NOTIFY_STDIN_LIMIT

REPO = Path(__file__).resolve().parent.parent
DOC = " ".join((REPO / "docs" / "detectors.md").read_text().split())  # one line: sentences wrap anywhere


def _after(start: str, end: str) -> str:
    [text] = re.findall(re.escape(start) + r"(.*?)" + re.escape(end), DOC)
    return text


def _words(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def test_the_alertmanager_target_and_category_labels_are_the_hooks_in_its_order():
    assert tuple(_words(_after("Its labels choose the target (", "; or name one"))) == TARGET_LABELS
    assert tuple(_words(_after("and the category (", "; or a default"))) == VIOLATION_LABELS


def test_the_decision_stream_carries_the_offender_categories_and_not_the_victim_ones():
    offenders = _after("whose target is the offender — ", " — as `ban` decisions").split(", ")
    victims = _after("or a route (", "): a bouncer drops").split(", ")
    assert {Violation(v) for v in offenders} == OFFENDERS
    assert {Violation(v) for v in victims} == set(Violation) - OFFENDERS


def test_the_crowdsec_scenario_fragments_and_their_categories_are_the_hooks():
    text = _after("in the category its scenario names (", ", otherwise `--violation`)")
    listed = {}
    for fragments, category in re.findall(r"((?:`[^`]+`/?)+) → (\w+)", text):
        for fragment in _words(fragments):
            listed[fragment.strip("…")] = Violation(category)
    assert listed == dict(SCENARIO_CATEGORIES)


def test_the_generic_hooks_refused_source_names_are_the_reserved_ones():
    assert set(_words(_after("nothing else. ", " are refused as names"))) == RESERVED_SOURCES


def test_the_numbers_the_page_gives_are_the_codes():
    assert f"One event or a list of at most {MAX_EVENTS}." in DOC
    assert MAX_BODY == 1 << 20 and "413 a body over 1 MiB" in DOC
    assert NOTIFY_STDIN_LIMIT == 1 << 20 and f"at most 1 MiB and until {NOTIFY_STDIN_IDLE:g} s of silence" in DOC
    ttl = yaml.safe_load((REPO / "playbooks" / "ddos-victim.yaml").read_text())["default_ttl"]
    assert _after("(`default_ttl` in `playbooks/ddos-victim.yaml`, ", ")").replace(" ", "") == ttl


def test_the_defaults_in_the_pages_command_comments_are_the_commands():
    serve = re.search(r"# --interval (\S+) \(full reconcile per device\), --coalesce (\S+) ", DOC)
    assert serve and (float(serve[1]), float(serve[2])) == (
        _default(api_cli.serve, "interval"), _default(api_cli.serve, "coalesce"))  # fmt: skip
    assert f"serve --listen {_default(api_cli.serve, 'listen')}" in DOC
    crowdsec = re.search(r"--interval (\S+) # --violation (\S+), --once", DOC)
    assert crowdsec and (float(crowdsec[1]), crowdsec[2]) == (
        _default(api_cli.hook_crowdsec, "interval"), _default(api_cli.hook_crowdsec, "violation"))  # fmt: skip
    assert f"export {_default(api_cli.hook_crowdsec, 'key_env')}=" in DOC


def test_the_outcomes_a_hook_answer_can_list_are_every_intake_outcome():
    listed = _words(_after("Hook answers list a result per item: ", "If no item was accepted"))
    assert [w for w in listed if not w.startswith("error.")] == list(get_args(Outcome))


def test_fastnetmons_directions_map_to_the_categories_the_page_names():
    assert "`ban` with direction `incoming` (the host is the victim) → `ddos-victim`" in DOC
    assert "`outgoing` (the host attacks) → `ddos-outbound`" in DOC
    assert VIOLATION_BY_DIRECTION == {"incoming": Violation.DDOS_VICTIM, "outgoing": Violation.DDOS_OUTBOUND}


def test_the_token_scopes_the_page_creates_are_every_scope_and_the_categories_exist():
    commands = re.findall(r"enforcer token create (\S+) +--scope (\w+)(?: --categories (\S+))?", DOC)
    assert {scope for _, scope, _ in commands} == set(Scope)
    for _, _, categories in commands:
        for c in filter(None, categories.split(",")):
            Violation(c)
