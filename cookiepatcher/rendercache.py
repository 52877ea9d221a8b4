"""Renders kept across runs, keyed by template commit and answers.

An upgrade render is a pure function of its inputs: the template commit, the answers,
the values cookiecutter puts in the context (``_template``, ``_checkout``,
``_output_dir``, ``_repo_dir``), the files asked for (incremental renders), and the
versions of cookiecutter and cookiepatcher (upgrade renders are seeded and their clock
frozen, see :mod:`cookiepatcher.render`). So ``update --dry-run`` followed by ``update``
renders once, and with full renders the base render of the next upgrade is the target
render of the previous one.

Layout under ``<cache>/renders/``::

    index/<key[:2]>/<key>.render  one file per render: a JSON line {"entries": {path: [mode, sha]},
                                  "context": {...}, "decided": {...}, "blobs": [[sha, size], ...]},
                                  then the bytes of those blobs, as git stores them, one after another
    trees/<key[:2]>/<key>/        template files extracted for incremental renders (:func:`template_tree`)
    plans/<key[:2]>/<key>.json    the incremental plan for a pair of commits (:func:`cached_plan`),
                                  or what a commit's files may read (:func:`cached_reads`)

One file per render keeps the number of files written small (a fleet writes a render
or two per repository). The blobs are written back into a project's object database
with one ``git fast-import`` (the bytes are stored as they are, so the ids match); an
update instead hands them to the ``git fast-import`` that writes its merge inputs
(:func:`load`'s ``pending``). Anything unreadable or not matching its id counts as a
miss, and the render runs. ``COOKIEPATCHER_RENDER_CACHE=0`` turns the cache off.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import AbstractSet, Any, Mapping

from cookiepatcher import git
from cookiepatcher.merge import Entries

ENV = "COOKIEPATCHER_RENDER_CACHE"
_FORMAT = 2


def enabled() -> bool:
    """False when ``$COOKIEPATCHER_RENDER_CACHE`` is ``0`` (or no cache folder can be named)."""
    return os.environ.get(ENV, "1") != "0"


def _root() -> Path:
    from cookiepatcher.source import cache_dir

    return cache_dir() / "renders"


#: the modules whose code decides what a render produces
_RENDER_CODE = ("render.py", "answers.py", "project.py", "incremental.py", "merge.py", "rendercache.py")


#: cookiecutter's modules that decide what a render produces
_COOKIECUTTER_CODE = ("generate.py", "environment.py", "extensions.py", "hooks.py", "prompt.py", "utils.py", "VERSION.txt")


@functools.cache  # the code does not change while this process runs
def _code_digest() -> str:
    """sha256 of the rendering code itself, cookiepatcher's and cookiecutter's: any
    change to it (a new release, or a developer's edit) starts a new cache. Read from
    the files, so cookiecutter need not be imported when every render is cached."""
    import importlib.util

    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _RENDER_CODE:
        digest.update((here / name).read_bytes())
    spec = importlib.util.find_spec("cookiecutter")
    folder = Path(spec.origin).parent if spec and spec.origin else None
    for name in _COOKIECUTTER_CODE:
        try:
            digest.update((folder / name).read_bytes() if folder else b"-")
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()


def repo_fingerprint(repo: Path, config: list[tuple[str, str]] | None = None) -> str:
    """What, besides a render's bytes, decides the blobs ``git add`` makes of it in
    ``repo`` (:func:`cookiepatcher.merge.render_entries` hashes with the repository's
    configuration): its ``core.*`` and ``filter.*`` settings (``autocrlf``, ``eol``,
    clean filters, ...), its ``info/attributes`` and the user's attributes file.
    Part of every cache key, so repositories configured differently never share renders.
    ``config``: :func:`cookiepatcher.git.config_values` of at least those keys, when the
    caller has it.
    """
    if config is None:
        config = git.config_values(repo, r"^(core|filter)\.")
    settings = [(k, v) for k, v in config if k.startswith(("core.", "filter."))]
    parts = [json.dumps(settings).encode("utf-8", "surrogateescape")]
    for path in _attribute_files(repo, settings):
        try:
            parts.append(path.read_bytes())
        except OSError:
            parts.append(b"-")
    return hashlib.sha256(b"\0\0".join(parts)).hexdigest()


def _attribute_files(repo: Path, config: list[tuple[str, str]]) -> list[Path]:
    """The attribute files git reads for ``repo`` besides its work tree's (gitattributes(5)):
    ``info/attributes`` and the user's (``core.attributesFile``, else the XDG one)."""
    paths = [git.objects_dir(repo).parent / "info" / "attributes"]
    named = git.config_last(config, "core.attributesfile")
    if named is not None and named.startswith("%(prefix)/"):  # git's installation prefix: git expands it
        expanded = git.run(["config", "--type=path", "--get", "core.attributesfile"], repo, check=False).stdout
        paths.append(Path(os.fsdecode(expanded.strip()) or named))
    elif named is not None:
        paths.append(Path(os.path.expanduser(named)))
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        paths.append(Path(xdg) / "git" / "attributes")
    return paths


def _system_attribute_files() -> list[Path]:
    """Where git's system-wide attributes file may be: ``$(prefix)/etc/gitattributes``, or
    ``/etc/gitattributes`` for a git installed under ``/usr`` (git's Makefile), the
    prefix guessed from where ``git`` is."""
    prefix = Path(os.path.realpath(git._git_exe())).parent.parent
    return [Path("/etc/gitattributes"), prefix / "etc" / "gitattributes"]


def hashes_verbatim(repo: Path, config: list[tuple[str, str]]) -> bool:
    """Whether ``git add`` in ``repo`` stores files as they are, as far as its settings
    tell: ``core.autocrlf`` is off, no attribute file outside the work tree exists
    (:func:`_attribute_files`, the system one unless ``GIT_ATTR_NOSYSTEM``), and paths
    are taken as they are (``core.ignoreCase``, ``core.precomposeUnicode`` and
    ``core.protectHFS`` off). The work tree's own ``.gitattributes`` are the caller's to
    check (:func:`cookiepatcher.merge.repo_attributes`).

    ``config``: :func:`cookiepatcher.git.config_values` of at least the ``core.*`` keys.
    """
    if any(git.config_true(git.config_last(config, k)) for k in ("core.autocrlf", "core.ignorecase", "core.precomposeunicode", "core.protecthfs")):
        return False
    files = _attribute_files(repo, config)
    if not git.config_true(os.environ.get("GIT_ATTR_NOSYSTEM")):
        files += _system_attribute_files()
    return not any(path.exists() for path in files)


def cacheable_template(folder: Path, context: dict[str, Any]) -> bool:
    """Whether renders of the template in ``folder`` (its extracted cookiecutter folder)
    may be kept: not when it has hooks or its own Jinja ``_extensions``, whose code can
    read the environment, the clock or the network, so a render is not a function of the
    key alone."""
    hooks = folder / "hooks"
    if hooks.is_dir() and any(p.name.split(".", 1)[0] in ("pre_prompt", "pre_gen_project", "post_gen_project")
                              for p in hooks.iterdir()):
        return False
    return not context.get("_extensions")


def key(**parts: Any) -> str:
    """A cache key (hex sha256) for the render inputs ``parts`` (JSON-able values), with
    a digest of the rendering code (:func:`_code_digest`) added."""
    data = {"format": _FORMAT, "code": _code_digest(), **parts}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=repr).encode()).hexdigest()


