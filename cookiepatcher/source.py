"""Template sources: local git repositories and a cache of bare mirrors for remote ones.

A template location is what the user typed: a local path, a git URL, or a cookiecutter
abbreviation (``gh:org/repo``, ``gl:``, ``bb:``; expanded as cookiecutter's
``repository.expand_abbreviations`` does). Remote templates are kept as bare mirrors in
``$COOKIEPATCHER_CACHE_DIR`` (default: the user cache dir, e.g. ``~/.cache/cookiepatcher``),
fetched only when a needed commit or ref is missing (a branch is re-fetched to learn its
latest commit unless ``offline``). A file lock per mirror keeps two processes' fetches
apart; a new mirror is cloned beside its final path and renamed into place, without a
lock (when two processes clone at once, the first rename wins and both use it).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cookiepatcher import git
from cookiepatcher.answers import printable
from cookiepatcher.errors import TemplateError
from cookiepatcher.record import strip_credentials

# cookiecutter's built-in abbreviations (cookiecutter/config.py BUILTIN_ABBREVIATIONS)
ABBREVIATIONS = {
    "gh": "https://github.com/{0}.git",
    "gl": "https://gitlab.com/{0}.git",
    "bb": "https://bitbucket.org/{0}",
}
_URL_RE = re.compile(r"^(git\+)?((https?|ssh|git|file)://|[\w.-]+@[\w.-]+:)")


def expand_abbreviation(template: str, abbreviations: dict[str, str] | None = None) -> str:
    """Expand ``prefix:rest`` abbreviations the way cookiecutter does.

    ``gh:org/repo`` -> ``https://github.com/org/repo.git``. Unknown prefixes and plain
    URLs/paths are returned unchanged.
    """
    table = {**ABBREVIATIONS, **(abbreviations or {})}
    if template in table:
        return table[template]
    prefix, sep, rest = template.partition(":")
    if sep and prefix in table:
        return table[prefix].format(rest)
    return template


def is_remote(location: str) -> bool:
    """True for git URLs (``https://``, ``ssh://``, ``git@host:``, ``file://``, ``git+...``)."""
    return bool(_URL_RE.match(location))


#: name of the stamp file a mirror carries, touched after every fetch or clone
FETCH_STAMP = "cookiepatcher-fetched"
#: environment variable: a Unix time; a mirror fetched at or after it counts as fresh
#: (``cookiepatcher fleet`` sets it, so its many ``pr`` runs fetch each template once)
FETCHED_SINCE_ENV = "COOKIEPATCHER_FETCHED_SINCE"


#: ``$COOKIEPATCHER_CACHE_DIR`` values made absolute when first seen (renders change the
#: working directory, so a relative value must not be resolved again later)
_ABSOLUTE_CACHE_DIRS: dict[str, Path] = {}


def cache_dir() -> Path:
    """Root of the cache: ``$COOKIEPATCHER_CACHE_DIR`` (``~`` expanded; a relative value is
    taken relative to the working directory at its first use) or the user cache dir."""
    env = os.environ.get("COOKIEPATCHER_CACHE_DIR")
    if env:
        if env not in _ABSOLUTE_CACHE_DIRS:
            _ABSOLUTE_CACHE_DIRS[env] = Path(os.path.abspath(os.path.expanduser(env)))
        return _ABSOLUTE_CACHE_DIRS[env]
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cookiepatcher"))


@dataclass
class TemplateSource:
    """A template repository that commits can be resolved and read from.

    Attributes:
        location: the template as the user gave it (credentials removed).
        repo: path of a git repository holding the template's objects (the local
            repository itself, or the bare mirror).
        url: the fetch URL for a remote template, else ``None``.
        offline: never touch the network.
        on_fetch: called (no arguments) before the mirror is cloned or fetched, so the
            caller can use the wait (``update`` loads the render code meanwhile).
    """

    location: str
    repo: Path
    url: str | None = None
    offline: bool = False
    on_fetch: Callable[[], Any] | None = field(default=None, repr=False)
    _fetched: bool = field(default=False, repr=False)
    # answers already looked up by this object: one run sees one state of the template
    _resolved: dict[str | None, str] = field(default_factory=dict, repr=False)
    _commits: set[str] = field(default_factory=set, repr=False)
    _paths: dict[tuple[str, str | None], bool] = field(default_factory=dict, repr=False)
    _checkout_fingerprint: str | None = field(default=None, repr=False)
    _config: list[tuple[str, str]] | None = field(default=None, repr=False)
    _config_started: Callable[[], list[tuple[str, str]]] | None = field(default=None, repr=False)
    _wanted_blobs: list[str] = field(default_factory=list, repr=False)
    _verbatim: bool | None = field(default=None, repr=False)
    _blobs: dict[str, bytes] = field(default_factory=dict, repr=False)
    # lookups asked for by preload(), made with the next git process this object runs
    _queued_commits: list[str] = field(default_factory=list, repr=False)
    _queued_paths: list[tuple[str, str | None]] = field(default_factory=list, repr=False)

    # -- fetching --------------------------------------------------------------------
    def _lock(self) -> Any:
        """filelock's ``FileLock`` on ``<mirror>.lock`` (on POSIX an ``flock``, which a killed
        process releases); imported here to keep ``check`` start-up short."""
        from filelock import FileLock

        return FileLock(str(self.repo) + ".lock")

    def fetch(self, *, missing: bool = False) -> bool:
        """Update the mirror from its URL (no-op for local templates and when offline).

        Args:
            missing: a needed commit or ref is not in the mirror: fetch even when the
                mirror counts as fresh (``$COOKIEPATCHER_FETCHED_SINCE``).

        Returns:
            Whether the mirror may have changed (this call or another process fetched).

        Raises:
            TemplateError: the template cannot be reached.
        """
        if self.url is None or self.offline or self._fetched or (not missing and self._fresh()):
            return False
        with self._lock():
            if not missing and self._fresh():  # fetched by another process while this one waited
                return True
            if self.on_fetch is not None:
                self.on_fetch()
            # a mirror: branches and tags as the template has them now (a moved tag too:
            # `--tags` alone refuses to clobber it, and the fetch then fails on every run)
            proc = git.run(["fetch", "--prune", "--quiet", self.url, "+refs/heads/*:refs/heads/*",
                            "+refs/tags/*:refs/tags/*"], self.repo, check=False)
            if proc.returncode != 0:
                raise TemplateError(f"cannot reach template {self.location}: {_first_error(proc.stderr)}; check the URL and network, or pass --offline to use the cache")
            _mark_fetched(self.repo)
        self._fetched = True
        return True

    def _fresh(self) -> bool:
        """True when the mirror was fetched at or after ``$COOKIEPATCHER_FETCHED_SINCE``
        (a Unix time; unset = never fresh, so every run sees the template's latest)."""
        since = os.environ.get(FETCHED_SINCE_ENV)
        if not since:
            return False
        try:
            return (self.repo / FETCH_STAMP).stat().st_mtime >= float(since)
        except (OSError, ValueError):
            return False

    # -- refs and commits --------------------------------------------------------------
    def _lookup(self, ref: str | None, folders: list[str | None] = ()) -> tuple[str | None, bool]:
        """``(sha or None, fixed)`` for ``ref`` from the local objects, in one git process.

        ``fixed`` is true for refs that never move once cached: tags and commit ids.
        ``folders``: also look up :meth:`has_paths` for them at the found commit.
        """
        names = ["HEAD"] if ref is None else [f"refs/heads/{ref}", f"refs/tags/{ref}", ref]
        specs = [f"{name}^{{commit}}" for name in names]
        for folder in folders:
            specs += [_context_file(name, folder) for name in names]
        found = self._query(specs)
        pick = next((i for i, sha in enumerate(found[:len(names)]) if sha), None)
        if pick is None:
            return None, False
        sha = found[pick]
        for n, folder in enumerate(folders):
            self._paths[(sha, folder)] = found[len(names) * (n + 1) + pick] is not None
        if ref is None or pick == 0:
            return sha, False
        return sha, pick == 1 or bool(re.fullmatch(r"[0-9a-f]{7,64}", ref))

    def resolve(self, ref: str | None, folders: list[str | None] = ()) -> str:
        """Full sha of ``ref`` (branch, tag or commit; ``None`` = the default branch).

        ``folders``: template folders whose :meth:`has_path` answers at the found commit
        are looked up in the same git process.

        A remote branch (or the default branch) is fetched first to learn its latest
        commit, unless offline; tags and commits already in the cache are not fetched.

        The answer is remembered by this object, so one run sees one state of the
        template even if another process fetches meanwhile.

        Raises:
            TemplateError: the ref does not exist in the template.
        """
        if ref in self._resolved:
            return self._resolved[ref]
        sha, fixed = self._lookup(ref, folders)
        if self.url is not None and not self.offline and not fixed and self.fetch(missing=sha is None):
            sha, _fixed = self._lookup(ref, folders)
        if sha is None:
            what = f"ref '{printable(ref)}'" if ref is not None else "default branch"
            raise TemplateError(f"template {self.location} has no {what}; pass an existing branch, tag or commit with --checkout (`cookiepatcher update --checkout REF` also makes it the ref the project follows)")
        self._resolved[ref] = sha
        self._commits.add(sha)
        return sha

    def has_commit(self, sha: str) -> bool:
        """True when commit ``sha`` is in the template (fetching once if it is missing)."""
        if sha in self._commits or self._query([f"{sha}^{{commit}}"])[0] is not None:
            self._commits.add(sha)
            return True
        if not self.fetch(missing=True):  # nothing new to look in
            return False
        found = self._query([f"{sha}^{{commit}}"])[0] is not None
        if found:
            self._commits.add(sha)
        return found

    def preload(self, commits: list[str], paths: list[tuple[str, str | None]]) -> None:
        """Ask for several :meth:`has_commit` and :meth:`has_paths` answers ahead: they are
        looked up in the git process of this object's next lookup (:meth:`resolve`,
        :meth:`has_commit`, :meth:`has_paths`), so those methods then answer from memory.
        Nothing is fetched for them: a commit not found is looked up (and fetched) again by
        :meth:`has_commit`."""
        self._queued_commits += [c for c in commits if c not in self._commits]
        self._queued_paths += [c for c in paths if c not in self._paths]

    def _query(self, specs: list[str]) -> list[str | None]:
        """:func:`cookiepatcher.git.resolve_many` of ``specs``, with the lookups queued by
        :meth:`preload` in the same git process."""
        commits = [c for c in dict.fromkeys(self._queued_commits) if c not in self._commits]
        paths = [c for c in dict.fromkeys(self._queued_paths) if c not in self._paths]
        self._queued_commits, self._queued_paths = [], []
        queued = [f"{sha}^{{commit}}" for sha in commits]
        queued += [_context_file(sha, path) for sha, path in paths]
        found = git.resolve_many(self.repo, queued + list(specs))
        for sha, got in zip(commits, found):
            if got is not None:
                self._commits.add(sha)
        for check, got in zip(paths, found[len(commits):len(queued)]):
            if check[0] in self._commits:  # a missing commit may still arrive with a fetch
                self._paths[check] = got is not None
        return found[len(queued):]

    def is_ancestor(self, older: str, newer: str) -> bool:
        """True when ``older`` is an ancestor of (or equal to) ``newer``."""
        return git.run(["merge-base", "--is-ancestor", older, newer], self.repo, check=False).returncode == 0

    def log(self, from_sha: str, to_sha: str) -> list[tuple[str, str]]:
        """Template commits after ``from_sha`` up to ``to_sha``, oldest first: ``[(sha, subject)]``."""
        text = git.out(["log", "--reverse", "--format=%H%x00%s", f"{from_sha}..{to_sha}"], self.repo)
        return [tuple(line.split("\0", 1)) for line in text.splitlines() if line]  # type: ignore[misc]

    def browse_url(self, sha: str) -> str | None:
        """Web link to commit ``sha`` of a remote template (``None`` for a local one): the
        path GitLab or Bitbucket uses on a host whose name says so, GitHub's (also
        Gitea's) on any other. Never holds credentials; keeps an http(s) port (the web
        server's), drops an ssh one (the web server is not there)."""
        from urllib.parse import urlsplit

        url = (self.url or "").removeprefix("git+")
        scp = re.match(r"^[\w.-]+@([^/:]+):(?!/)(.+)$", url)  # git@host:owner/repo
        if scp:
            netloc, path = scp[1], scp[2]
        else:
            parts = urlsplit(url)
            try:
                port = parts.port if parts.scheme in ("http", "https") else None
            except ValueError:  # not a number
                return None
            if parts.scheme not in ("http", "https", "ssh") or not parts.hostname:
                return None
            netloc, path = f"{parts.hostname}:{port}" if port else parts.hostname, parts.path
        path = path.strip("/").removesuffix(".git")
        if not path:
            return None
        sep = "/-/commit/" if "gitlab" in netloc else "/commits/" if "bitbucket" in netloc else "/commit/"
        return f"https://{netloc}/{path}{sep}{sha}"

    # -- reading trees -----------------------------------------------------------------
    def has_path(self, sha: str, path: str | None) -> bool:
        """True when ``path`` (a folder; ``None`` = root) holds a cookiecutter.json at ``sha``."""
        return self.has_paths([(sha, path)])[0]

    def has_paths(self, checks: list[tuple[str, str | None]]) -> list[bool]:
        """:meth:`has_path` for several ``(sha, folder)`` pairs, in one git process."""
        todo = [c for c in dict.fromkeys(checks) if c not in self._paths]
        if todo:
            specs = [_context_file(sha, path) for sha, path in todo]
            for check, found in zip(todo, self._query(specs)):
                self._paths[check] = found is not None
        return [self._paths[c] for c in checks]

    def read_file(self, sha: str, path: str) -> bytes | None:
        """The bytes of ``path`` (repository-relative) at commit ``sha``; ``None`` if absent."""
        proc = git.run(["cat-file", "blob", f"{sha}:{path}"], self.repo, check=False)
        return proc.stdout if proc.returncode == 0 else None

    @property
    def fetched(self) -> bool:
        """Whether this object cloned or fetched the mirror (nothing of it is cached yet)."""
        return self._fetched

    def start_checkout_config(self) -> None:
        """Start reading what :meth:`checkout_fingerprint` and :meth:`checkout_verbatim`
        need now, beside other git processes (once per object; :meth:`settle` collects
        it when nothing needed it)."""
        if self._config is None and self._config_started is None:
            self._config_started = git.start_config_values(self.repo, r"^(core|filter)\.")

    def settle(self) -> None:
        """Wait for the git process :meth:`start_checkout_config` started, if any."""
        if self._config_started is not None:
            self._checkout_config()

    def _checkout_config(self) -> list[tuple[str, str]]:
        """This repository's ``core.*``/``filter.*`` settings (one git process per object)."""
        self.start_checkout_config()
        if self._config is None and self._config_started is not None:
            self._config, self._config_started = self._config_started(), None
        return self._config or []

    def checkout_fingerprint(self) -> str:
        """What decides the bytes :meth:`extract` writes besides the commit: this
        repository's ``core.*``/``filter.*`` settings and attribute files
        (:func:`cookiepatcher.rendercache.repo_fingerprint`); looked up once per object."""
        if self._checkout_fingerprint is None:
            from cookiepatcher.rendercache import repo_fingerprint

            self._checkout_fingerprint = repo_fingerprint(self.repo, self._checkout_config())
        return self._checkout_fingerprint

    def checkout_verbatim(self, sha: str) -> bool:
        """Whether :meth:`extract` writes the files of ``sha`` as their blobs are: no
        ``.gitattributes`` in the commit, and none of the repository's settings or
        attribute files that change what ``git checkout`` writes
        (:func:`cookiepatcher.rendercache.hashes_verbatim`: ``core.autocrlf``, attribute
        files outside the tree)."""
        from cookiepatcher.incremental import commit_files
        from cookiepatcher.rendercache import hashes_verbatim

        if self._verbatim is None:
            self._verbatim = hashes_verbatim(self.repo, self._checkout_config())
        return self._verbatim and not any(p.rsplit("/", 1)[-1] == ".gitattributes" for p in commit_files(self.repo, sha))

    def want_blobs(self, shas: list[str]) -> None:
        """Read these blobs along with the next ones :meth:`blobs` is asked for (in the
        same git process)."""
        self._wanted_blobs += shas

    def blobs(self, shas: list[str], max_size: int | None = None) -> dict[str, bytes]:
        """``{sha: bytes}`` of these blobs (one ``git cat-file`` for those not read
        before by this object, with those :meth:`want_blobs` named; a missing one, or
        one larger than ``max_size`` bytes, is left out and never held in memory)."""
        missing = [sha for sha in dict.fromkeys(shas) if sha not in self._blobs]
        if missing:
            missing += [sha for sha in self._wanted_blobs if sha not in self._blobs]
            self._wanted_blobs = []
            self._blobs.update(git.read_blobs(self.repo, missing, max_size=max_size))
        return {sha: self._blobs[sha] for sha in shas if sha in self._blobs}

    def extract(self, sha: str, dest: Path, paths: list[str] | None = None) -> Path:
        """Write the template repository's files at commit ``sha`` into ``dest``.

        Uses ``git checkout-index`` from a private index, so modes, symlinks and
        checkout attributes match a ``git clone`` (what plain cookiecutter renders from).

        Args:
            paths: only these repository-relative paths (each must exist at ``sha``);
                ``None`` = everything.

        Returns ``dest``.
        """
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="cp-idx-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(dest)}
            git.run(["read-tree", sha], self.repo, env=env)
            if paths is None:
                git.run(["checkout-index", "-a", "-f", f"--prefix={dest}/"], self.repo, env=env)
            else:
                data = "".join(p + "\0" for p in paths).encode("utf-8", "surrogateescape")
                git.run(["checkout-index", "-f", "-z", "--stdin", f"--prefix={dest}/"], self.repo, env=env, input=data)
        return dest


def _context_file(rev: str, folder: str | None) -> str:
    """The revision naming ``cookiecutter.json`` of template subfolder ``folder`` at ``rev``."""
    return f"{rev}:{folder.strip('/') + '/' if folder else ''}cookiecutter.json"


def _mark_fetched(mirror: Path) -> None:
    """Record that ``mirror`` was just fetched (its stamp file's time)."""
    try:
        (mirror / FETCH_STAMP).touch()
    except OSError:  # a read-only cache still works; it is only fetched more often
        pass


def _first_error(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return git.error_line(stderr) or (lines[0].strip() if lines else "unknown error")


def _mirror_path(url: str) -> Path:
    clean = strip_credentials(url)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", clean.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))[:40]
    digest = hashlib.sha256(clean.encode()).hexdigest()[:16]
    return cache_dir() / "mirrors" / f"{name}-{digest}.git"


#: age (seconds) after which a mirror's unfinished clone folder is taken as a killed
#: clone's: a younger one may be another process's clone still running
_KILLED_CLONE_AGE = 24 * 3600


def _remove_killed_clones(mirror: Path) -> None:
    """Remove the ``<mirror>.tmp-*`` folders that clones of ``mirror`` killed before their
    rename left (a clone in progress keeps its folder young)."""
    import glob
    import time

    for folder in mirror.parent.glob(glob.escape(mirror.name) + ".tmp-*"):
        try:
            if time.time() - folder.stat().st_mtime > _KILLED_CLONE_AGE:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # gone meanwhile
            pass


def open_template(template: str, *, offline: bool = False, abbreviations: dict[str, str] | None = None,
                  on_fetch: Callable[[], Any] | None = None) -> TemplateSource:
    """Open a template location for reading.

    Args:
        template: local path, git URL, or abbreviation (``gh:org/repo``).
        offline: never fetch; a remote template must already be in the cache.
        abbreviations: extra abbreviations (cookiecutter user config).
        on_fetch: see :class:`TemplateSource` (also called before a new mirror is cloned).

    Raises:
        TemplateError: a local path that is not a git repository, an unreachable
            remote, or an uncached remote while offline.
    """
    location = strip_credentials(template)
    expanded = expand_abbreviation(template, abbreviations)
    if not is_remote(expanded):
        path = Path(expanded).expanduser()
        if not path.exists():
            raise TemplateError(f"template {location} not found: no such folder and not a git URL or abbreviation")
        top = git.toplevel(path) if path.is_dir() else None
        if top is None:
            bare = git.run(["rev-parse", "--is-bare-repository"], path, check=False)
            if path.is_dir() and bare.returncode == 0 and bare.stdout.strip() == b"true":
                return TemplateSource(location=location, repo=path.resolve(), offline=offline)
            raise TemplateError(f"template {location} is not a git repository; cookiepatcher records template commits, so `git init` and commit the template first")
        return TemplateSource(location=location, repo=top, offline=offline)

    url = expanded.removeprefix("git+")
    mirror = _mirror_path(url)
    source = TemplateSource(location=location, repo=mirror, url=url, offline=offline, on_fetch=on_fetch)
    if not mirror.exists():
        if offline:
            raise TemplateError(f"template {location} is not in the cache and --offline forbids fetching it; run once without --offline")
        try:
            mirror.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TemplateError(f"cannot use the template cache {cache_dir()} ({exc.strerror}); set COOKIEPATCHER_CACHE_DIR to a writable folder") from None
        # No lock: the clone goes to a folder of its own and is renamed into place, which
        # fails if another process's clone got there first (that one is used, this one
        # dropped). Fetches into an existing mirror take the lock.
        _remove_killed_clones(mirror)
        tmp = Path(tempfile.mkdtemp(prefix=mirror.name + ".tmp-", dir=mirror.parent))
        src = git.clone_source(url)
        if on_fetch is not None:
            on_fetch()
        proc = git.run(["clone", "--bare", "--quiet", src, str(tmp)], check=False)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TemplateError(f"cannot reach template {location}: {_first_error(proc.stderr)}; check the URL and network")
        # keep no credentials on disk: the mirror's remote is the stripped URL
        # (fetches name the URL themselves; nothing reads the mirror's remote)
        if strip_credentials(src) != src:
            git.run(["remote", "set-url", "origin", strip_credentials(url)], tmp, check=False)
        try:
            os.replace(tmp, mirror)  # rename(2): refuses to replace a folder that has files
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (mirror / "HEAD").exists():
                raise TemplateError(f"cannot use the template cache {cache_dir()} ({exc.strerror}); set COOKIEPATCHER_CACHE_DIR to a writable folder") from None
        else:
            _mark_fetched(mirror)
        source._fetched = True
    git.remember_bare(mirror)  # cloned --bare above: its git folder is itself
    return source
