"""The one exception type for user-facing errors.

Anything raised as :class:`CookiepatcherError` is a refusal or failure the user can act
on: the CLI prints its message on one line and exits with code 2 (nothing changed).
Any other exception escaping a command is a bug.
"""
from __future__ import annotations


class CookiepatcherError(Exception):
    """A refusal or failure with a one-line message naming the problem and the way out.

    Args:
        message: one line, no trailing period required; shown to the user as is.
    """

    exit_code = 2


class RecordError(CookiepatcherError):
    """``cookiepatcher.json`` is missing, malformed or incomplete."""


class TemplateError(CookiepatcherError):
    """The template cannot be reached, its ref or subfolder is gone, or it fails to render."""


class RefusedError(CookiepatcherError):
    """The project is in a state the upgrade must not touch (dirty tree, unsafe paths, ...)."""
