"""Locating a generated project inside its git repository, and rendering its template.

Shared by update, check, diff and link.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Any

from cookiepatcher import git, rendercache
from cookiepatcher.answers import resolve_answers
from cookiepatcher.errors import RefusedError, TemplateError
from cookiepatcher.merge import Entries, RepoAttributes, render_entries
from cookiepatcher.plainrender import render_blobs, render_plain
from cookiepatcher.render import Rendered, check_symlinks, render
from cookiepatcher.source import TemplateSource


@dataclass
class Project:
    """A project folder in a git repository.

    Attributes:
        folder: absolute project folder (holds ``cookiepatcher.json``).
        root: the repository's work tree root.
        prefix: ``folder`` relative to ``root``, posix, ``""`` or ending in ``/``.
        head / head_tree: shas of HEAD and its tree (``""`` before the first commit).
    """

    folder: Path
    root: Path
    prefix: str
    head: str
    head_tree: str = ""


def locate(folder: Path, *, need_commit: bool = True) -> Project:
    """Find the repository around ``folder``.

    Raises:
        RefusedError: ``folder`` is not in a git work tree, or HEAD has no commit yet.
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise RefusedError(f"{folder} is not a folder; pass the project folder with --project-dir")
    found = git.locate_repo(folder)
    if found is None:
        ignored = " and ".join(sorted(git.IGNORED_ENV))
        raise RefusedError(f"{folder} is not in a git repository; run `git init` and commit the project first"
                           + (f" ({ignored} in the environment: ignored, the repository is found from the folder)"
                              if ignored else ""))
    root, head, head_tree = found[0].resolve(), found[1], found[2]
    rel = folder.relative_to(root).as_posix()
    prefix = "" if rel == "." else rel + "/"
    if head is None and need_commit:
        raise RefusedError("the project has no commit yet; commit it first (`git add -A && git commit`)")
    return Project(folder=folder, root=root, prefix=prefix, head=head or "", head_tree=head_tree or "")


def worktree_tree(project: Project, scratch: Path, also: list[str] = ()) -> str:
    """Tree of HEAD with the project folder as it is on disk (tracked and untracked files;
    ignored files left out except those named in ``also``, project-relative paths);
    nothing in the repository's own index changes."""
    index = scratch / "index-worktree"
    index.unlink(missing_ok=True)
    env = {"GIT_INDEX_FILE": str(index)}
    if project.head:
        git.run(["read-tree", project.head], project.root, env=env)
    git.run(["add", "-A", "--", project.prefix or "."], project.root, env=env)
    present = [project.prefix + p for p in also if (project.folder / p).is_file() or (project.folder / p).is_symlink()]
    if present:  # template files the project ignores (.env, ...) still count when present
        data = "".join(p + "\0" for p in present).encode("utf-8", "surrogateescape")
        git.run(["add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul"], project.root, env=env, input=data)
    return git.out(["write-tree"], project.root, env=env)


def worktree_entries(project: Project, scratch: Path) -> Entries:
    """Entries of the project folder as it is on disk, paths relative to the folder."""
    entries = git.ls_tree(project.root, worktree_tree(project, scratch))
    return {p[len(project.prefix):]: e for p, e in entries.items() if p.startswith(project.prefix)}


def template_folder(source: TemplateSource, sha: str, directory: str | None, scratch: Path, what: str,
                    only: tuple[str, list[str]] | None = None,
                    way_out: str = "pass the new location with --directory") -> Path:
    """Extract the template at ``sha`` and return the folder holding its cookiecutter.json.

    ``only`` = ``(project_template_folder, paths)`` from :func:`cookiepatcher.incremental.plan`
    extracts just those paths (an incremental render).

    ``way_out``: what the error for a missing ``cookiecutter.json`` tells the user to do
    (an upgrade's template may have moved it; elsewhere the folder may be misspelt).

    Raises:
        TemplateError: the subfolder (``directory``) has no cookiecutter.json at ``sha``.
    """
    if not source.has_path(sha, directory):
        where = f"folder '{directory}'" if directory else "repository root"
        raise TemplateError(f"the template's {where} has no cookiecutter.json at {what} ({sha[:12]}); {way_out}")
    # incremental renders (no hooks, no symlinks; their _repo_dir is given) read shared,
    # cached files; full renders get their own copy, at one path for every render (it
    # shows up as _repo_dir)
    dest = rendercache.template_tree(source, sha, only) if only else None
    if dest is None:
        dest = scratch / "template"
        if dest.exists():
            shutil.rmtree(dest)
        source.extract(sha, dest, only[1] if only else None)
        if only:
            (dest / only[0]).mkdir(parents=True, exist_ok=True)
    check_symlinks(dest, "template has", "the template")
    if not directory:
        return dest
    folder = (dest / directory).resolve()
    if not folder.is_relative_to(dest.resolve()):
        raise RefusedError(f"--directory {directory} points outside the template repository")
    return folder


