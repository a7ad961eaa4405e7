"""The errors enforcer raises on purpose, and nothing else: the standard library only.

Apart from :mod:`enforcer.model` (which re-exports them) so that a command that must start in
milliseconds (``enforcer hook fastnetmon --url``, run by FastNetMon for every ban) can name a bad
field the way every other command does without importing pydantic.
"""

from __future__ import annotations


class EnforcerError(Exception):
    """Base of every error enforcer raises on purpose; the edges turn it into exit 2 / a 4xx."""


class FileProblems(EnforcerError):
    """Problems in configuration files (inventory, playbooks): each names the file, the path
    inside it and the reason; all are reported together, not just the first."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class InvalidInput(EnforcerError):
    """Bad input: names the field and the reason, e.g. ``target: 203.0.113.0/33: prefix length 33 > 32``."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class Refused(EnforcerError):
    """A well-formed request that a guardrail refuses (protected prefix, too broad, rate cap)."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
