"""Inline fixtures for the bot's tests: a template repository, services generated from it
and pushed to bare repositories on disk (their "forge" remotes), and a fake forge that
knows them.

Git identity and config are pinned (``GIT_CONFIG_GLOBAL`` points at an empty file) so
the tests behave the same on every machine.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Person",
    "GIT_AUTHOR_EMAIL": "person@example.com",
    "GIT_COMMITTER_NAME": "Test Person",
    "GIT_COMMITTER_EMAIL": "person@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}

SETTINGS = "\n".join(f"setting_{i} = {i}" for i in range(1, 11)) + "\n"


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``cwd`` with the pinned identity; return stdout (stripped)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV, **(env or {})})
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def write_tree(root: Path, files: dict[str, str | None]) -> None:
    """Write ``{relative path: content}`` under ``root``; ``None`` deletes the file."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def make_template(tmp: Path) -> Path:
    """A cookiecutter template in a git repository (branch ``main``), one commit."""
    tpl = tmp / "template"
    write_tree(tpl, {
        "cookiecutter.json": '{"project_name": "Demo", "project_slug": "{{ cookiecutter.project_name.lower() }}"}\n',
        "{{cookiecutter.project_slug}}/README.md": "# {{ cookiecutter.project_name }}\n",
        "{{cookiecutter.project_slug}}/settings.txt": SETTINGS,
        "{{cookiecutter.project_slug}}/ci.yml": "steps:\n  - run: make test\n",
    })
    git(tpl, "init", "-q", "-b", "main")
    git(tpl, "add", "-A")
    git(tpl, "commit", "-q", "-m", "Initial template")
    return tpl


def template_commit(tpl: Path, files: dict[str, str | None], message: str) -> str:
    """Commit ``files`` (paths under the project folder of the template) and return the sha."""
    write_tree(tpl / "{{cookiecutter.project_slug}}", files)
    git(tpl, "add", "-A")
    git(tpl, "commit", "-q", "-m", message)
    return git(tpl, "rev-parse", "HEAD")


def make_service(tmp: Path, template: Path, name: str, changes: dict[str, str | None] | None = None) -> Path:
    """Generate service ``name`` from ``template``, commit it (plus ``changes``) and push it
    to a new bare repository ``tmp/remotes/<name>.git``; return the bare repository."""
    from cookiepatcher.create import create_project

    project = create_project(str(template), no_input=True, output_dir=tmp / "gen",
                             extra_context={"project_name": name})
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Generate service")
    if changes:
        write_tree(project, changes)
        git(project, "commit", "-q", "-am", "Service changes")
    bare = tmp / "remotes" / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    git(project, "push", "-q", str(bare), "main")
    return bare


def clone(bare: Path, dest: Path) -> Path:
    """Clone ``bare`` (the service's remote) into ``dest``."""
    git(dest.parent, "clone", "-q", str(bare), str(dest))
    return dest


def push_human_commit(bare: Path, branch: str, tmp: Path, files: dict[str, str | None]) -> str:
    """A person clones ``bare``, commits ``files`` on ``branch`` and pushes; returns the commit."""
    work = tmp / f"human-{os.urandom(3).hex()}"
    clone(bare, work)
    git(work, "switch", "-q", branch)
    write_tree(work, files)
    git(work, "commit", "-q", "-am", "Resolve conflicts by hand")
    git(work, "push", "-q", "origin", branch)
    return git(work, "rev-parse", "HEAD")
