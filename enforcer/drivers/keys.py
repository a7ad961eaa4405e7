"""Opening an SSH private key, shared by every SSH transport (FRR's netmiko session, Linux's runner).

The key is opened here, before connecting, so that a wrong passphrase is reported as what it is
(an authentication failure naming the variable that holds the passphrase), not as "cannot reach"
or a paramiko message about PEM delimiters.

A NOC engineer's key usually lives in ``ssh-agent``: when ``SSH_AUTH_SOCK`` holds the key whose
public half is the inventory's ``key_file`` (the public half an OpenSSH key file carries in the
clear, else its ``.pub`` beside it), that agent key signs the login and the file is never
decrypted — no passphrase needed, and none of bcrypt's 0.25-1 s on a passphrase-protected Ed25519
key. Any other key in the agent is never offered: the inventory names which key a device takes.
"""

from __future__ import annotations

import base64
import logging
import os
import struct
from pathlib import Path
from typing import Any

from ..inventory import Device
from .base import AuthenticationFailed, DriverError

log = logging.getLogger("enforcer.drivers.keys")

_OPENSSH_MAGIC = b"openssh-key-v1\0"


def open_key(device: Device, path: str, passphrase: str | None) -> Any:
    """The agent's key for ``path`` if the agent holds it (:func:`agent_key`), else the
    ``paramiko.PKey`` in ``path``, opened with ``passphrase``."""
    held = agent_key(path)
    if held is not None:
        log.debug("%s: key %s signs through ssh-agent (the file is not opened)", device.name, path)
        return held
    import paramiko

    try:
        return paramiko.PKey.from_path(path, passphrase.encode() if passphrase else None)
    except OSError as exc:
        raise DriverError(device.name, f"optional_args.key_file: cannot read {path}: {exc.strerror}") from exc
    except (paramiko.SSHException, ValueError, TypeError) as exc:
        var = device.password_env or "(no passphrase variable named)"
        raise AuthenticationFailed(
            device.name, f"authentication failed: key {path} does not open with the passphrase in {var}"
        ) from exc


def agent_key(path: str) -> Any:
    """The ``paramiko.AgentKey`` of the agent at ``SSH_AUTH_SOCK`` whose public half is the one of
    the key file ``path``; None without an agent, without a known public half, or when the agent
    does not hold that key (the caller then opens the file)."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None
    blob = public_blob(Path(path))
    if blob is None:
        return None
    import paramiko

    try:
        agent = paramiko.Agent()  # no agent at the socket: no keys (paramiko swallows the refusal)
    except paramiko.SSHException as exc:  # an agent that answers nonsense is no agent
        log.debug("ssh-agent at %s: %s", os.environ.get("SSH_AUTH_SOCK"), exc)
        return None
    for key in agent.get_keys():
        if key.asbytes() == blob:
            return key  # the key keeps the agent's connection: a later login signs through it too
    agent.close()
    return None


def public_blob(path: Path) -> bytes | None:
    """The public key (SSH wire blob) of the private key file ``path``, without decrypting it: from
    the clear header of an OpenSSH-format key file (the file itself, so a stale ``.pub`` cannot
    pick another key), else from ``path.pub`` (a PEM key's public half is encrypted); None if neither."""
    try:
        found = _openssh_public(path.read_text())
    except (OSError, UnicodeDecodeError):
        found = None
    if found is not None:
        return found
    try:
        fields = Path(f"{path}.pub").read_text().split()
        return base64.b64decode(fields[1]) if len(fields) >= 2 else None
    except (OSError, ValueError):
        return None


def _openssh_public(text: str) -> bytes | None:
    """The first public key of an ``-----BEGIN OPENSSH PRIVATE KEY-----`` file (PROTOCOL.key:
    magic, cipher name, KDF name, KDF options, key count, then the public keys, unencrypted)."""
    body = [ln for ln in text.strip().splitlines() if ln and not ln.startswith("-----")]
    try:
        data = base64.b64decode("".join(body))
    except ValueError:
        return None
    if not data.startswith(_OPENSSH_MAGIC):
        return None
    at = len(_OPENSSH_MAGIC)
    try:
        for _ in range(3):  # cipher name, KDF name, KDF options
            (size,) = struct.unpack_from(">I", data, at)
            at += 4 + size
        (count,) = struct.unpack_from(">I", data, at)
        (size,) = struct.unpack_from(">I", data, at + 4)
    except struct.error:
        return None
    blob = data[at + 8 : at + 8 + size]
    return blob if count >= 1 and len(blob) == size else None
