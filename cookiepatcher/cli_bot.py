"""CLI commands of the upgrade bot (``pr``, ``fleet``); filled in by the bot work."""
from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the bot's commands to the top-level ``cookiepatcher`` group."""
