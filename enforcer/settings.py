"""Where enforcer finds its inventory, playbooks, templates and store; from flags or the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidInput
from .resources import EXAMPLE_INVENTORY, PLAYBOOKS

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Default seconds a push lease outlives its holder's last renewal (``ENFORCER_LEASE_TTL``).
LEASE_TTL = 30.0


class Settings(BaseModel):
    """Global options shared by the CLI, the API server and the controller.

    Precedence: command-line flag, then environment variable, then the bundled default.
    """

    model_config = ConfigDict(frozen=True)
    inventory: Path = EXAMPLE_INVENTORY
    db: str = "sqlite:///enforcer.db"
    playbooks: Path = PLAYBOOKS
    output: Path = Path("out")
    #: Seconds a device's push lease outlives its holder's last renewal (``enforcer.lease``): how long a
    #: pusher that died (SIGKILL, a lost instance) keeps others off its devices. Renewed every third of it.
    lease_ttl: float = Field(default=LEASE_TTL, ge=3, le=3600)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Flags (``overrides``) over ``ENFORCER_*`` variables over defaults.

        A bad value raises :class:`~enforcer.errors.InvalidInput` naming where it came from — the
        variable (``ENFORCER_LEASE_TTL: ...``) or the flag (``--db: ...``) — since the model's own
        field name is not something the operator typed.
        """
        env = {
            "inventory": os.environ.get("ENFORCER_INVENTORY"),
            "db": os.environ.get("ENFORCER_DB"),
            "playbooks": os.environ.get("ENFORCER_PLAYBOOKS"),
            "output": os.environ.get("ENFORCER_OUTPUT"),
            "lease_ttl": os.environ.get("ENFORCER_LEASE_TTL"),
        }
        values = {k: v for k, v in env.items() if v}
        flags = {k: v for k, v in overrides.items() if v is not None}
        values.update(flags)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            from .model import validation_error_to_invalid

            bad = validation_error_to_invalid(exc)
            where = f"--{bad.field}" if bad.field in flags else f"ENFORCER_{bad.field.upper()}"
            raise InvalidInput(where if bad.field in env else bad.field, bad.reason) from None
