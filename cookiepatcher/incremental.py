"""Render only what a template change can affect.

A file whose source, path template and inputs did not change renders to the same bytes
at both commits; both sides of the merge would hold the same entry, so the merge keeps
the project's version whatever it is. Such files can be left out of *both* renders
without changing the merge result. This module decides when that shortcut is exact and
which template files must be rendered; everything else falls back to full renders.

The shortcut is taken only when all of these hold (else :func:`plan` returns ``None``):

* the answers are the same on both sides (no ``--set``; ``cookiecutter.json`` unchanged,
  so no new questions or changed defaults) and the template subfolder did not move; a
  change of followed ref is allowed when no file reads ``_checkout`` or the whole context;
* every changed path is inside the project template folder (``{{cookiecutter.x}}/``):
  hooks, extensions, ``cookiecutter.json`` and the ``templates/`` include folder unchanged;
* the template has no hooks at either commit (a hook may read or remove any file);
* no template file uses ``{% include %}``, ``{% import %}``, ``{% from %}`` or
  ``{% extends %}`` at either commit (a changed include changes its includers);
* the project template holds no symlinks (a link's render follows its target);
* no folder of the project template disappears (git's directory-rename detection
  looks at whole folders, so a vanished folder needs every file in the merge).

After the partial renders, :func:`pairs_like_full` checks the project side: the files
left out look "added by the project" to git, which is harmless unless git could pair
them in a rename (the user deleted or moved a changed file, or a whole folder). When it
could, the update falls back to full renders.
"""
from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cookiepatcher import git

# What a template file may read, as one ERE for `git grep -o`; each match is classified
# by :data:`_KINDS`. "context" is the whole context, which includes every private value:
# ``cookiecutter`` not followed by ``.name`` (``{{ cookiecutter | jsonify }}``,
# ``cookiecutter['_' ~ 'x']``, a line break), or followed by a dict method or a dunder
# (``cookiecutter .items()``, ``cookiecutter.copy()``, ``cookiecutter.__getitem__(...)``).
_DICT_METHODS = "items|keys|values|get|copy|pop|popitem|setdefault|update|fromkeys|clear"
_SCAN_RE = (r"\{%-?[[:space:]]*(include|import|from|extends)[[:space:]]|_checkout|_output_dir"
            r"|cookiecutter[[:space:]]*([^.[:alnum:]_[:space:]]|$)"
            rf"|cookiecutter[[:space:]]*\.[[:space:]]*({_DICT_METHODS}|__[[:alnum:]_]*)([^[:alnum:]_]|$)")
_KINDS = (("include", re.compile(r"\{%")), ("_checkout", re.compile("_checkout")), ("_output_dir", re.compile("_output_dir")),
          ("context", re.compile("cookiecutter")))
_PATH_RE = re.compile(rf"(_checkout|_output_dir)|cookiecutter\s*([^.\w\s]|$)|cookiecutter\s*\.\s*({_DICT_METHODS}|__\w*)(\W|$)")


@dataclass
class Plan:
    """What to render for an incremental upgrade.

    Attributes:
        root: the project template folder, repository-relative, ending in ``/``.
        base_paths / target_paths: repository-relative paths to extract and render at
            the base and target commits (``cookiecutter.json`` plus the changed files
            present at that commit).
        new_folders: folders the target adds, relative to the project (names without
            Jinja only, so they are the rendered names too).
    """

    root: str
    base_paths: list[str]
    target_paths: list[str]
    new_folders: frozenset[str] = frozenset()


def _folders(paths) -> set[str]:
    """Every folder holding one of ``paths``, at any depth (posix, no trailing ``/``)."""
    out: set[str] = set()
    for p in paths:
        d = posixpath.dirname(p)
        while d and d not in out:
            out.add(d)
            d = posixpath.dirname(d)
    return out


# listings read so far (a commit never changes: scan, plan and the renders all read the
# two commits of an upgrade); beyond _TREES_KEPT, the oldest are dropped
_TREES: dict[tuple[Path, str], Mapping[str, tuple[str, str]]] = {}
_TREES_KEPT = 16


def _trees(repo: Path, shas: list[str]) -> list[Mapping[str, tuple[str, str]]]:
    """``{path: (mode, object sha)}`` of every file (and submodule) at each commit of
    ``shas``, in git's order (:func:`cookiepatcher.git.ls_trees`: those not read before,
    side by side; read-only, as every caller shares them)."""
    missing = [sha for sha in dict.fromkeys(shas) if (repo, sha) not in _TREES]
    found = dict(zip(missing, git.ls_trees(repo, missing)))
    out = [_TREES[(repo, sha)] if sha not in found else MappingProxyType(found[sha]) for sha in shas]
    for sha, listing in zip(shas, out):
        _TREES[(repo, sha)] = listing
    while len(_TREES) > _TREES_KEPT:
        del _TREES[next(iter(_TREES))]
    return out


