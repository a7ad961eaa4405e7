"""Opening an SSH private key, shared by every SSH transport (FRR's netmiko session, Linux's runner).

The key is opened here, before connecting, so that a wrong passphrase is reported as what it is
(an authentication failure naming the variable that holds the passphrase), not as "cannot reach"
or a paramiko message about PEM delimiters.
"""

from __future__ import annotations

from typing import Any

from ..inventory import Device
from .base import AuthenticationFailed, DriverError


def open_key(device: Device, path: str, passphrase: str | None) -> Any:
    """The ``paramiko.PKey`` in ``path``, opened with ``passphrase``."""
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
