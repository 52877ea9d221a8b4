"""Helpers of the django-template tests: bake variants, running a baked service.

The session fixtures using them (``django_bakes``, ``service_python``) live in
``tests/templates/conftest.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "django-template"
ALL_ON = {"use_sentry": "yes", "use_newrelic": "yes", "log_shipping": "fluentd",
          "private_index_url": "https://pypi.example.com/simple/", "python_version": "3.13"}


def bake_variants() -> dict[str, dict[str, str]]:
    """Bake id -> extra context: defaults, each non-default choice value, a private index, all on."""
    spec = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    variants: dict[str, dict[str, str]] = {"defaults": {}}
    for question, default in spec.items():
        if isinstance(default, list):
            for value in default[1:]:
                variants[f"{question}={value}"] = {question: value}
    variants["private_index_url=set"] = {"private_index_url": "https://pypi.example.com/simple/"}
    variants["short_description=quotes"] = {"short_description": 'Orders "API" — it\'s <fast> & {small}'}
    variants["all-on"] = ALL_ON
    return variants


VARIANTS = bake_variants()


def service_env(**extra: str) -> dict[str, str]:
    """Environment for running a baked service: no inherited Django/DB settings, no bytecode."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DATABASE_", "SENTRY_", "NEW_RELIC_", "PYTEST_", "COOKIEPATCHER_"))}
    env.update({"PYTHONDONTWRITEBYTECODE": "1"}, **extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd`` and capture its output as text."""
    return subprocess.run(cmd, cwd=cwd, env=env or service_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def tool(name: str) -> str:
    """Path of a console script installed beside the running Python (the tox env)."""
    return str(Path(sys.executable).parent / name)
