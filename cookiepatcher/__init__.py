"""cookiepatcher: generate services from Cookiecutter templates and keep them up to date.

Public Python API (the CLI is a thin layer over these)::

    from cookiepatcher import create_project, update_project, check_project, diff_project, link_project
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_project", "update_project", "check_project", "diff_project", "link_project",
           "CookiepatcherError", "Record", "load_record"]


def __getattr__(name: str) -> Any:
    # imported lazily so `cookiepatcher check` does not pay for cookiecutter/jinja imports
    modules = {"create_project": "create", "update_project": "update", "check_project": "check",
               "diff_project": "diff", "link_project": "link", "CookiepatcherError": "errors",
               "Record": "record", "load_record": "record"}
    if name in modules:
        import importlib

        return getattr(importlib.import_module(f"cookiepatcher.{modules[name]}"), name)
    raise AttributeError(name)
