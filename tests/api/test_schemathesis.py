"""Property-based run of schemathesis against ``enforcer serve``: no 5xx, no response off its own spec.

Starts the real server (``enforcer serve`` with its reconcile loop, offline devices, a temporary
store) on a free loopback port and points the ``schemathesis`` CLI at its ``/openapi.json`` with
an operator token, bounded in examples and time so CI stays quick.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from enforcer.api.tokens import create_token

MAX_EXAMPLES = 15
MAX_SECONDS = 90
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "negative_data_rejection",
    )
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(settings, ctx, tmp_path):
    token = create_token(ctx.store, "schemathesis", "operator")
    port = _free_port()
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / "enforcer"), "--inventory", str(settings.inventory), "--db", settings.db,
           "--output", str(settings.output), "serve", "--listen", f"127.0.0.1:{port}", "--interval", "5",
           "--log-level", "warning"]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"enforcer serve did not come up:\n{(tmp_path / 'serve.log').read_text()}")
        time.sleep(0.1)
    try:
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server, tmp_path):
    url, token = server
    st = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(st), "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {token}",
         "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_SECONDS),
         "--seed", "20240601", "--generation-database", "none", "--no-color", "--workers", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=MAX_SECONDS + 120,
    )
    tail = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert "API Operations:" in result.stdout and "Tested: 12" in result.stdout, tail
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log, log[-4000:]
