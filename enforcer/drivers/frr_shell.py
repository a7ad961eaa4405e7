"""The device-side half of the FRR driver: what an SSH login to an FRR router runs (sshd ``ForceCommand``).

Install it on each FRR router managed by enforcer (``pip install enforcer`` gives the
``enforcer-frr-shell`` command, or copy this one file: it uses only the standard library) and
point the management user's sshd at it::

    Match User enforcer
        ForceCommand /usr/local/bin/enforcer-frr-shell

With no ``--dir`` it uses the system FRR (``vtysh`` defaults) and keeps its state in
``/var/lib/enforcer-frr-shell``; the lab runs one per router with ``--dir`` pointing at that
router's private FRR directory.

An interactive login drops into the router's vtysh, like a NOC engineer's session. A command
(``ssh router 'show ip route'``) runs through ``vtysh -c``. A few extra verbs give the router
what Junos, IOS-XR or Cumulus NVUE offer and FRR lacks, so a driver can push a whole file at
once and commit safely:

``load-commit [confirmed N] [if-running SHA256] [show-running] [hold] [whole]``
                                 stdin is the candidate, then a line ``!! enforcer undo`` and the
                                 file that undoes it, up to a line ``!! enforcer end`` (without
                                 ``hold`` or ``whole``, also the end of stdin: what older drivers
                                 send); check, keep the undo, apply with ``vtysh -f``;
                                 with ``confirmed N`` a detached timer applies the undo after N
                                 seconds unless ``commit-confirm`` arrives. Refused when the syntax
                                 check fails (exit 5) and (exit 3) while
                                 another commit-confirm is pending: NAPALM's contract. With
                                 ``if-running`` refused (exit 4, nothing applied) unless the running
                                 config still hashes to SHA256 (the one the undo was computed from);
                                 with ``show-running`` the running config after the apply follows a
                                 line ``!! enforcer running`` (the read-back, in the same round trip);
                                 with ``hold`` (and ``confirmed``) a committed push then prints
                                 ``!! enforcer confirm?`` and waits, at most N seconds, for a line
                                 ``commit-confirm`` on the same stdin: the confirmation without a
                                 second login. The end of stdin (the client went away) confirms
                                 nothing: the timer reverts, as it would for a lost session. With
                                 ``whole`` (every commit of the current driver) or ``hold`` (a held
                                 stdin stays open after the text) only the end mark says the undo
                                 is whole: a text cut before it (the end of stdin, or no end mark
                                 within TEXT_TIMEOUT) is refused (exit 6), nothing applied
``commit-confirm``               cancel the pending revert
``commit-rollback``              apply the undo of the last commit
``commit-pending [show-running]`` print the pending revert as JSON (nothing when none), once any
                                 apply in flight has finished; with ``show-running`` the running
                                 config follows a line ``!! enforcer running`` (the plan's read,
                                 or ``apply -y``'s read-ahead, which asks it before the lease)

Why an undo file and not a checkpoint of the running config: a revert must put back enforcer's
own lines only. Restoring a whole-config checkpoint would also wipe whatever the NOC typed during
the confirm window. The driver computes the undo (it knows the merge semantics); the router keeps it.

Why a detached applier: the checkpoint–apply–restore sequence runs in its own session (a forked
child, :meth:`Router._detached`), holding the lock, so a client or login shell that dies mid-apply
(a dropped SSH session, a killed shell) never leaves half a file: the applier finishes, or restores
on failure, on its own. If the applier itself dies (power loss, ``kill -9`` of it), its
``inflight`` mark makes the next verb apply the undo first.

Why one verb checks, applies, reads back and waits for the confirmation: every SSH exec costs the
router a login (sshd's fork, this script's start, vtysh's), and a push used to make six of them. A
push now makes one, and the driver's read of the config before it may be the read-back of its
previous push, which ``if-running`` verifies here, under the lock, before anything is applied.
The confirmation travels on the channel the commit came in on (``hold``), after the driver checked
the read-back: a change that cuts management cuts that channel too, so the commit-confirmed
guarantee is the one a separate ``commit-confirm`` login gave. The applier starts (and takes the
lock, and begins the ``if-running`` read) as soon as the verb arrives, before its text: the driver
sends the verb first and computes the undo while the router prints its running config.

Upgrade order: deploy this file on the routers before (or with) the enforcer that uses a new verb
or option; this shell keeps accepting what older drivers send. An older shell answers a newer
driver's ``load-commit`` with its usage line, which the driver reports as "the router's
enforcer-frr-shell is older than this enforcer" (docs/platforms.md, "Deploying the FRR shell").

Only the standard library, and run as a script (never through the ``enforcer`` package), ideally as
``python3 -I -S`` (no site-packages to scan): it starts on every SSH exec, so it must start fast.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

VERBS = ("load-commit", "commit-confirm", "commit-rollback", "commit-pending")
#: Separates the candidate from its undo on ``load-commit``'s stdin (a comment line to vtysh).
UNDO_MARK = "!! enforcer undo"
#: Ends the undo on ``load-commit``'s stdin, which may stay open for the confirmation (``hold``).
END_MARK = "!! enforcer end"
#: The end mark as it arrives: a line of its own.
END_LINE = ("\n" + END_MARK + "\n").encode()
#: A held ``load-commit`` committed and waits for a line ``commit-confirm`` on its stdin.
AWAIT_MARK = "!! enforcer confirm?"
#: What ``load-commit`` prints when its options are not ones it knows (an older shell prints it too).
COMMIT_USAGE = "% usage: load-commit [confirmed SECONDS] [if-running SHA256] [show-running] [hold] [whole]"
#: Exit status of a commit refused because another commit-confirm is pending.
PENDING_REFUSED = 3
#: Exit status of a commit refused because the running config is not the one its undo was computed from.
STALE_REFUSED = 4
#: Precedes the running config read back after a ``load-commit ... show-running``.
RUNNING_MARK = "!! enforcer running"
#: Exit status of a commit whose candidate failed the syntax check (nothing applied).
SYNTAX_REFUSED = 5
#: Exit status of a commit whose candidate and undo did not arrive whole (nothing applied).
INCOMPLETE_REFUSED = 6

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
        self.undo = self.commits / "undo.conf"
        self.inflight = self.commits / "inflight"
        self.pending = self.commits / "pending.json"
        self.log = root / "log" / "commits.log" if root else SYSTEM_STATE / "commits.log"

    def vtysh_argv(self) -> list[str]:
        if self.root is None:
            return ["vtysh"]
        return ["vtysh", "--vty_socket", str(self.rundir), "--config_dir", str(self.etc)]

    def vtysh(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.vtysh_argv(), *args], capture_output=True, text=True, timeout=600)

    def running(self) -> str:
        """``show running-config`` as a plain ``ssh router 'show running-config'`` prints it, byte
        for byte (:func:`run_command`): the driver's ``if-running`` hash is of that text."""
        proc = self.vtysh("-c", "show running-config")
        return proc.stdout + proc.stderr

    def note(self, text: str) -> None:
        with self.log.open("a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")

    @contextmanager
    def locked(self):
        """The router's commit lock; an apply that died holding it is undone before anything else."""
        with (self.commits / "lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            if self.inflight.exists():
                ok = self._restore()
                self.inflight.unlink(missing_ok=True)
                self.note(f"interrupted apply found: undo {'applied' if ok else 'FAILED'}")
            yield

    # ---------------------------------------------------------------- verbs

    def start_check(self, path: Path) -> subprocess.Popen[str]:
        """``vtysh -C -f`` (no daemons asked): started, so the applier reads the running config meanwhile."""
        argv = [*self.vtysh_argv(), "-C", "-f", str(path)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def checked(self, proc: subprocess.Popen[str]) -> int:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            sys.stdout.write(out)
        return 0 if proc.returncode == 0 else 2

    def commit(self, text, confirmed: int | None, expect: str = "", show: bool = False) -> int:
        """Run the applier detached with the candidate and its undo, relay what it said.

        ``text``: the candidate, a line ``!! enforcer undo`` and the undo, or a function that reads
        them (from the SSH channel; None when they did not arrive whole). The applier starts, takes
        the lock and begins the ``if-running`` read of the running config before ``text`` is read:
        the driver computes the undo and sends the file while the router prints its config (a full
        read at 10,000 routes is 0.5-1.6 s of staticd), instead of one after the other. The text
        reaches the applier through a pipe, ended by a NUL byte: a login shell that dies before the
        whole text arrived leaves the applier an unended text, which it refuses with nothing applied."""
        _sweep_stages(self.commits)
        stage = Path(tempfile.mkdtemp(dir=self.commits, prefix="stage-"))
        (stage / "options.json").write_text(json.dumps({"expect": expect, "show": show}))
        read, write = os.pipe()
        status = self._detached(lambda: self.apply(stage, confirmed or 0, text_fd=read), read, write,
                                (text if callable(text) else lambda: text))  # fmt: skip
        sys.stdout.write(_read(stage / "out.txt"))
        shutil.rmtree(stage, ignore_errors=True)
        return status

    def _detached(self, work, read: int | None = None, write: int | None = None, feed=None) -> int:
        """``work()`` in a forked child in its own session, holding none of the SSH channel's file
        descriptors: killing this login shell (or its process group) leaves it running. Forked, not
        a new interpreter: an SSH exec waits for it, and a Python start is a tenth of a second.
        ``feed()``: the text this login shell then writes to the child through the pipe
        ``read``/``write`` (the child keeps ``read``), ended by a NUL byte; None: the text did not
        arrive whole, and the pipe is closed without its NUL (the child refuses an unended text)."""
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the applier
            status = 1
            try:
                os.setsid()
                if write is not None:
                    os.close(write)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                status = work()
            finally:
                os._exit(status)
        if read is not None:
            os.close(read)
        if write is not None:
            try:
                with os.fdopen(write, "wb") as pipe:
                    if (text := feed()) is not None:
                        pipe.write(text.encode() + b"\0")
            except BrokenPipeError:  # the applier refused before reading it (a pending commit)
                pass
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    def apply(self, stage: Path, confirmed: int, text_fd: int | None = None) -> int:
        """The applier: check, keep the undo, apply, undo on failure, start the timer — under the lock.
        ``text_fd``: the candidate and its undo arrive on this pipe (:meth:`commit`), read while
        the ``if-running`` read runs; else they are the stage's files."""
        with self.locked(), (stage / "out.txt").open("w") as out:
            sys.stdout = out
            pending = self._pending()
            if pending is not None:
                left = max(0, int(pending.get("deadline", 0) - time.time()))
                print(f"% commit refused: a commit-confirm is pending (reverts in {left}s); confirm or roll it back")
                return PENDING_REFUSED
            options = _options(stage)
            candidate = stage / "candidate.conf"
            took = _Stopwatch()
            reading = None
            if text_fd is not None:
                reading = _Background(self.running) if options["expect"] else None
                text = _whole(text_fd)
                if text is None:
                    print(
                        "% commit refused: the candidate and its undo did not arrive whole "
                        "(the session ended or stalled before the end mark); nothing applied"
                    )
                    return INCOMPLETE_REFUSED
                if not _staged(stage, text):
                    return 1
                took.lap("candidate")
            with _reaped(self.start_check(candidate)) as check:
                if options["expect"]:
                    running = reading.result() if reading is not None else self.running()
                    if hashlib.sha256(running.encode()).hexdigest() != options["expect"]:
                        print("% commit refused: the running config changed since it was read; nothing applied")
                        return STALE_REFUSED
                    took.lap("if-running")
                if self.checked(check) != 0:
                    return SYNTAX_REFUSED
                took.lap("syntax check")
            _replace(self.undo, (stage / "undo.conf").read_text())
            self.inflight.write_text(str(os.getpid()))
            proc = self.vtysh("-f", str(candidate))
            took.lap("apply")
            if proc.returncode != 0:
                # vtysh -f is not atomic: undo the lines it took before the one that failed.
                sys.stdout.write(proc.stdout + proc.stderr)
                ok = self._restore()
                self.inflight.unlink(missing_ok=True)
                self.undo.unlink(missing_ok=True)
                self.note(f"commit failed, undo {'applied' if ok else 'FAILED'}")
                return 2
            self.inflight.unlink(missing_ok=True)
            if confirmed:
                self._start_timer(confirmed, took)
            else:
                self.note(f"commit; {took}")
            if options["show"]:
                print(RUNNING_MARK)
                sys.stdout.write(self.running())
        return 0

    def confirm(self) -> int:
        with self.locked():
            if self._pending() is None:
                print("% no commit pending confirmation")
                return 1
            self._cancel_pending()
            self.note("commit confirmed")
        return 0

    def rollback(self) -> int:
        with self.locked():
            if not self.undo.exists():
                print("% no checkpoint to roll back to")
                return 1
            self._cancel_pending()
            ok = self._restore()
            self.undo.unlink(missing_ok=True)
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
            self.undo.unlink(missing_ok=True)
            self.note(f"commit not confirmed within {seconds}s: checkpoint {'restored' if ok else 'restore FAILED'}")
        return 0

    def show_pending(self, show: bool = False) -> int:
        """Under the lock: an apply in flight (its client gone or not) finishes before the answer.
        With ``show`` the running config follows a line ``!! enforcer running`` (read under the
        lock too): the driver asks this before every plan, and the plan's read comes with it."""
        with self.locked():
            pending = self._pending()
            running = self.running() if show else None
        if pending is not None:
            print(json.dumps(pending))
        if running is not None:
            print(RUNNING_MARK)
            sys.stdout.write(running)
        return 0

    # ---------------------------------------------------------------- helpers

    def _start_timer(self, seconds: int, took: _Stopwatch | None = None) -> None:
        """The revert timer: a forked child in its own session, not a new interpreter (a Python start
        is a tenth of a second of CPU, spent while vtysh reads the running config back)."""
        token = secrets.token_hex(8)
        sys.stdout.flush()  # the child inherits the buffer: it must hold nothing the applier printed
        pid = os.fork()
        if pid == 0:  # the timer
            try:
                os.setsid()
                os.closerange(3, _max_fd())  # the applier's lock and stage files: never held by the timer
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the process ends with os._exit
                self.revert_after(seconds, token)
            finally:
                os._exit(0)
        pending = {"pid": pid, "token": token, "deadline": time.time() + seconds, "started": _start_time(pid)}
        _replace(self.pending, json.dumps(pending))
        self.note(f"commit confirmed {seconds}s (timer pid {pid}){f'; {took}' if took else ''}")

    def _pending(self) -> dict | None:
        """The pending revert, if its timer still runs; a timer that died took its revert with it."""
        try:
            pending = json.loads(self.pending.read_text())
        except (OSError, ValueError):
            return None
        if _is_timer(int(pending.get("pid", 0)), self.commits, pending.get("started")):
            return pending
        self.pending.unlink(missing_ok=True)
        return None

    def _cancel_pending(self) -> None:
        pending = self._pending()
        self.pending.unlink(missing_ok=True)
        if pending is not None:
            try:
                os.kill(int(pending["pid"]), signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _restore(self) -> bool:
        """Apply the undo file: enforcer's lines go back to what they were, nobody else's move.

        ``vtysh -f`` goes on after a line it refuses; an undo after a partial apply negates some
        lines that never landed, so its exit status says nothing: the driver verifies by reading back.
        """
        if not self.undo.exists():
            return False
        proc = self.vtysh("-f", str(self.undo))
        if proc.returncode not in (0, 2):
            sys.stdout.write(proc.stdout[-2000:] + proc.stderr[-2000:])
            return False
        return True


class _Background:
    """``work()`` in a thread of the applier (the ``if-running`` read while the text arrives)."""

    def __init__(self, work):
        import threading

        self._value, self._error = None, None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # noqa: BLE001 - raised in the applier by result()
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


#: How long the applier waits, holding the lock, for the login shell to pass the candidate on.
TEXT_TIMEOUT = 120.0


def _whole(fd: int, timeout: float = TEXT_TIMEOUT) -> str | None:
    """The text the login shell writes on ``fd``, or None unless it ended with its NUL byte in time."""
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(fd, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                return None
            chunk = pipe.read1(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    return data[:-1].decode(errors="replace") if data.endswith(b"\0") else None


def _staged(stage: Path, text: str) -> bool:
    """Write the candidate and its undo into the stage; False (and why, printed) without an undo part."""
    candidate, mark, undo = text.partition(UNDO_MARK + "\n")
    if not mark:
        print(f"% load-commit: no undo part (a line {UNDO_MARK!r} followed by the undo file)")
        return False
    (stage / "candidate.conf").write_text(candidate)
    (stage / "undo.conf").write_text(undo)
    return True


class _Stopwatch:
    """How long each step of an apply took, for the journal: where a push's time goes on the router
    (``if-running 310 ms, syntax check 2 ms, apply 640 ms``), without a profiler on the box."""

    def __init__(self):
        self.last, self.laps = time.monotonic(), []

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.laps.append(f"{step} {(now - self.last) * 1000:.0f} ms")
        self.last = now

    def __str__(self) -> str:
        return ", ".join(self.laps)


@contextmanager
def _reaped(proc: subprocess.Popen[str]):
    """``proc`` (the syntax check), killed and waited for if it still runs when the block is left —
    by a refusal, or by an exception (a ``show running-config`` that timed out) — never orphaned."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        return 1024


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, ``/proc/PID/stat`` field 22): a pid and its start
    time name one process, even after the pid was reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])  # an exited timer is no timer


def _is_timer(pid: int, commits: Path, started: int | None = None) -> bool:
    """Whether the pending revert's timer still runs: a forked one by its start time, one an older
    shell started as ``revert-after`` by its command line."""
    if started is not None:
        return _start_time(pid) == started
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "revert-after" in cmdline and (str(commits.parent) in cmdline or str(commits) == str(SYSTEM_STATE))


def _options(stage: Path) -> dict:
    """What the login shell asked of this apply (a stage from before the options file: nothing)."""
    try:
        given = json.loads((stage / "options.json").read_text())
    except (OSError, ValueError):
        given = {}
    return {"expect": str(given.get("expect") or ""), "show": bool(given.get("show"))}


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a reader never sees half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _sweep_stages(commits: Path, older_than: float = 3600.0) -> None:
    """Stages left by login shells that died before cleaning up (their applier finished long ago)."""
    for stage in commits.glob("stage-*"):
        try:
            if time.time() - stage.stat().st_mtime > older_than:
                shutil.rmtree(stage, ignore_errors=True)
        except OSError:
            pass


def run_command(router: Router, command: str) -> int:
    """One SSH exec: an enforcer verb, or a vtysh command."""
    words = command.split()
    verb = words[0]
    if verb == "load-commit":
        options = _commit_options(words[1:])
        if options is None:
            print(COMMIT_USAGE)
            return 1
        hold, whole = options.pop("hold"), options.pop("whole")
        stdin = _Stdin(sys.stdin.fileno())
        # Read only once the applier runs: its if-running read goes on while the driver sends.
        status = router.commit(lambda: _text(stdin, marked=hold or whole), **options)
        if status != 0 or not hold or not options["confirmed"]:
            return status
        print(AWAIT_MARK, flush=True)
        # At most the confirm window: past it the timer has reverted and a confirm finds nothing.
        answer = stdin.until(b"\n", deadline=time.time() + options["confirmed"] + 5)
        return router.confirm() if answer.strip() == b"commit-confirm" else 0
    if verb == "commit-confirm":
        return router.confirm()
    if verb == "commit-rollback":
        return router.rollback()
    if verb == "commit-pending":
        return router.show_pending(show=words[1:] == ["show-running"])
    proc = router.vtysh("-c", command)
    sys.stdout.write(proc.stdout + proc.stderr)  # in one order: what the driver reads is what it hashes
    return proc.returncode


def _text(stdin: _Stdin, marked: bool) -> str | None:
    """The candidate and its undo from ``load-commit``'s stdin; None when they did not arrive whole.

    ``marked`` (``whole``, or ``hold``): the driver ends its text with the end mark, so only the
    mark says the undo is whole — a held stdin stays open after the text (the confirmation follows
    on it), and an unheld one that ends early looks like the end of an older driver's text. A stream
    cut before the mark — the end of stdin, or no end mark within :data:`TEXT_TIMEOUT` — is no
    text, and the commit is refused with nothing applied (a candidate applied with half its undo
    could not be taken back). Unmarked, the end of stdin also ends the text: older drivers send no
    end mark, or do not say they send it (docs/platforms.md, upgrade order), and this shell
    cannot tell their whole text from a cut one."""
    if not marked:
        return stdin.until(END_LINE).decode()
    text = stdin.ended_by(END_LINE, deadline=time.time() + TEXT_TIMEOUT)
    return None if text is None else text.decode()


class _Stdin:
    """The SSH channel's stdin, read in pieces: the candidate up to its end mark, later the
    confirmation, on one open channel (raw reads: nothing is buffered past what was asked)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = bytearray()

    def until(self, mark: bytes, deadline: float | None = None) -> bytes:
        """The bytes before ``mark`` (dropped), or everything up to the end of stdin or the deadline."""
        found = self.ended_by(mark, deadline)
        if found is None:
            found = bytes(self.buffer)
            self.buffer.clear()
        return found

    def ended_by(self, mark: bytes, deadline: float | None = None) -> bytes | None:
        """The bytes before ``mark`` (dropped); None when stdin ends or the deadline passes first
        (what arrived stays buffered). A mark that starts a line keeps the newline before it."""
        while (at := self.buffer.find(mark)) == -1:
            if deadline is not None:
                left = deadline - time.time()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        found = bytes(self.buffer[: at + 1 if mark.startswith(b"\n") else at])
        del self.buffer[: at + len(mark)]
        return found


def _commit_options(words: list[str]) -> dict | None:
    """``[confirmed SECONDS] [if-running SHA256] [show-running] [hold] [whole]``, in that order;
    None: not that (an older shell says so for ``whole`` too: the driver names it outdated)."""
    options: dict = {"confirmed": None, "expect": "", "show": False, "hold": False, "whole": False}
    if words[:1] == ["confirmed"]:
        if len(words) < 2 or not words[1].isdigit():
            return None
        options["confirmed"], words = int(words[1]), words[2:]
    if words[:1] == ["if-running"]:
        if len(words) < 2 or len(words[1]) != 64 or any(c not in "0123456789abcdef" for c in words[1]):
            return None
        options["expect"], words = words[1], words[2:]
    if words[:1] == ["show-running"]:
        options["show"], words = True, words[1:]
    if words[:1] == ["hold"]:
        options["hold"], words = True, words[1:]
    if words[:1] == ["whole"]:
        options["whole"], words = True, words[1:]
    return None if words else options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enforcer-frr-shell")
    parser.add_argument("--dir", type=Path, help="a private FRR directory (etc/, run/); default: the system FRR")
    parser.add_argument("--name", default=os.uname().nodename)
    args = parser.parse_args(argv)
    router = Router(args.dir, args.name)

    command = os.environ.get("SSH_ORIGINAL_COMMAND", "").strip()
    if not command:
        os.execvp("vtysh", router.vtysh_argv())
    return run_command(router, command)


if __name__ == "__main__":
    sys.exit(main())