def load(cache_key: str, repo: Path, present: AbstractSet[str] = frozenset(),
         pending: dict[str, bytes] | None = None) -> tuple[Entries, dict[str, Any], dict[str, Any]] | None:
    """The cached render ``cache_key``, its blobs written into ``repo``'s object database
    (except those in ``present``: shas known to be there, e.g. the blobs of HEAD's tree;
    a base render mostly consists of them, so often nothing needs writing).

    Args:
        pending: when given, the blobs are not written: their bytes are added to it
            (``{sha: bytes}``), and the caller writes them before anything reads them
            (``git fast-import``: :func:`cookiepatcher.merge.merge_renders`).

    Returns ``(entries, context, decided)`` or ``None`` (a miss: not cached, unreadable,
    or a blob not matching its sha).
    """
    if not enabled():
        return None
    try:
        raw = (_root() / "index" / cache_key[:2] / f"{cache_key}.render").read_bytes()
        end = raw.index(b"\n")
        data = json.loads(raw[:end])
        entries = {path: (mode, sha) for path, (mode, sha) in data["entries"].items()}
        context, decided = dict(data["context"]), dict(data["decided"])
        found: dict[str, bytes] = {}
        pos = end + 1
        for sha, size in data["blobs"]:
            body = raw[pos:pos + size]
            pos += size
            if sha not in present:
                if len(body) != size or blob_sha(body, len(sha)) != sha:
                    return None
                found[sha] = body
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(sha in found or sha in present for mode, sha in entries.values() if mode != "160000"):
        return None
    if pending is not None:
        pending.update(found)
    elif found:
        try:
            git.write_blobs(repo, list(found.values()))
        except git.GitError:
            return None
    return entries, context, decided


