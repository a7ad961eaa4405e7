"""Placeholder: the helper that owns this package replaces it with its Typer commands."""

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the main ``enforcer`` app."""
