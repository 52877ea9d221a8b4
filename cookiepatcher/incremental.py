"""Render only what a template change can affect.

A file whose source, path template and inputs did not change renders to the same bytes
at both commits; both sides of the merge would hold the same entry, so the merge keeps
the project's version whatever it is. Such files can be left out of *both* renders
without changing the merge result. This module decides when that shortcut is exact and
which template files must be rendered; everything else falls back to full renders.

The shortcut is taken only when all of these hold (else :func:`plan` returns ``None``):

* the answers are the same on both sides (no ``--set``; ``cookiecutter.json`` unchanged,
  so no new questions or changed defaults) and the template subfolder did not move;
* every changed path is inside the project template folder (``{{cookiecutter.x}}/``):
  hooks, extensions, ``cookiecutter.json`` and the ``templates/`` include folder unchanged;
* the template has no hooks at either commit (a hook may read or remove any file);
* no template file uses ``{% include %}``, ``{% import %}``, ``{% from %}`` or
  ``{% extends %}`` at either commit (a changed include changes its includers);
* the project template holds no symlinks (a link's render follows its target);
* no folder of the project template disappears (git's directory-rename detection
  looks at whole folders, so a vanished folder needs every file in the merge).
"""
from __future__ import annotations

import posixpath
from pathlib import Path

from cookiepatcher import git

_INCLUDE_RE = r"\{%-?[[:space:]]*(include|import|from|extends)[[:space:]]"


def _project_template_dir(repo: Path, sha: str, directory: str) -> str | None:
    """The project template folder (cookiecutter's ``find_template`` rule) at ``sha``."""
    spec = f"{sha}:{directory}" if directory else f"{sha}:"
    names = git.run(["ls-tree", "--name-only", "-z", spec], repo, check=False).stdout.split(b"\0")
    for raw in names:
        name = raw.decode("utf-8", "surrogateescape")
        if "cookiecutter" in name and "{{" in name and "}}" in name:
            return name
    return None


def plan(repo: Path, base: str, target: str, directory: str | None, *, same_answers: bool) -> tuple[str, list[str]] | None:
    """Template-repository paths to render for an incremental upgrade, or ``None`` for full renders.

    Args:
        repo: the template repository (local or mirror).
        base / target: the recorded and target commits.
        directory: template subfolder holding ``cookiecutter.json`` (same at both commits).
        same_answers: both renders use the same answers.

    Returns:
        ``(project_template_folder, paths)``: the folder (repository-relative, ending in
        ``/``) and the paths to render at each commit where present
        (``cookiecutter.json`` plus every changed source file).
    """
    if not same_answers:
        return None
    prefix = f"{directory.strip('/')}/" if directory else ""
    proj = _project_template_dir(repo, base, prefix.rstrip("/"))
    if proj is None or proj != _project_template_dir(repo, target, prefix.rstrip("/")):
        return None
    root = prefix + proj + "/"
    for sha in (base, target):
        hooks = git.run(["ls-tree", "--name-only", f"{sha}:{prefix}hooks"], repo, check=False)
        if hooks.returncode == 0 and hooks.stdout.strip():
            return None
    for sha in (base, target):
        listing = git.run(["ls-tree", "-r", sha, "--", root], repo).stdout
        if listing.startswith(b"120000 ") or b"\n120000 " in listing:
            return None
    raw = git.run(["diff-tree", "-r", "-z", "--no-renames", "--name-status", base, target], repo).stdout.split(b"\0")
    changed: list[str] = []
    deleted: list[str] = []
    for status, path in zip(raw[0::2], raw[1::2]):
        p = path.decode("utf-8", "surrogateescape")
        if not p.startswith(root):
            return None
        changed.append(p)
        if status == b"D":
            deleted.append(p)
    for sha in (base, target):
        grep = git.run(["grep", "-l", "-E", "-I", _INCLUDE_RE, sha, "--", root], repo, check=False)
        if grep.returncode == 0:
            return None
    for p in deleted:
        parent = posixpath.dirname(p)
        while parent + "/" != root and parent:
            alive = git.run(["ls-tree", "--name-only", f"{target}:{parent}"], repo, check=False)
            if alive.returncode != 0 or not alive.stdout.strip():
                return None
            parent = posixpath.dirname(parent)
    return root, [prefix + "cookiecutter.json", *changed]