def _blobs_from_files(folder: Path, entries: Entries, shas: list[str]) -> dict[str, bytes]:
    """``{sha: bytes}`` for the blobs in ``shas`` whose file below ``folder`` (a symlink's
    target, for mode 120000) holds exactly those bytes."""
    wanted = set(shas)
    found: dict[str, bytes] = {}
    for path, (mode, sha) in entries.items():
        if sha not in wanted or sha in found or mode == "160000":
            continue
        try:
            target = folder / path
            data = os.fsencode(os.readlink(target)) if mode == "120000" else target.read_bytes()
        except OSError:
            continue
        if blob_sha(data, len(sha)) == sha:
            found[sha] = data
    return found


def id_length(object_format: str) -> int:
    """Hex digits of an object id in a repository of ``object_format`` (``"sha1"``: 40,
    ``"sha256"``: 64), as :func:`blob_sha` takes it."""
    return 64 if object_format == "sha256" else 40


def blob_sha(data: bytes, hex_length: int = 40) -> str:
    """The git object id of a blob holding ``data`` (what ``git hash-object --no-filters``
    prints): sha1 for a 40-digit id, sha256 for a 64-digit one (``extensions.objectFormat``)."""
    digest = hashlib.sha1 if hex_length == 40 else hashlib.sha256
    return digest(b"blob %d\0" % len(data) + data).hexdigest()


def store(cache_key: str, repo: Path, entries: Entries, context: dict[str, Any], decided: dict[str, Any], *,
          volatile: tuple[str, ...], folder: Path | None = None, blobs: Mapping[str, bytes] | None = None) -> None:
    """Keep a finished render: its entries, context and new-question answers, and the
    bytes of its blobs: from ``blobs`` (``{sha: bytes}``) when the caller has them, read
    from the rendered ``folder`` where a file's bytes are its blob (no attribute or
    filter changed them when it was hashed), else from ``repo`` with one
    ``git cat-file --batch``.

    ``volatile`` holds this run's temporary folder, as given and resolved (part of the
    ``_repo_dir`` the template saw): a render whose files contain one of them depends on
    more than the key, and is not kept.
    Never fails the caller: a cache that cannot be written is skipped.
    """
    if not enabled():
        return
    shas = sorted({sha for mode, sha in entries.values() if mode != "160000"})
    try:
        found = {sha: blobs[sha] for sha in shas if sha in blobs} if blobs is not None else {}
        if folder is not None:
            found.update(_blobs_from_files(folder, entries, [sha for sha in shas if sha not in found]))
        rest = [sha for sha in shas if sha not in found]
        if rest:
            found.update(git.read_blobs(repo, rest))
        marks = [v.encode("utf-8", "surrogateescape") for v in volatile]
        if len(found) != len(shas) or any(m in body for body in found.values() for m in marks):
            return
        header = json.dumps({"entries": entries, "context": context, "decided": decided,
                             "blobs": [[sha, len(found[sha])] for sha in shas]}, sort_keys=True)
    except (TypeError, ValueError):  # answers that JSON cannot hold: do not cache
        return
    except (OSError, git.GitError):
        return
    try:
        _write_atomic(_root() / "index" / cache_key[:2] / f"{cache_key}.render",
                      b"".join([header.encode("utf-8"), b"\n", *(found[sha] for sha in shas)]))
    except OSError:
        return