def render_at(repo: Path, source: TemplateSource, sha: str, directory: str | None, answers: dict[str, Any], scratch: Path, *,
              checkout: str | None, what: str, ask=None, decided: dict[str, Any] | None = None,
              only: tuple[str, list[str]] | None = None, output_dir_value: str | None = None,
              repo_dir_value: str | None = None, answer_flag: str | None = None,
              cache_volatile: str | None = None, repo_fingerprint: str | None = None,
              quick_only: bool = False, attributes: RepoAttributes | None = None,
              present: AbstractSet[str] = frozenset(),
              reads_output_dir: bool | None = None,
              pending: dict[str, bytes] | None = None, verbatim: bool = False,
              object_format: str = "sha1") -> tuple[Rendered, Entries] | None:
    """Render the template at ``sha`` with ``answers`` (kept verbatim) and hash it into ``repo``.

    Every render uses the same template and output paths under ``scratch``, so
    ``_repo_dir`` and ``_output_dir`` are equal in both renders of an upgrade; the render
    folder is replaced by the next call.

    Args:
        output_dir_value: the ``_output_dir`` the template sees (the project's parent folder).
        repo_dir_value: the ``_repo_dir`` the template sees, for renders running side by
            side in different folders (templates without hooks only).
        cache_volatile: use the render cache (:mod:`cookiepatcher.rendercache`; not with
            ``ask``): the run's temporary folder, which a cached render must not contain.
        repo_fingerprint: :func:`cookiepatcher.rendercache.repo_fingerprint` of ``repo``
            when the caller has it (computed here otherwise).
        quick_only: return the cached render, or one made from the template's blobs
            without writing a file (:func:`cookiepatcher.plainrender.render_blobs`), or
            ``None`` without rendering.
        attributes: the project's ``.gitattributes`` (:func:`cookiepatcher.merge.repo_attributes`),
            applied when hashing the render as ``git add`` would.
        present: blob shas known to be in ``repo`` (HEAD's): a cached render need not
            write them again.
        reads_output_dir: whether the template at ``sha`` may read ``_output_dir``
            (:func:`cookiepatcher.rendercache.reads_output_dir`); looked up when ``None``.
        pending: a cached render's blobs are added here (``{sha: bytes}``) instead of
            being written into ``repo``; the caller writes them before they are read
            (:func:`cookiepatcher.rendercache.load`).
        verbatim: ``repo`` stores files as they are
            (:func:`cookiepatcher.rendercache.hashes_verbatim`, and ``attributes`` is
            ``None``): a new render is hashed without git, its blobs added to ``pending``
            (:func:`cookiepatcher.merge.render_entries`).
        object_format: ``repo``'s object format (``"sha1"`` or ``"sha256"``).

    Returns:
        The render (its context; the folder is temporary) and its entries in ``repo``'s
        object database (``None`` only with ``quick_only``, when neither is possible).
    """
    cache_key = None
    if cache_volatile is not None and ask is None and rendercache.enabled():
        # a template that never reads _output_dir renders the same anywhere: a fleet's
        # clones, each in its own folder, share the render
        if reads_output_dir is None:
            reads_output_dir = rendercache.reads_output_dir(rendercache.cached_reads(source.repo, [(sha, directory)])[(sha, directory)])
        cache_key = rendercache.key(template=source.location, commit=sha, directory=directory, answers=answers,
                                    checkout=checkout, output_dir=output_dir_value if reads_output_dir else None, only=only,
                                    repo_dir=None if repo_dir_value is None else "shared",
                                    repo=repo_fingerprint or rendercache.repo_fingerprint(repo), object_format=object_format,
                                    # what the template's checkout writes: its modes follow the umask, and a
                                    # local template's own settings may change its bytes (a mirror's are ours)
                                    umask=git.umask(), template_checkout=source.checkout_fingerprint() if source.url is None else None,
                                    attributes=None if attributes is None else
                                    (attributes[0], {d: hashlib.sha256(b).hexdigest() for d, b in attributes[1].items()}))
        hit = rendercache.load(cache_key, repo, present, pending)
        if hit is not None:
            entries, context, known = hit
            if "_output_dir" in context and output_dir_value is not None:
                context["_output_dir"] = output_dir_value
            if decided is not None:
                decided.update(known)
            return Rendered(project=scratch / "render", context=context), entries
    if only is not None and verbatim and pending is not None:
        # most incremental renders need no file: rendered from the blobs, hashed as they are
        made = render_blobs(source, sha, directory, only[1], answers, template=source.location, checkout=checkout,
                            output_dir=scratch / "render", output_dir_value=output_dir_value,
                            repo_dir_value=repo_dir_value, answer_flag=answer_flag, object_format=object_format)
        if made is not None:
            context, entries, blobs = made
            pending.update(blobs)
            if cache_key is not None:  # (no hooks, no _extensions: render_blobs gave up on those)
                rendercache.store(cache_key, repo, entries, context, {}, volatile=_volatile(cache_volatile), blobs=blobs)
            return Rendered(project=scratch / "render", context=context), entries
    if quick_only:
        return None
    folder = template_folder(source, sha, directory, scratch, what, only)
    out = scratch / "render"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    def prompt(context: dict[str, Any]) -> dict[str, Any]:
        return resolve_answers(context, answers, ask=ask, decided=decided)

    # an incremental render's texts usually need neither Jinja nor cookiecutter
    rendered = render_plain(folder, out, answers, template=source.location, checkout=checkout,
                            output_dir_value=output_dir_value, repo_dir_value=repo_dir_value,
                            answer_flag=answer_flag) if only else None
    if rendered is None:
        rendered = render(folder, out, answers, template=source.location, checkout=checkout, mode="upgrade", prompt=prompt,
                          output_dir_value=output_dir_value, repo_dir_value=repo_dir_value, answer_flag=answer_flag)
    entries = render_entries(repo, rendered.project, attributes, pending=pending if verbatim else None,
                             object_format=object_format)
    if cache_key is not None and rendercache.cacheable_template(folder, rendered.context):
        rendercache.store(cache_key, repo, entries, rendered.context, dict(decided or {}), volatile=_volatile(cache_volatile),
                          folder=rendered.project)
    return rendered, entries


def _volatile(scratch: str) -> tuple[str, ...]:
    """The run's temporary folder as given and resolved: a render holding it is not kept."""
    return tuple({scratch, os.path.realpath(scratch)})
