"""Helpers of the express-template tests: bake variants, running npm and a baked service.

The session fixtures using them live in ``tests/templates/express/conftest.py``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "express-template"
SCHEMAS = REPO / "tests" / "templates" / "schemas"

REGISTRY = {"npm_registry_url": "https://npm.example.com/registry", "npm_scope": "@acme"}
ALL_ON = {
    "repo_name": "acme.orders_api",
    "short_description": 'Orders "API" & co \\ more',
    "use_sentry": "yes",
    "use_newrelic": "yes",
    "log_shipping": "fluentd",
    "node_version": "22",
    "aws_region": "eu-west-1",
    **REGISTRY,
}


def bake_variants() -> dict[str, dict[str, str]]:
    """Bake id -> extra context: defaults, each other choice value alone, a registry, all on.

    Choice questions are read from ``cookiecutter.json`` so a new choice value is baked
    without editing this list.
    """
    spec = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    variants: dict[str, dict[str, str]] = {"defaults": {}}
    for question, default in spec.items():
        if isinstance(default, list):
            for value in default[1:]:
                variants[f"{question}={value}"] = {question: value}
    variants["npm_registry=set"] = dict(REGISTRY)
    variants["all-on"] = ALL_ON
    return variants


VARIANTS = bake_variants()


def npm_env(**extra: str) -> dict[str, str]:
    """Environment for npm and a baked service: no inherited monitoring/npm settings, quiet npm."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SENTRY_", "NEW_RELIC_", "NPM_", "npm_", "NODE_OPTIONS", "PORT", "HOST", "BASE_URL"))}
    env.update({"NO_UPDATE_NOTIFIER": "1", "npm_config_update_notifier": "false",
                "npm_config_fund": "false", "npm_config_audit": "false", "npm_config_loglevel": "warn"})
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd``; output captured as text (stderr merged into stdout)."""
    return subprocess.run(cmd, cwd=cwd, env=env or npm_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)


def node_test_counts(output: str) -> tuple[int, int]:
    """(passed, failed) from the summary of Node's test runner (TAP ``# pass N`` or spec ``ℹ pass N``).

    Raises:
        AssertionError: no summary in ``output``.
    """
    passed = re.findall(r"^(?:#|\u2139) pass (\d+)$", output, re.M)
    failed = re.findall(r"^(?:#|\u2139) fail (\d+)$", output, re.M)
    assert passed and failed, f"no node:test summary in:\n{output[-2000:]}"
    return int(passed[-1]), int(failed[-1])


def tool(name: str) -> str:
    """Path of a console script installed beside the running Python (the tox env)."""
    return str(Path(sys.executable).parent / name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_files(root: Path) -> list[Path]:
    """Every file of a baked project, without ``node_modules`` and ``.git``."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("node_modules", ".git")]
        files.extend(Path(dirpath) / name for name in filenames)
    return sorted(files)


# git with a pinned identity: the shared helpers of tests/templates/conftest.py
from conftest import GIT_ENV, commit_all, git  # noqa: E402,F401  (re-exported to the express tests)


def copy_express_template(dest: Path) -> Path:
    """Copy ``express-template`` and the shared ``hooks/`` into ``dest`` (its ``hooks`` link kept)."""
    ignore = shutil.ignore_patterns("node_modules", "__pycache__", "*.pyc")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "hooks", dest / "hooks", symlinks=True, ignore=ignore)
    shutil.copytree(TEMPLATE, dest / "express-template", symlinks=True, ignore=ignore)
    return dest
