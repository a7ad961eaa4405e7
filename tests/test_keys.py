"""SSH keys: a key the NOC's ssh-agent holds signs the login and its file is never decrypted; without
it (no agent, another key in the agent) the file is opened with the passphrase as before.

A real ``ssh-agent`` and ``ssh-keygen`` (OpenSSH) on this machine, no device: the agent is started
by :func:`enforcer.lab.mgmt.ssh_agent` and stopped by its PID.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from enforcer.drivers.base import AuthenticationFailed
from enforcer.drivers.keys import agent_key, open_key, public_blob
from enforcer.inventory import Device
from enforcer.lab.mgmt import ssh_agent

PASSPHRASE = "correct horse battery"


def _key(folder: Path, name: str, *options: str) -> Path:
    path = folder / name
    argv = ["ssh-keygen", "-q", "-t", "ed25519", *options, "-N", PASSPHRASE, "-C", name, "-f", str(path)]
    subprocess.run(argv, check=True)
    return path


def _device() -> Device:
    return Device.model_validate({"name": "edge", "role": "edge", "platform": "frr", "hostname": "127.0.0.1",
                                  "password_env": "EDGE_KEY_PASSPHRASE"})  # fmt: skip


def test_the_public_half_comes_from_the_key_file_itself_not_from_a_stale_pub_beside_it(tmp_path: Path):
    key, other = _key(tmp_path, "id_ed25519"), _key(tmp_path, "other")
    mine = public_blob(key)
    key.with_name("id_ed25519.pub").write_text(other.with_name("other.pub").read_text())
    assert mine is not None and public_blob(key) == mine != public_blob(other)


def test_a_pem_key_whose_public_half_is_encrypted_is_matched_by_its_pub(tmp_path: Path, monkeypatch):
    key = _key(tmp_path, "id_ecdsa", "-t", "ecdsa", "-m", "PEM")
    assert "BEGIN OPENSSH" not in key.read_text(), "a PEM file"
    with ssh_agent(key, PASSPHRASE) as env:
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        assert agent_key(str(key)) is not None
        key.with_name("id_ecdsa.pub").unlink()
        assert agent_key(str(key)) is None, "no public half known: the file is opened"


def test_a_key_held_by_the_agent_signs_without_opening_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    key = _key(tmp_path, "id_ed25519")
    with ssh_agent(key, PASSPHRASE) as env:
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        got = open_key(_device(), str(key), "not-the-passphrase")  # a wrong passphrase is never tried
        assert got.asbytes() == public_blob(key) and got.agent is not None
        assert got.sign_ssh_data(b"challenge") is not None, "the agent signs"


def test_the_agent_holding_another_key_leaves_the_file_and_its_passphrase_in_charge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    key, other = _key(tmp_path, "id_ed25519"), _key(tmp_path, "other")
    with ssh_agent(other, PASSPHRASE) as env:
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        assert agent_key(str(key)) is None, "only the inventory's key is taken from the agent"
        with pytest.raises(AuthenticationFailed) as err:
            open_key(_device(), str(key), "not-the-passphrase")
        assert "EDGE_KEY_PASSPHRASE" in str(err.value), "the operator is told which secret to fix"
        assert open_key(_device(), str(key), PASSPHRASE).asbytes() == public_blob(key)


def test_a_dangling_agent_socket_falls_back_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    key = _key(tmp_path, "id_ed25519")
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "gone.sock"))
    assert open_key(_device(), str(key), PASSPHRASE).asbytes() == public_blob(key)
