"""The wheel is a working install: built from a copy of the checkout, installed into a fresh
virtualenv outside it, it renders with its bundled templates, playbooks and example inventory.

The wheel is built the way pip builds it for a user (isolated build environment, setuptools from
the configured index). The fresh virtualenv gets the wheel with ``--no-deps`` and reaches the dependencies through a
``.pth`` line naming this checkout's site-packages (the machine has no PyPI); the enforcer it
imports is the installed wheel's, which the test checks before trusting anything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What a pip install of the core brings in none of: importing any of them in a core command is a bug.
EXTRA_MODULES = ("napalm", "netmiko", "ncclient", "paramiko", "os_ken", "eventlet", "fastapi", "uvicorn",
                 "starlette", "prometheus_client", "psycopg")  # fmt: skip


def _copy_checkout(dest: Path) -> Path:
    """The tracked sources only (symlinks kept as links, so the wheel build must follow them)."""
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", ".lab", "out", "*.db")
    shutil.copytree(REPO, dest, symlinks=True, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    src = _copy_checkout(root / "src")
    dist = root / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    str(src), "-w", str(dist)], check=True, cwd=root)  # fmt: skip
    (wheel,) = dist.glob("enforcer-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    str(wheel)], check=True)  # fmt: skip
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _run(venv: Path, *args: str, cwd: Path, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``enforcer ARGS`` from the fresh venv, in ``cwd``, with the modules in ``block`` made unimportable."""
    code = ("import sys\n"
            f"for m in {block!r}: sys.modules[m] = None\n"
            f"sys.argv = ['enforcer', *{list(args)!r}]\n"
            "from enforcer.cli import main\nmain()\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENFORCER_", "PYTHON"))}
    env["COLUMNS"] = "200"
    return subprocess.run([venv / "bin" / "python", "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


def test_wheel_imports_enforcer_from_the_install_not_the_checkout(fresh_venv: Path, tmp_path: Path) -> None:
    out = subprocess.run([fresh_venv / "bin" / "python", "-c",
                          "import enforcer.render as r, enforcer.settings as s; print(r.__file__); "
                          "print(r.TEMPLATES_DIR); print(s.Settings().playbooks)"],
                         cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(fresh_venv) for p in out), out
    assert not any(Path(p).is_symlink() for p in out[1:]), "the wheel must carry real folders"


def test_installed_wheel_blocks_and_renders_with_its_bundled_files(fresh_venv: Path, tmp_path: Path) -> None:
    """``enforcer block`` then ``enforcer render`` outside the checkout, with no --inventory: the
    bundled example inventory, spam playbook and IOS templates; the same text as the checkout
    renders, and none of the extras imported."""
    block = ("block", "198.51.100.10", "--violation", "spam", "--reason", "wheel test")
    (tmp_path / "installed").mkdir()
    assert _run(fresh_venv, *block, cwd=tmp_path / "installed", block=EXTRA_MODULES).returncode == 0
    installed = _run(fresh_venv, "render", "ios-edge1", cwd=tmp_path / "installed", block=EXTRA_MODULES)
    assert installed.returncode == 0, installed.stderr

    (tmp_path / "checkout").mkdir()
    checkout_cli = [sys.executable, "-m", "enforcer.cli", "--inventory", str(REPO / "inventory/example")]
    for args in (block, ("render", "ios-edge1")):
        checkout = subprocess.run([*checkout_cli, *args], cwd=tmp_path / "checkout", capture_output=True, text=True,
                                  env={**os.environ, "COLUMNS": "200"})  # fmt: skip
        assert checkout.returncode == 0, checkout.stderr
    assert installed.stdout == checkout.stdout
    assert " 20 deny   tcp host 198.51.100.10 any eq smtp" in installed.stdout.splitlines()  # entries are numbered


def test_installed_wheel_validates_its_bundled_playbooks(fresh_venv: Path, tmp_path: Path) -> None:
    done = _run(fresh_venv, "validate", cwd=tmp_path, block=EXTRA_MODULES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_serve_without_the_server_extra_names_the_extra(fresh_venv: Path, tmp_path: Path) -> None:
    done = _run(fresh_venv, "serve", cwd=tmp_path, block=EXTRA_MODULES)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: uvicorn is not installed: pip install 'enforcer[server]'"]


def test_controller_without_the_openflow_extra_names_the_extra(fresh_venv: Path, tmp_path: Path) -> None:
    done = _run(fresh_venv, "controller", "run", cwd=tmp_path, block=EXTRA_MODULES)
    assert done.returncode == 2
    assert "pip install 'enforcer[openflow]'" in done.stderr
    assert "Traceback" not in done.stderr
