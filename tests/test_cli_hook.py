"""``enforcer hook fastnetmon --url`` answered by the light client says exactly what the typer command says.

The console script runs the standard-library client for the calls it reads whole (``enforcer.cli_hook``);
each case here runs once that way and once through the typer command (``python -m enforcer.cli``), against a
loopback stub answering as ``enforcer serve`` does, and compares exit code, stdout and stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from enforcer.cli_hook import parse_fast

from .helpers import free_port

GOOD = "Bearer enf_good"


class _Serve(BaseHTTPRequestHandler):
    """Answers as ``/v1/hooks/fastnetmon`` does: 401 for an unknown token, 409 with the refused item for a
    protected host, 500 without a body for a broken server, else the created (or kept) item."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        ip, item = doc["ip"], {"target": f"{doc['ip']}/32", "violation": "ddos-victim", "source": "fastnetmon"}
        if self.headers.get("Authorization") != GOOD:
            self._answer(401, {"error": {"field": "authorization", "reason": "unknown or revoked token"}})
        elif ip == "198.51.100.201":
            error = {"field": "target", "reason": "198.51.100.201/32 is protected (\x1b[2J core)"}
            self._answer(409, {"error": error, "results": [{**item, "outcome": "refused", "error": error}]})
        elif ip == "203.0.113.99":
            self._answer(500, None)
        elif doc["action"] == "unban":
            self._answer(200, {"results": [{**item, "outcome": "skipped", "reason": f"query {self.path}"}]})
        else:
            self._answer(200, {"results": [{**item, "outcome": "created", "decision_id": 7, "ended": [],
                                            "enforcements": [], "reason": "ok \u202e reversed"}]})  # fmt: skip

    def _answer(self, status: int, answer: dict | None) -> None:
        body = b"oops" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


BAN = ["198.51.100.7", "incoming", "250000", "ban"]
CASES = {
    "created": ([*BAN], {}),
    "refused by a guardrail": (["198.51.100.201", "incoming", "10", "ban"], {}),
    "unknown token": ([*BAN], {"ENFORCER_TOKEN": "enf_bad"}),
    "no token": (["--token-env", "FNM", *BAN], {}),
    "a server error": (["203.0.113.99", "incoming", "10", "ban"], {}),
    "a bad packet rate": (["198.51.100.7", "incoming", "lots", "ban"], {}),
    "no direction on a ban": (["198.51.100.7", "", "10", "ban"], {}),
    "unban kept, options as typer spells them": (["--on-unban=keep", "--ttl", "90s", "--no-apply", "--dry-run",
                                                  "--", "unban", "198.51.100.7"], {}),
}  # fmt: skip


def _run(module: str, argv: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", module, *argv], input="", capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ENFORCER_")},
             "ENFORCER_DB": f"sqlite:///{tmp_path / 'e.db'}", "ENFORCER_TOKEN": "enf_good", **env},
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("case", CASES)
def test_the_light_client_answers_as_the_typer_command(case: str, url: str, tmp_path: Path) -> None:
    args, env = CASES[case]
    argv = ["hook", "fastnetmon", "--url", url, *args]
    assert parse_fast(argv) is not None  # the console script takes the light path for this call
    light = _run("enforcer.cli_entry", argv, env, tmp_path)
    assert "Traceback" not in light[2]
    assert light == _run("enforcer.cli", argv, env, tmp_path)


def test_the_light_client_exits_as_the_runbook_says(url: str, tmp_path: Path) -> None:
    """0 created (control characters shown as escapes), 2 refused or a bad call, 1 unreachable or broken."""
    code, out, _ = _run("enforcer.cli_entry", ["hook", "fastnetmon", "--url", url, *BAN], {}, tmp_path)
    assert (code, out) == (0, "created 198.51.100.7/32 ddos-victim decision 7 ok \\u202e reversed\n")
    code, out, _ = _run("enforcer.cli_entry", ["hook", "fastnetmon", "--url", url, *CASES["refused by a guardrail"][0]],
                        {}, tmp_path)  # fmt: skip
    assert code == 2 and out.startswith("refused 198.51.100.201/32 ddos-victim decision - target:") and "\\x1b" in out
    gone = f"http://127.0.0.1:{free_port()}"
    code, _, err = _run("enforcer.cli_entry", ["hook", "fastnetmon", "--url", gone, *BAN], {}, tmp_path)
    assert code == 1 and err.startswith(f"error: {gone}/v1/hooks/fastnetmon:")


@pytest.mark.parametrize(
    "argv",
    [
        ["hook", "fastnetmon", *BAN],  # no --url: the local path, against the store
        ["--db", "sqlite://", "hook", "fastnetmon", "--url", "http://x", *BAN],  # a global option: the settings
        ["hook", "fastnetmon", "--url", "http://x", "--json", *BAN],
        ["hook", "fastnetmon", "--url", "http://x", "--help"],
        ["hook", "fastnetmon", "--url", "http://x", "--on-unban", "forget", *BAN],
        ["hook", "fastnetmon", "--url"],
        ["hook", "fastnetmon", "--url", "http://x", "--bogus", *BAN],
        ["block", "198.51.100.7", "-v", "scanning"],
    ],
)
def test_what_the_light_client_does_not_read_whole_goes_to_typer(argv: list[str]) -> None:
    assert parse_fast(argv) is None


def test_a_bad_lease_ttl_is_still_refused_by_the_main_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENFORCER_LEASE_TTL", "abc")
    assert parse_fast(["hook", "fastnetmon", "--url", "http://x", *BAN]) is None
