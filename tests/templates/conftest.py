"""Shared fixtures of the template tests: a committed copy of the templates, bake helpers.

The post-generation hook reads the template's git commit, and /work/main's own history is
not something a test should depend on, so the templates (and the shared ``hooks/``) are
copied into a temporary git repository once per session.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOKS_DIR = REPO / "hooks"
TEMPLATE_NAMES = ("django-template", "express-template")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
_IGNORE = shutil.ignore_patterns("node_modules", "__pycache__", "*.pyc", ".pytest_cache")

if str(HOOKS_DIR) not in sys.path:
    sys.path.insert(0, str(HOOKS_DIR))


def template_params() -> list:
    """``pytest.param`` per template; a template without ``cookiecutter.json`` yet is skipped."""
    params = []
    for name in TEMPLATE_NAMES:
        marks = []
        if not (REPO / name / "cookiecutter.json").is_file():
            marks.append(pytest.mark.skip(reason=f"{name}/cookiecutter.json does not exist yet"))
        params.append(pytest.param(name, marks=marks, id=name.split("-")[0]))
    return params


def git(cwd: Path, *args: str) -> str:
    """Run git with a pinned identity and no user config; return stdout (raises on failure)."""
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout.strip()


def copy_templates(dest: Path) -> Path:
    """Copy ``hooks/`` and the templates that exist into ``dest`` (symlinks kept as links)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(HOOKS_DIR, dest / "hooks", symlinks=True, ignore=_IGNORE)
    for name in TEMPLATE_NAMES:
        if (REPO / name / "cookiecutter.json").is_file():
            shutil.copytree(REPO / name, dest / name, symlinks=True, ignore=_IGNORE)
    return dest


def commit_all(repo: Path, message: str) -> str:
    """Stage everything in ``repo``, commit, return the new HEAD sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory) -> Path:
    """A git repository (branch ``main``, one commit) holding the templates and ``hooks/``."""
    repo = copy_templates(tmp_path_factory.mktemp("template-repo"))
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "templates")
    return repo


def listing(root: Path) -> list[str]:
    """Every path under ``root``, relative and sorted (empty list when nothing is left)."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture(scope="session")
def django_bakes(cookies_session, template_repo) -> dict[str, Path]:
    """Bake id -> project folder, baked once per session."""
    from bake_helpers import VARIANTS  # tests/templates/django, on sys.path for its tests

    projects = {}
    for name, extra in VARIANTS.items():
        result = cookies_session.bake(extra_context=extra, template=str(template_repo / "django-template"))
        assert result.exit_code == 0, (name, result.exception)
        projects[name] = Path(result.project_path)
    return projects


@pytest.fixture(scope="session")
def service_python(tmp_path_factory, django_bakes) -> Path:
    """Python of one virtualenv holding the all-options bake's requirements-dev.txt (public index).

    Created once per session: the baked services share pinned requirements, and this keeps
    the run within budget instead of letting tox build one environment per bake.
    """
    env_dir = tmp_path_factory.mktemp("service-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    reqs = tmp_path_factory.mktemp("reqs")
    source = django_bakes["all-on"]
    for name in ("requirements.txt", "requirements-dev.txt"):
        lines = (source / name).read_text(encoding="utf-8").splitlines()
        # the example private index does not exist: install from the configured index instead
        kept = [line for line in lines if not line.startswith("--index-url")]
        (reqs / name).write_text("\n".join(kept) + "\n", encoding="utf-8")
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "-r", str(reqs / "requirements-dev.txt")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return python
