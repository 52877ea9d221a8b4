"""Shared fixtures for the engine tests: an isolated git/HOME per test and inline templates.

Every test runs with its own ``HOME`` (a fresh global git config: fixed identity,
``init.defaultBranch=main``, ``core.autocrlf=false``), ``GIT_CONFIG_NOSYSTEM=1`` and
``COOKIEPATCHER_CACHE_DIR`` inside its ``tmp_path``, so nothing from the machine's git or
cookiecutter configuration leaks in and the mirror cache starts cold.

Templates are written inline with :func:`make_template`: a ``{tag: {path: content}}``
mapping becomes a git repository with one commit (fixed date) and one tag per version.
:func:`generate` creates a project from a template ref and commits it, the way a user
starts.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pytest

Content = Union[bytes, str, tuple[Union[bytes, str], int], None]

DEFAULT_CONTEXT: dict[str, Any] = {
    "project_name": "Demo Project",
    "project_slug": "{{ cookiecutter.project_name.lower().replace(' ', '_') }}",
}
PROJECT_DIR = "{{cookiecutter.project_slug}}"
IDENTITY = {
    "GIT_AUTHOR_NAME": "tester",
    "GIT_AUTHOR_EMAIL": "tester@example.invalid",
    "GIT_COMMITTER_NAME": "tester",
    "GIT_COMMITTER_EMAIL": "tester@example.invalid",
}


# -- git helpers ---------------------------------------------------------------------------

def git(cwd: Path | str, *args: str, env: Mapping[str, str] | None = None, check: bool = True) -> str:
    """Run ``git ARGS`` in ``cwd`` and return stdout (text); raise with stderr on failure."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def commit_all(repo: Path, message: str = "change", date: str | None = None, force: bool = False) -> str:
    """``git add -A && git commit`` in ``repo`` (optionally at a fixed date; ``force`` adds
    ignored files too); return the new sha."""
    git(repo, "add", "-A", *(["-f"] if force else []))
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else None
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD").strip()


def unmerged(repo: Path) -> dict[str, dict[int, str]]:
    """``git ls-files -u`` as ``{path: {stage: sha}}`` (paths relative to ``repo``)."""
    out: dict[str, dict[int, str]] = {}
    for line in git(repo, "ls-files", "-u", "-z").split("\0"):
        if not line:
            continue
        meta, path = line.split("\t", 1)
        _mode, sha, stage = meta.split()
        out.setdefault(path, {})[int(stage)] = sha
    return out


def blob(repo: Path, content: bytes) -> str:
    """The blob sha git would give ``content`` (no object written)."""
    return subprocess.run(["git", "hash-object", "--stdin"], cwd=repo, input=content,
                          capture_output=True, check=True).stdout.decode().strip()


def status(repo: Path) -> str:
    """``git status --porcelain`` (untracked files listed one by one)."""
    return git(repo, "status", "--porcelain", "--untracked-files=all")


def is_exec(path: Path) -> bool:
    """True when the owner-executable bit is set."""
    return bool(path.stat().st_mode & 0o100)