def commit_files(repo: Path, sha: str) -> Mapping[str, tuple[str, str]]:
    """:func:`_trees` of one commit."""
    return _trees(repo, [sha])[0]


@functools.lru_cache(maxsize=8)
def _listing(repo: Path, sha: str, prefix: str) -> Mapping[str, str]:
    """``{path: mode}`` of every file below ``prefix`` at commit ``sha`` (from :func:`commit_files`)."""
    return MappingProxyType({p: mode for p, (mode, _obj) in commit_files(repo, sha).items() if p.startswith(prefix)})


def _changed(repo: Path, base: str, target: str) -> list[str]:
    """Paths whose mode or content differ between two commits, or that only one has, in
    git's order: what ``git diff-tree -r --no-renames --name-only`` lists, from the two
    listings :func:`commit_files` already holds. (Sorting whole paths by their bytes is git's
    tree order: a folder sorts as its name plus ``/``, the start of its paths.)"""
    old, new = commit_files(repo, base), commit_files(repo, target)
    changed = {p for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
    return sorted(changed, key=lambda p: p.encode("utf-8", "surrogateescape"))


#: above this many files (or bytes of their paths) of another commit to read, its grep
#: reads the whole commit (the paths go on git's command line)
_MAX_GREP_PATHS = 1000
_MAX_GREP_PATH_BYTES = 64 * 1024


def template_prefix(directory: str | None) -> str:
    """The repository-relative prefix of a template subfolder: ``""`` or ``"sub/"``
    (``./sub``, ``sub/`` and ``.//sub`` alike, as git resolves ``SHA:./sub/...``)."""
    folder = posixpath.normpath(directory.strip("/")) if directory else "."
    return "" if folder == "." else folder + "/"


def _grep_matches(raw: bytes) -> dict[str, set[str]]:
    """``{path: kinds}`` from ``git grep -o -z`` output of one commit: records are
    "<sha>:<path>\\0<match>\\n" (a path holds no NUL but may hold a line break, a match
    no line break but may hold a NUL)."""
    out: dict[str, set[str]] = {}
    pos = 0
    while pos < len(raw):
        nul = raw.find(b"\0", pos)
        end = raw.find(b"\n", nul + 1) if nul >= 0 else -1
        if nul < 0 or end < 0:
            break
        path = raw[pos:nul].split(b":", 1)[1].decode("utf-8", "surrogateescape")
        text = raw[nul + 1:end].decode("utf-8", "replace")
        if text:
            out.setdefault(path, set()).add(next(kind for kind, pattern in _KINDS if pattern.search(text)))
        pos = end + 1
    return out


def scan(repo: Path, shas: list[str], directory: str | None) -> dict[str, set[str]]:
    """What the template files below ``directory`` may read, at each of ``shas``:
    ``"include"`` (``{% include %}``, ``import``, ``from``, ``extends``) and the context
    values ``"_checkout"``, ``"_output_dir"`` and ``"context"`` (the whole context),
    named in a file's text or path. Errs towards reading: a mention in a comment counts.

    One ``git grep -o`` reads every file of the last commit; the other commits' greps
    (side by side) read only their files whose content the last commit does not have at
    the same path (a file with the same blob reads the same). One ``git ls-tree`` each.
    """
    prefix = template_prefix(directory)
    found: dict[str, set[str]] = {sha: set() for sha in shas}
    if not shas:
        return found
    unique = list(dict.fromkeys(shas))
    full = unique[-1]
    trees = dict(zip(unique, _trees(repo, unique)))
    last = trees[full]
    # (paths grepped for a commit; None = all of its files). A path's result is reused
    # only for the same blob with the same mode: git grep reads no symlink, and a
    # symlink's target can be the same blob as a file's text.
    own: dict[str, list[str] | None] = {full: None}
    for sha in unique[:-1]:
        differing = [p for p, entry in trees[sha].items() if p.startswith(prefix) and last.get(p) != entry]
        size = sum(len(p.encode("utf-8", "surrogateescape")) + 1 for p in differing)
        own[sha] = differing if len(differing) <= _MAX_GREP_PATHS and size <= _MAX_GREP_PATH_BYTES else None
    # every file, binary ones too (-a): cookiecutter decides what it renders by its own test
    started = [(sha, git.start(["grep", "--no-color", "-a", "-o", "-z", "-E", _SCAN_RE, sha, "--",
                                *(paths if paths is not None else [prefix or "."])], repo, env=git.LITERAL_PATHSPECS))
               for sha, paths in own.items() if paths is None or paths]
    matches = {sha: _grep_matches(proc.wait(ok_codes=(0, 1)).stdout) for sha, proc in started}
    for sha in unique:
        grepped = own[sha]
        mine, lasts = matches.get(sha, {}), matches.get(full, {})
        for path, entry in trees[sha].items():
            if not path.startswith(prefix):
                continue
            read_here = grepped is None or last.get(path) != entry
            found[sha] |= (mine if read_here else lasts).get(path, set())
            m = _PATH_RE.search(path)
            if m:
                found[sha].add(m.group(1) or "context")
    return found


def _project_template_dir(listing: dict[str, str], prefix: str) -> str | None:
    """The project template folder by cookiecutter's ``find_template`` rule (``None`` if
    missing or ambiguous)."""
    names = {p[len(prefix):].split("/", 1)[0] for p in listing if "/" in p[len(prefix):]}
    found = [n for n in names if "cookiecutter" in n and "{{" in n and "}}" in n]
    return found[0] if len(found) == 1 else None


def plan(repo: Path, base: str, target: str, directory: str | None, *, same_answers: bool,
         checkout_changed: bool = False, reads: dict[str, set[str]] | None = None) -> Plan | None:
    """Template files to render for an incremental upgrade, or ``None`` for full renders.

    Args:
        repo: the template repository (local or mirror).
        base / target: the recorded and target commits.
        directory: template subfolder holding ``cookiecutter.json`` (same at both commits).
        same_answers: both renders use the same answers.
        checkout_changed: the followed ref (cookiecutter's ``_checkout``) differs between
            the renders; exact only if no template file reads it.
        reads: :func:`scan` of both commits, when the caller has it.
    """
    if not same_answers:
        return None
    prefix = template_prefix(directory)
    base_files, target_files = _listing(repo, base, prefix), _listing(repo, target, prefix)
    proj = _project_template_dir(base_files, prefix)
    if proj is None or proj != _project_template_dir(target_files, prefix):
        return None
    root = prefix + proj + "/"
    for files in (base_files, target_files):
        # hooks run on every render; `hooks` may also be a symlink to shared scripts
        if any(p == prefix + "hooks" or p.startswith(prefix + "hooks/") for p in files):
            return None
        if any(mode == "120000" and p.startswith(root) for p, mode in files.items()):
            return None
    changed = _changed(repo, base, target)
    if any(not p.startswith(root) for p in changed):
        return None
    reads = reads if reads is not None else scan(repo, [base, target], directory)
    blocking = {"include", "_checkout", "context"} if checkout_changed else {"include"}
    if blocking & (reads[base] | reads[target]):
        return None
    for p in changed:
        if p in target_files:
            continue
        parent = posixpath.dirname(p)  # a deleted file's folders must still hold something
        while parent + "/" != root and parent:
            if not any(q.startswith(parent + "/") for q in target_files):
                return None
            parent = posixpath.dirname(parent)
    # A folder that loses a file keeps one file rendered on both sides, so it does not
    # look emptied to git's directory-rename detection (which only considers folders
    # with nothing left on a side). One file anywhere below it is enough: a changed file
    # still there, or else the first unchanged one (the same bytes at both commits).
    changed_set = set(changed)
    gone = {posixpath.dirname(p) + "/" for p in changed if p not in target_files}
    siblings: list[str] = []
    for folder in sorted(gone):
        below = sorted(q for q in target_files if q.startswith(folder))
        if below and not any(q in changed_set for q in below):
            siblings.append(below[0])
    base_dirs = _folders(base_files)
    new_folders = frozenset(posixpath.dirname(p)[len(root):] for p in changed
                            if p in target_files and posixpath.dirname(p) not in base_dirs
                            and "{" not in posixpath.dirname(p)[len(root):])
    cc = prefix + "cookiecutter.json"
    return Plan(root=root, base_paths=[cc, *(p for p in changed if p in base_files), *siblings],
                target_paths=[cc, *(p for p in changed if p in target_files), *siblings], new_folders=new_folders)


def pairs_like_full(base: dict[str, tuple[str, str]], theirs: dict[str, tuple[str, str]], ours: set[str],
                    new_folders: frozenset[str] = frozenset()) -> bool:
    """Whether a merge over partial renders pairs files as the full renders would.

    Args:
        base / theirs: entries of the partial renders (paths relative to the project).
        ours: the project's paths.
        new_folders: folders the template adds (:attr:`Plan.new_folders`): nothing of the
            base lives there, so no rename can involve them.

    With partial renders, unchanged template files are missing from the base, so git
    treats them as added by the project. That changes nothing unless git looks for
    renames on the project side, which needs a base path gone from the project (the
    user deleted or moved a changed file), a template addition at a path the project
    already has, or a whole folder gone on one side (directory-rename detection).
    Returns False in those cases; the caller then renders everything.
    """
    from cookiepatcher.record import RECORD_FILE

    if any(p not in ours for p in base if p != RECORD_FILE):
        return False
    ours_folders, theirs_folders = _folders(ours), _folders(theirs)
    for p in theirs:
        if p not in base and (p in ours or posixpath.dirname(p) not in ours_folders | new_folders | {""}):
            return False
    return all(p in theirs or posixpath.dirname(p) in theirs_folders | {""} for p in base)