def cached_plan(repo: Path, base: str, target: str, directory: str | None, *,
                reads: dict[str, set[str]] | None = None, **flags: bool) -> Any:
    """:func:`cookiepatcher.incremental.plan`, remembered: its inputs are two commits
    (immutable), the subfolder and flags, so its answer never changes. Saves four git
    processes per upgrade once known."""
    from cookiepatcher import incremental

    plan_key = key(kind="plan", base=base, target=target, directory=directory, flags=flags)
    path = _root() / "plans" / plan_key[:2] / f"{plan_key}.json" if enabled() else None
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data is None:
                return None
            return incremental.Plan(root=data["root"], base_paths=list(data["base_paths"]),
                                    target_paths=list(data["target_paths"]), new_folders=frozenset(data["new_folders"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    found = incremental.plan(repo, base, target, directory, reads=reads, **flags)
    if path is not None:
        data = None if found is None else {"root": found.root, "base_paths": found.base_paths,
                                           "target_paths": found.target_paths, "new_folders": sorted(found.new_folders)}
        try:
            _write_atomic(path, json.dumps(data).encode("utf-8"))
        except OSError:
            pass
    return found


def cached_reads(repo: Path, commits: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], set[str]]:
    """:func:`cookiepatcher.incremental.scan` of each ``(commit, directory)``, remembered
    (a commit never changes): what its files may read. One ``git grep`` per directory
    for the commits not seen before, none once all are known."""
    from cookiepatcher import incremental

    found: dict[tuple[str, str | None], set[str]] = {}
    paths: dict[tuple[str, str | None], Path] = {}
    for sha, directory in dict.fromkeys(commits):
        if enabled():
            memo_key = key(kind="reads", commit=sha, directory=directory)
            paths[(sha, directory)] = path = _root() / "plans" / memo_key[:2] / f"{memo_key}.json"
            try:
                found[(sha, directory)] = set(json.loads(path.read_text(encoding="utf-8")))
                continue
            except (OSError, ValueError, TypeError):
                pass
    missing = [pair for pair in dict.fromkeys(commits) if pair not in found]
    for directory in dict.fromkeys(d for _sha, d in missing):
        shas = [sha for sha, d in missing if d == directory]
        for sha, kinds in incremental.scan(repo, shas, directory).items():
            found[(sha, directory)] = kinds
            if (sha, directory) in paths:
                try:
                    _write_atomic(paths[(sha, directory)], json.dumps(sorted(kinds)).encode("utf-8"))
                except OSError:
                    pass
    return found


def reads_output_dir(kinds: set[str]) -> bool:
    """Whether a template reading ``kinds`` (:func:`cached_reads`) can show ``_output_dir``:
    renders of one that cannot are keyed without it, so clones of different services at
    different paths (a fleet) share them."""
    return bool(kinds & {"_output_dir", "context"})


def _usable_tree(folder: Path, paths: list[str]) -> bool:
    """Whether the cached extraction ``folder`` holds every file of ``paths`` and can be read."""
    return (folder.is_dir() and os.access(folder, os.R_OK | os.X_OK)
            and all(os.path.lexists(folder / p) for p in paths))


def _read_only(folder: Path) -> None:
    """Make the files of an extraction read-only (write bits off, others kept) and its
    folders readable by all, so other users of a shared cache can read it and nothing
    edits it by accident."""
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & 0o555)


def template_tree(source: Any, sha: str, only: tuple[str, list[str]]) -> Path | None:
    """The template files ``only`` (``(project template folder, paths)``, an incremental
    render's, :class:`cookiepatcher.incremental.Plan`) at commit ``sha``, extracted once
    into ``<cache>/renders/trees/<key>/`` and shared by every later render of them: the
    services of a fleet, a repeated upgrade. As cookiecutter keeps its templates in
    ``~/.cookiecutters``, renders only read them (the files are made read-only).
    ``None`` when the cache is off or cannot be used (the caller extracts into its
    scratch folder).

    The key holds what decides the extracted bytes besides the commit: the template
    repository's ``core.*``/``filter.*`` settings and attribute files
    (:func:`repo_fingerprint`: eol conversion, smudge filters such as git-lfs). A copy
    missing a file is extracted again. Concurrent runs each extract into a folder of
    their own and rename it into place; the first rename wins, the others use it.
    """
    if not enabled():
        return None
    root, paths = only
    fingerprint = source.checkout_fingerprint()
    tree_key = key(kind="tree", template=source.location, commit=sha, root=root, paths=sorted(paths), checkout=fingerprint)
    final = _root() / "trees" / tree_key[:2] / tree_key
    if _usable_tree(final, paths):
        return final
    import shutil

    if final.exists():  # damaged (a file is gone): extract again
        shutil.rmtree(final, ignore_errors=True)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    except OSError:
        return None
    try:
        source.extract(sha, tmp, paths)
        (tmp / root).mkdir(parents=True, exist_ok=True)
        _read_only(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another run put it there first
            pass
    except (OSError, git.GitError):
        return None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final if _usable_tree(final, paths) else None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
