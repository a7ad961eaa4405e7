"""The CI plan workflow: no sudo, a lab name unique per run, and plans that re-derive playbooks.

The workflow itself runs on GitHub, not in this suite; what it runs locally (block, apply,
``plan --rederive``) is tested in tests/test_plan_rederive.py.
"""

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "plan.yml"


def _job():
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["plan"]


def _scripts() -> list[str]:
    return [step["run"] for step in _job()["steps"] if "run" in step]


def test_no_step_uses_sudo_the_job_is_root_in_a_privileged_container():
    assert not any("sudo" in script for script in _scripts())
    assert _job()["container"]["options"] == "--privileged"


def test_the_lab_name_is_unique_per_run_and_used_by_every_lab_command():
    assert "${{ github.run_id }}" in _job()["env"]["LAB"] and "${{ github.run_attempt }}" in _job()["env"]["LAB"]
    lab_commands = [ln for s in _scripts() for ln in s.splitlines() if "enforcer" in ln and " lab " in ln]
    assert lab_commands and all('--name "$LAB"' in ln for ln in lab_commands), lab_commands


def test_every_plan_re_derives_with_the_prs_playbooks():
    plans = [ln for s in _scripts() for ln in s.splitlines() if " plan " in ln]
    assert len(plans) == 2 and all("--rederive" in ln and "--playbooks playbooks" in ln for ln in plans), plans