def files_with_modes(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file below ``root`` (``.git`` left out): ``{path: (bytes, mode bits)}``."""
    out: dict[str, tuple[bytes, int]] = {}
    for dirpath, dirs, files in os.walk(root):
        if ".git" in dirs:
            dirs.remove(".git")
        for name in files:
            p = Path(dirpath, name)
            if not p.is_symlink():
                out[p.relative_to(root).as_posix()] = (p.read_bytes(), p.stat().st_mode & 0o777)
    return out


def snapshot(root: Path) -> dict[str, Any]:
    """Everything an update could change under ``root``'s repository: every file's bytes
    and mode (tracked, untracked and ignored, outside ``.git``), ``git status --porcelain``,
    the index bytes and HEAD."""
    files: dict[str, tuple[bytes, int] | str] = {}
    for dirpath, dirs, names in os.walk(root):
        if ".git" in dirs:
            dirs.remove(".git")
        for name in names + [d for d in dirs if Path(dirpath, d).is_symlink()]:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            files[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else (p.read_bytes(), p.stat().st_mode & 0o777)
    top = Path(git(root, "rev-parse", "--show-toplevel").strip())
    gitdir = Path(git(root, "rev-parse", "--absolute-git-dir").strip())
    index = gitdir / "index"
    return {
        "files": files,
        "status": status(top),
        "index": index.read_bytes() if index.exists() else None,
        "head": git(root, "rev-parse", "-q", "--verify", "HEAD", check=False).strip(),
        "stray": sorted(p.name for p in gitdir.iterdir() if p.name.startswith("cookiepatcher")),
    }


# -- the CLI ---------------------------------------------------------------------------------

def run_cli(*args: str | Path, cwd: Path | None = None, input: str | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m cookiepatcher ARGS`` as a subprocess (stdin not a terminal)."""
    return subprocess.run([sys.executable, "-m", "cookiepatcher", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, input=input if input is not None else "",
                          env={**os.environ, **(env or {})})


# -- templates -------------------------------------------------------------------------------

@dataclass
class Template:
    """A template repository built by :func:`make_template`.

    Attributes:
        path: the repository (work tree); ``location`` is what to pass as TEMPLATE.
        tags: ``{tag: sha}`` in creation order.
        directory: subfolder holding cookiecutter.json, or ``None``.
    """

    path: Path
    tags: dict[str, str] = field(default_factory=dict)
    directory: str | None = None

    @property
    def location(self) -> str:
        """The template location as a user would type it (the local path)."""
        return str(self.path)

    @property
    def url(self) -> str:
        """A ``file://`` URL for the template (a remote template, served through the cache)."""
        return self.path.as_uri()

    def sha(self, tag: str) -> str:
        """Full commit sha of ``tag``."""
        return self.tags[tag]

    def add_version(self, tag: str, changes: Mapping[str, Content], date: str | None = None) -> str:
        """Apply ``changes`` (see :func:`make_template`) on top of the current tree, commit and tag it."""
        root = self.path / self.directory if self.directory else self.path
        _write_tree(root, changes)
        date = date or f"2024-{len(self.tags) + 1:02d}-01T00:00:00Z"
        sha = commit_all(self.path, f"template {tag}", date=date, force=True)
        git(self.path, "tag", tag)
        self.tags[tag] = sha
        return sha


def _write_tree(root: Path, changes: Mapping[str, Content]) -> None:
    """Write ``changes`` below ``root``: paths starting with ``/`` are relative to the
    template root, others to the project folder ``{{cookiecutter.project_slug}}``."""
    for rel, content in changes.items():
        path = root / rel[1:] if rel.startswith("/") else root / PROJECT_DIR / rel
        if content is None:
            if path.is_symlink() or path.is_file():
                path.unlink()
            parent = path.parent
            while parent != root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
            continue
        mode = None
        if isinstance(content, tuple) and len(content) == 2 and isinstance(content[1], int):
            content, mode = content
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        if isinstance(content, dict):
            content = json.dumps(content, indent=2) + "\n"
        if isinstance(content, str) and content.startswith("symlink:"):
            if path.exists():
                path.unlink()
            os.symlink(content[len("symlink:"):], path)
            continue
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(path, mode if mode is not None else 0o644)


def make_template(
    tmp_path: Path,
    versions: Mapping[str, Mapping[str, Content]],
    cookiecutter_json: Mapping[str, Any] | None = None,
    hooks: Mapping[str, str] | None = None,
    *,
    name: str = "template",
    directory: str | None = None,
) -> Template:
    """Build a template git repository with one commit and tag per version.

    Args:
        tmp_path: parent folder; the repository is ``tmp_path/name``.
        versions: ``{tag: {path: content}}`` in order; each version's changes apply on
            top of the previous tree. ``path`` is relative to the project folder
            ``{{cookiecutter.project_slug}}/``, or to the template root when it starts
            with ``/`` (``/cookiecutter.json`` may be given as a dict). ``content`` is
            ``str`` (UTF-8), ``bytes``, ``(content, mode)`` (e.g. ``0o755``), the string
            ``"symlink:TARGET"``, or ``None`` to delete the path.
        cookiecutter_json: the first version's cookiecutter.json (default: project_name
            and a project_slug derived from it).
        hooks: ``{file name: source}`` written to ``hooks/`` in the first version.
        directory: put the template in this subfolder of the repository.

    Returns:
        :class:`Template`; commits are dated 2024-MM-01 (version index), so shas are stable.
    """
    path = tmp_path / name
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "core.fileMode", "true")
    template = Template(path=path, directory=directory)
    first = True
    for tag, changes in versions.items():
        initial: dict[str, Content] = {}
        if first:
            initial["/cookiecutter.json"] = json.dumps(dict(cookiecutter_json or DEFAULT_CONTEXT), indent=2) + "\n"
            for hook, source in (hooks or {}).items():
                initial[f"/hooks/{hook}"] = source
            first = False
        template.add_version(tag, {**initial, **changes})
    return template


def generate(template: Template, ref: str | None, answers: Mapping[str, Any] | None = None, *,
             output_dir: Path | None = None, init_git: bool = True, directory: str | None = None) -> Path:
    """Create a project from ``template`` at ``ref`` (no prompts) and commit it.

    Args:
        template: from :func:`make_template`.
        ref: tag/branch/commit to generate from (recorded as the followed ref).
        answers: ``KEY=VALUE`` answers (cookiecutter's ``extra_context``).
        output_dir: folder receiving the project (default ``<template's parent>/out``).
        init_git: ``git init`` the project and commit everything (skip when the output
            folder is inside another repository: the caller commits there).
        directory: template subfolder (default: the template's own ``directory``).

    Returns:
        The project folder.
    """
    from cookiepatcher import create_project

    out = output_dir or template.path.parent / "out"
    project = create_project(template.location, checkout=ref, no_input=True, output_dir=out,
                             extra_context=dict(answers or {}),
                             directory=directory if directory is not None else template.directory)
    if init_git:
        git(project, "init", "-q", "-b", "main")
        commit_all(project, "generated")
    return project


def count_renders(monkeypatch: Any) -> list[str]:
    """Record every render an upgrade starts (cookiecutter's, or one without it) in the
    returned list, by name, without changing them."""
    from cookiepatcher import project

    calls: list[str] = []
    for name in ("render", "render_plain", "render_blobs"):
        real = getattr(project, name)
        monkeypatch.setattr(project, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    return calls


def forbid_renders(monkeypatch: Any) -> None:
    """Make any render an upgrade starts fail the test (a cache hit must not render)."""
    from cookiepatcher import project

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("rendered although the render was cached")

    monkeypatch.setattr(project, "render", refuse)
    monkeypatch.setattr(project, "render_plain", refuse)
    monkeypatch.setattr(project, "render_blobs", refuse)


def write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` (creating parents)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def record_of(project: Path) -> dict[str, Any]:
    """The project's ``cookiepatcher.json`` as a dict."""
    return json.loads((project / "cookiepatcher.json").read_text())


# -- fixtures --------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pin HOME, git identity and configuration, and the mirror cache for one test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("COOKIEPATCHER_CACHE_DIR", str(tmp_path / "cp-cache"))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CONFIG_GLOBAL",
                "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE", "XDG_CONFIG_HOME", "COOKIECUTTER_CONFIG",
                "COOKIEPATCHER_RENDER"):
        monkeypatch.delenv(var, raising=False)
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = tester\n\temail = tester@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
        "[core]\n\tautocrlf = false\n"
        "[advice]\n\tdetachedHead = false\n"
        "[protocol \"file\"]\n\tallow = always\n"
        "[gc]\n\tauto = 0\n"
    )
    return home


@pytest.fixture(name="make_template")
def make_template_fixture() -> Callable[..., Template]:
    """:func:`make_template` (call it as ``make_template(tmp_path, versions, ...)``)."""
    return make_template


@pytest.fixture(name="generate")
def generate_fixture() -> Callable[..., Path]:
    """:func:`generate` (call it as ``generate(template, ref, answers)``)."""
    return generate
