"""The device-side half of the FRR driver: what an SSH login to an FRR router runs (sshd ``ForceCommand``).

Install it on each FRR router managed by enforcer (``pip install enforcer`` gives the
``enforcer-frr-shell`` command) and point the management user's sshd at it::

    Match User enforcer
        ForceCommand /usr/local/bin/enforcer-frr-shell

With no ``--dir`` it uses the system FRR (``vtysh`` defaults) and keeps its checkpoints in
``/var/lib/enforcer-frr-shell``; the lab runs one per router with ``--dir`` pointing at that
router's private FRR directory.

An interactive login drops into the router's vtysh, like a NOC engineer's session. A command
(``ssh router 'show ip route'``) runs through ``vtysh -c``. A few extra verbs give the router
what Junos, IOS-XR or Cumulus NVUE offer and FRR lacks, so a driver can push a whole file at
once and commit safely:

``load-check``                   stdin is a config file; ``vtysh -C -f`` checks its syntax
``load-commit [confirmed N]``    check, save the running config as a checkpoint, apply with
                                 ``vtysh -f``; with ``confirmed N`` a detached timer restores the
                                 checkpoint after N seconds unless ``commit-confirm`` arrives
``commit-confirm``               cancel the pending revert
``commit-rollback``              restore the last checkpoint (``frr-reload.py --reload``)
``commit-pending``               print the pending revert as JSON (nothing when none)

Only the standard library: it starts on every SSH exec, so it must start fast.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

VERBS = ("load-check", "load-commit", "commit-confirm", "commit-rollback", "commit-pending")


SYSTEM_STATE = Path("/var/lib/enforcer-frr-shell")


class Router:
    """One FRR instance: the system's (``root=None``) or a private one under ``root`` (the lab)."""

    def __init__(self, root: Path | None, name: str):
        self.root = root
        self.name = name
        self.etc = root / "etc" if root else None
        self.rundir = root / "run" if root else None
        self.commits = root / "commits" if root else SYSTEM_STATE
        self.commits.mkdir(parents=True, exist_ok=True)
        self.checkpoint = self.commits / "checkpoint.conf"
        self.pending = self.commits / "pending.json"
        self.log = root / "log" / "commits.log" if root else SYSTEM_STATE / "commits.log"

    def vtysh_argv(self) -> list[str]:
        if self.root is None:
            return ["vtysh"]
        return ["vtysh", "--vty_socket", str(self.rundir), "--config_dir", str(self.etc)]

    def self_argv(self) -> list[str]:
        """How to run this shell again (the revert timer is a second instance of it)."""
        argv = [sys.executable, "-m", "enforcer.drivers.frr_shell", "--name", self.name]
        return argv + (["--dir", str(self.root)] if self.root else [])

    def vtysh(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.vtysh_argv(), *args], input=input, capture_output=True, text=True, timeout=120)

    def note(self, text: str) -> None:
        with self.log.open("a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")

    @contextmanager
    def locked(self):
        with (self.commits / "lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    # ---------------------------------------------------------------- verbs

    def check(self, path: Path) -> int:
        proc = self.vtysh("-C", "-f", str(path))
        if proc.returncode != 0:
            sys.stdout.write(proc.stdout + proc.stderr)
        return 0 if proc.returncode == 0 else 2

    def commit(self, text: str, confirmed: int | None) -> int:
        with self.locked(), _tempfile(self.commits, text) as path:
            if self.check(path) != 0:
                return 2
            running = self.vtysh("-c", "show running-config")
            if running.returncode != 0:
                sys.stdout.write(running.stdout + running.stderr)
                return 1
            self._cancel_pending()
            self.checkpoint.write_text(_without_banner(running.stdout))
            proc = self.vtysh("-f", str(path))
            if proc.returncode != 0:
                # vtysh -f is not atomic: put back what was there before the bad line.
                sys.stdout.write(proc.stdout + proc.stderr)
                self._restore()
                self.note("commit failed, checkpoint restored")
                return 2
            if confirmed:
                token = secrets.token_hex(8)
                timer = subprocess.Popen(
                    [*self.self_argv(), "revert-after", str(confirmed), token],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )  # fmt: skip
                self.pending.write_text(
                    json.dumps({"pid": timer.pid, "token": token, "deadline": time.time() + confirmed})
                )
                self.note(f"commit confirmed {confirmed}s (timer pid {timer.pid})")
            else:
                self.note("commit")
        return 0

    def confirm(self) -> int:
        with self.locked():
            if not self.pending.exists():
                print("% no commit pending confirmation")
                return 1
            self._cancel_pending()
            self.note("commit confirmed")
        return 0

    def rollback(self) -> int:
        with self.locked():
            if not self.checkpoint.exists():
                print("% no checkpoint to roll back to")
                return 1
            self._cancel_pending()
            ok = self._restore()
            self.note(f"rollback {'done' if ok else 'FAILED'}")
        return 0 if ok else 1

    def revert_after(self, seconds: int, token: str) -> int:
        time.sleep(seconds)  # the device's own commit-confirmed timer, not a test wait
        with self.locked():
            try:
                pending = json.loads(self.pending.read_text())
            except (OSError, ValueError):
                return 0
            if pending.get("token") != token:
                return 0
            self.pending.unlink(missing_ok=True)
            ok = self._restore()
            self.note(f"commit not confirmed within {seconds}s: checkpoint {'restored' if ok else 'restore FAILED'}")
        return 0

    # ---------------------------------------------------------------- helpers

    def _cancel_pending(self) -> None:
        try:
            pending = json.loads(self.pending.read_text())
        except (OSError, ValueError):
            return
        self.pending.unlink(missing_ok=True)
        pid = int(pending.get("pid", 0))
        if pid and _is_timer(pid, self.commits):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _restore(self) -> bool:
        """Make the running config equal the checkpoint (frr-reload computes and applies the delta)."""
        with tempfile.TemporaryDirectory(dir=self.commits) as tmp:
            argv = ["/usr/lib/frr/frr-reload.py", "--reload", "--stdout", "--bindir", "/usr/bin", "--rundir", tmp]
            if self.root is not None:
                argv += ["--confdir", str(self.etc), "--vty_socket", str(self.rundir)]
            proc = subprocess.run([*argv, str(self.checkpoint)], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            sys.stdout.write(proc.stdout[-2000:] + proc.stderr[-2000:])
        return proc.returncode == 0


def _without_banner(config: str) -> str:
    """``show running-config`` minus its banner, so frr-reload can load it back."""
    lines = config.splitlines()
    while lines and (not lines[0].strip() or lines[0].startswith(("Building configuration", "Current configuration"))):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _is_timer(pid: int, commits: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "revert-after" in cmdline and (str(commits.parent) in cmdline or str(commits) == str(SYSTEM_STATE))


@contextmanager
def _tempfile(folder: Path, text: str):
    fd, name = tempfile.mkstemp(dir=folder, suffix=".conf")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        yield Path(name)
    finally:
        os.unlink(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enforcer-frr-shell")
    parser.add_argument("--dir", type=Path, help="a private FRR directory (etc/, run/); default: the system FRR")
    parser.add_argument("--name", default=os.uname().nodename)
    parser.add_argument("internal", nargs="*")
    args = parser.parse_args(argv)
    router = Router(args.dir, args.name)
    if args.internal[:1] == ["revert-after"]:
        return router.revert_after(int(args.internal[1]), args.internal[2])

    command = os.environ.get("SSH_ORIGINAL_COMMAND", "").strip()
    if not command:
        os.execvp("vtysh", router.vtysh_argv())
    words = command.split()
    verb = words[0]
    if verb == "load-check":
        with _tempfile(router.commits, sys.stdin.read()) as path:
            return router.check(path)
    if verb == "load-commit":
        confirmed = None
        if len(words) == 3 and words[1] == "confirmed" and words[2].isdigit():
            confirmed = int(words[2])
        elif len(words) != 1:
            print("% usage: load-commit [confirmed SECONDS]")
            return 1
        return router.commit(sys.stdin.read(), confirmed)
    if verb == "commit-confirm":
        return router.confirm()
    if verb == "commit-rollback":
        return router.rollback()
    if verb == "commit-pending":
        if router.pending.exists():
            print(router.pending.read_text())
        return 0
    proc = router.vtysh("-c", command)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
