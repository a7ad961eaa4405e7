"""The Alertmanager configuration in docs/detectors.md loads in Alertmanager 0.25 (``amtool``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .docs import doc_block


def test_documented_alertmanager_config_passes_amtool_check_config(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(doc_block("# alertmanager.yml"))
    done = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
