"""docs/ci.md's exit codes of ``plan --detailed-exitcode`` where a template fails: the device's
whole section failing is 1 (an error), one enforcement's failing withholds that one and plans the
rest (2, changes). The unreadable device's 1 is tests/test_cli_decisions.py's; 0 and 2 are every
plan test's. The ``--rederive`` example is the real output."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from enforcer import withhold
from enforcer.render import RenderError

from .test_plan_rederive import DEVICE as EOS
from .test_plan_rederive import _playbooks_with_smtp_only, _spam_applied

DEVICE = "frr-edge1"


@pytest.fixture
def failing_template(monkeypatch: pytest.MonkeyPatch):
    """The render of ``DEVICE`` fails whenever the set it is given holds an enforcement of a target
    in ``bad`` (or always, with ``"*"``): a template error, as a broken template raises it."""
    bad: set[str] = set()
    real = withhold.build_section

    def build(device, kept, inventory, at):
        if device.name == DEVICE and ("*" in bad or any(str(e.target.network_address) in bad for e in kept)):
            raise RenderError(f"{device.name}: template failed")
        return real(device, kept, inventory, at)

    monkeypatch.setattr(withhold, "build_section", build)
    return bad


def test_plan_exits_1_when_a_devices_section_cannot_be_rendered(cli, failing_template):
    failing_template.add("*")
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0
    code, out, _ = cli("plan", "--device", DEVICE, "--detailed-exitcode")
    assert code == 1, out
    assert "template failed" in out


def test_a_template_failing_for_one_enforcement_withholds_it_and_the_plan_shows_the_rest(cli, failing_template):
    failing_template.add("203.0.113.8")
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0
    assert cli("block", "203.0.113.8", "--violation", "malware-hosting")[0] == 0
    code, out, _ = cli("plan", "--device", DEVICE, "--detailed-exitcode")
    assert code == 2, out
    added = [ln for ln in out.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert any("203.0.113.7" in ln for ln in added) and not any("203.0.113.8" in ln for ln in added), out
    assert "render: frr-edge1: template failed" in out


def test_the_rederive_example_in_docs_ci_is_what_plan_prints(cli, tmp_path):
    """The example block under "What a pull request changes" is the real output, line for line."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "ci.md").read_text()
    [example] = re.findall(r"```\n(playbook change:.*?)```", doc, flags=re.S)
    _spam_applied(cli)
    books = _playbooks_with_smtp_only(tmp_path)
    code, out, _ = cli("--playbooks", str(books), "plan", "--device", EOS, "--rederive", "--detailed-exitcode")
    assert code == 2
    assert out.startswith(example), out


def _workflow_steps() -> list[dict]:
    workflow = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "plan.yml"
    return yaml.safe_load(workflow.read_text())["jobs"]["plan"]["steps"]


@pytest.mark.parametrize(("lab", "offline", "combined"), [(0, 0, "0"), (2, 0, "2"), (0, 2, "2"), (2, 1, "1"),
                                                          (1, 0, "1"), (1, 2, "1")])  # fmt: skip
def test_the_workflow_reports_an_error_over_changes_over_none_and_fails_only_on_an_error(lab, offline, combined):
    """docs/ci.md step 4: both plans' exit codes make one answer, and "a plan error fails the job"."""
    steps = _workflow_steps()
    [plan] = [s for s in steps if s.get("id") == "plan"]
    combine = plan["run"][plan["run"].index("code=0") : plan["run"].index('echo "exitcode')]
    out = subprocess.run(["bash", "-c", f"lab={lab}; offline={offline}; {combine} echo $code"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert out == combined
    [fail] = [s for s in steps if s.get("if") == "steps.plan.outputs.exitcode == '1'"]
    assert fail["run"].strip() == "exit 1"
    [post] = [s for s in steps if s.get("uses", "").startswith("actions/github-script")]
    script = post["with"]["script"]
    assert script.count("createComment") == 1 and "plan.txt" in script and "offline.txt" in script


def test_the_workflow_always_tears_the_lab_down():
    [down] = [s for s in _workflow_steps() if "lab down" in s.get("run", "")]
    assert down["if"] == "always()" and down["run"].strip() == '.venv/bin/enforcer lab down --name "$LAB"'
