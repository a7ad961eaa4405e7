"""The router-side FRR shell starts on every SSH exec: it must import nothing but the standard library.

Imported through the ``enforcer.drivers`` package it once pulled in pydantic, the inventory and the
render stack (0.8–1.1 s per SSH command on the lab machine); ``bench/`` has no figure for it, the
import list is what this test pins.
"""

from __future__ import annotations

import subprocess
import sys


def _modules(statement: str) -> set[str]:
    probe = f"import sys\n{statement}\nprint(' '.join(m.split('.')[0] for m in sys.modules))"
    return set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split())


def test_the_frr_shell_imports_only_the_standard_library_even_through_the_package():
    # What the interpreter loads by itself (site's .pth files) is not the shell's doing.
    baseline = _modules("pass")
    loaded = _modules("import enforcer.drivers.frr_shell") - baseline
    third_party = {m for m in loaded if m not in sys.stdlib_module_names and m != "enforcer"}
    assert not third_party, f"the router shell imports {sorted(third_party)}"


def test_the_shell_prints_its_usage_when_run_as_a_plain_script():
    from enforcer.drivers import frr_shell

    proc = subprocess.run([sys.executable, "-S", "-I", frr_shell.__file__, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "enforcer-frr-shell" in proc.stdout
