"""The baseline of ``render_acl.py``: Aerleon's ``aclgen`` on a policy equivalent to N spam ACL entries.

One policy file, one header naming Aerleon's six targets that match enforcer's ACL platforms
(cisco = IOS, ciscoxr, juniper, arista, cisconx, nftables; OpenFlow has none), and one term per
host: deny tcp 25/465/587 from it, the same match enforcer's ``spam`` rung renders. Aerleon lives
in its own virtualenv (``bench/.venv-aerleon``), made on first use from the machine's package index.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from scale_inputs import host

VENV = Path(__file__).resolve().parent / ".venv-aerleon"
TARGETS = ("cisco ENFORCER-BENCH extended", "ciscoxr ENFORCER-BENCH", "juniper ENFORCER-BENCH inet",
           "arista ENFORCER-BENCH", "cisconx ENFORCER-BENCH extended", "nftables inet input")  # fmt: skip


def aclgen() -> Path | None:
    """The venv's ``aclgen``, installing Aerleon first when missing; None (and why, on stderr) when pip cannot."""
    exe = VENV / "bin" / "aclgen"
    if exe.exists():
        return exe
    made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
    pip = subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "aerleon"], capture_output=True, text=True) \
        if made.returncode == 0 else made  # fmt: skip
    if pip.returncode != 0 or not exe.exists():
        print(f"aerleon: cannot install it ({(pip.stderr or pip.stdout).strip().splitlines()[-1:]}); "
              "enforcer's figures only", file=sys.stderr)  # fmt: skip
        return None
    return exe


def write_policy(root: Path, n: int) -> Path:
    """Definitions and the policy for ``n`` hosts under ``root``: the base directory aclgen reads."""
    (root / "def").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "pol").mkdir(parents=True, exist_ok=True)
    (root / "def" / "SERVICES.svc").write_text("MAIL = 25/tcp\n       465/tcp\n       587/tcp\n")
    (root / "def" / "NETWORKS.net").write_text("".join(f"H{i} = {host(i)}/32\n" for i in range(n)))
    header = "header {\n" + "".join(f"  target:: {t}\n" for t in TARGETS) + "}\n"
    terms = "".join(f"term spam-{i} {{\n  source-address:: H{i}\n  protocol:: tcp\n  destination-port:: MAIL\n"
                    f"  action:: deny\n}}\n" for i in range(n))  # fmt: skip
    (root / "policies" / "pol" / "bench.pol").write_text(header + terms)
    return root


def run(exe: Path, root: Path) -> tuple[float, int]:
    """Wall seconds of one ``aclgen`` over the policy (start-up included) and the number of files it wrote."""
    out = root / "out"
    started = time.perf_counter()
    done = subprocess.run([str(exe), f"--base_directory={root / 'policies'}",
                           f"--definitions_directory={root / 'def'}", f"--output_directory={out}"],
                          capture_output=True, text=True)  # fmt: skip
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"aclgen failed: {done.stderr.strip()[-500:]}")
    return took, sum(1 for p in out.rglob("*") if p.is_file())
