"""Devices enforcer cannot reach: render to files, as Aerleon/Capirca do, and remember what was applied.

The live state of an offline device is what enforcer last applied to it (kept in the store and
handed in as ``last_applied``), else the managed section of the saved running-config snapshot
named in the inventory. ``commit_config`` writes the whole section and the merge candidate to
``output_dir/<device>.<ext>`` for a human or another tool to load.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..inventory import Device
from .base import Driver, DriverError

EXTENSIONS = {"junos": "conf", "nftables": "nft", "openflow": "flows"}


class OfflineDriver(Driver):
    def __init__(
        self, device: Device, output_dir: Path, last_applied: str | None = None, timeout: float = 30.0
    ):
        super().__init__(device, timeout)
        self.output_dir = Path(output_dir)
        self.last_applied = last_applied
        self._candidate: str | None = None
        self.written: list[Path] = []

    def open(self) -> None:
        snap = self.device.snapshot
        if snap is not None and not snap.exists():
            raise DriverError(self.device.name, f"snapshot {snap} does not exist")

    def close(self) -> None:
        pass

    def get_facts(self) -> dict[str, Any]:
        return {"hostname": self.device.name, "vendor": self.device.platform.value, "os_version": "offline"}

    def get_config(self) -> str:
        if self.device.snapshot is not None:
            return self.device.snapshot.read_text()
        return ""

    def get_managed_section(self) -> str:
        if self.last_applied is not None:
            return self.last_applied
        return super().get_managed_section()

    def load_merge_candidate(self, config: str) -> None:
        self._candidate = config

    def compare_config(self) -> str:
        if self._candidate is None:
            return ""
        return "".join(
            difflib.unified_diff(
                self.get_managed_section().splitlines(True), self._candidate.splitlines(True), "live", "candidate"
            )
        )

    def set_desired_section(self, section: str) -> None:
        """Write the whole rendered section; from now on it is this device's live state."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        ext = EXTENSIONS.get(self.device.platform.value, "cfg")
        path = self.output_dir / f"{self.device.name}.{ext}"
        path.write_text(section)
        self.written.append(path)
        self.last_applied = section

    def run_after_commit(self, commands: list[str]) -> None:
        """A written file has no BGP table to refresh: the commands are in the plan, nothing to run."""

    def commit_config(self, revert_in: int | None = None) -> None:
        if self._candidate is None:
            raise DriverError(self.device.name, "no candidate loaded")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        ext = EXTENSIONS.get(self.device.platform.value, "cfg")
        path = self.output_dir / f"{self.device.name}.merge.{ext}"
        path.write_text(self._candidate)
        self.written.append(path)
        self._candidate = None

    def confirm_commit(self) -> None:
        pass

    def discard_config(self) -> None:
        self._candidate = None

    def rollback(self) -> None:
        pass
