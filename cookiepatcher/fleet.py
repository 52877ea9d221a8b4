"""``cookiepatcher fleet``: run ``cookiepatcher pr`` over many repositories.

Repositories come from a list file (one ``owner/name`` a line, optionally followed by
a clone URL; ``#`` comments) or from an organisation (GitHub) / group (GitLab). Each
one is cloned (without a checkout) into a scratch folder and ``cookiepatcher pr --json``
runs there in its own process, a fork of this one where possible (cookiecutter changes
the working directory while rendering, so renders cannot share a process), at most
``jobs`` at a time. A failure in one repository is recorded with its reason and never
stops the others.

Exit code (:attr:`FleetReport.exit_code`): 0 all fine, 1 some requests carry conflicts
or the bot was blocked by someone's commits, 2 some repositories failed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cookiepatcher import git
from cookiepatcher.errors import CookiepatcherError
from cookiepatcher.source import FETCHED_SINCE_ENV

#: summary rows, in display order
CATEGORIES = ("up to date", "PR opened", "PR updated", "PR unchanged", "conflicts", "blocked", "declined", "failed")
GITHUB_MATRIX_LIMIT = 256


@dataclass
class FleetEntry:
    """One repository to process: ``repo`` (``owner/name``) and, when known, its clone URL."""

    repo: str
    clone_url: str | None = None


@dataclass
class RepoResult:
    """The outcome for one repository (``status``: a ``pr`` status or ``failed``)."""

    repo: str
    status: str
    reason: str
    url: str | None = None
    conflicts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def category(self) -> str:
        """Summary row: one of :data:`CATEGORIES`."""
        if self.status == "failed":
            return "failed"
        if self.conflicts and self.status in ("opened", "updated", "current", "dry-run"):
            return "conflicts"
        return {"opened": "PR opened", "updated": "PR updated", "current": "PR unchanged", "blocked": "blocked",
                "declined": "declined", "dry-run": "PR opened"}.get(self.status, "up to date")


@dataclass
class FleetReport:
    """All results, in input order."""

    results: list[RepoResult]

    def counts(self) -> dict[str, int]:
        """``{category: number of repositories}`` for every category."""
        counts = dict.fromkeys(CATEGORIES, 0)
        for r in self.results:
            counts[r.category] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """2 some failed; 1 some conflicts or blocked; 0 otherwise."""
        counts = self.counts()
        if counts["failed"]:
            return 2
        return 1 if counts["conflicts"] or counts["blocked"] else 0

    def to_json(self) -> dict[str, Any]:
        """The ``--report`` document."""
        return {
            "summary": self.counts(),
            "exit_code": self.exit_code,
            "repositories": [{**asdict(r), "category": r.category} for r in self.results],
        }


# -- inputs --------------------------------------------------------------------------
def read_repo_list(path: Path) -> list[FleetEntry]:
    """Parse a repository list file.

    Format: one repository a line, ``owner/name`` (GitLab: ``group/sub/name``),
    optionally followed by whitespace and a clone URL; blank lines and ``#`` comments
    ignored; duplicates dropped (first kept).

    Raises:
        CookiepatcherError: unreadable file or a malformed line (with its number).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CookiepatcherError(f"cannot read repository list {path}: {exc.strerror}") from None
    entries: dict[str, FleetEntry] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2 or not re.fullmatch(r"[\w.-]+(/[\w.-]+)+", parts[0]):
            raise CookiepatcherError(f"{path}:{number}: expected 'owner/name [clone-url]', got '{line}'")
        entries.setdefault(parts[0], FleetEntry(parts[0], parts[1] if len(parts) == 2 else None))
    return list(entries.values())


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``.

    Raises:
        CookiepatcherError: not of that form.
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise CookiepatcherError(f"--shard must be I/N with 1 <= I <= N, got '{text}'")
    return int(m.group(1)), int(m.group(2))


def shard(entries: Sequence[FleetEntry], index: int, total: int) -> list[FleetEntry]:
    """Slice ``index`` (1-based) of ``total`` contiguous, near-equal slices of ``entries``.

    The slices of ``1..total`` partition the list exactly (every entry in one slice,
    sizes differing by at most one), in input order.
    """
    n = len(entries)
    return list(entries[(index - 1) * n // total: index * n // total])


def plan(entries: Sequence[FleetEntry], *, fmt: str = "github", shards: int | None = None) -> str:
    """A CI matrix for ``entries``: one job per repository, or per shard with ``shards``.

    Args:
        fmt: ``"github"``: one line of JSON for ``strategy.matrix: ${{ fromJSON(...) }}``
            (``{"repo": [...]}`` or ``{"shard": ["1/N", ...]}``);
            ``"circleci"``: a YAML ``matrix:`` block for a job's ``parameters``.
        shards: split into this many shard jobs (each runs ``fleet --shard I/N``).

    Raises:
        CookiepatcherError: unknown format, or more than 256 jobs for GitHub Actions
            (its matrix limit; use ``--shards``).
    """
    if shards is not None and shards < 1:
        raise CookiepatcherError("--shards must be at least 1")
    key, values = ("shard", [f"{i}/{shards}" for i in range(1, shards + 1)]) if shards else ("repo", [e.repo for e in entries])
    if fmt == "github":
        if len(values) > GITHUB_MATRIX_LIMIT:
            raise CookiepatcherError(f"{len(values)} jobs exceed GitHub Actions' matrix limit of {GITHUB_MATRIX_LIMIT}; use --shards N")
        return json.dumps({key: values}, separators=(",", ":"))
    if fmt == "circleci":
        if not values:
            return f"matrix:\n  parameters:\n    {key}: []"
        return "\n".join(["matrix:", "  parameters:", f"    {key}:", *(f"      - {json.dumps(v)}" for v in values)])
    raise CookiepatcherError(f"unknown matrix format '{fmt}'; use github or circleci")


# -- running -------------------------------------------------------------------------
Runner = Callable[[FleetEntry], RepoResult]


class Interrupted(Exception):
    """The fleet run was stopped (Ctrl-C or SIGTERM); running repositories were killed."""


@dataclass
class ProcessRunner:
    """Clone one repository and run ``cookiepatcher pr --json`` in it, in its own process.

    Where the platform can ``fork`` (Linux, macOS), the process is a fork of this one:
    the modules are already imported, so each repository costs no interpreter start-up;
    elsewhere it is a new ``python -m cookiepatcher``. The clone has no checkout:
    ``pr`` works in git's object database alone. Each run sees
    ``$COOKIEPATCHER_FETCHED_SINCE`` = the runner's creation time, so a template mirror is
    fetched once per fleet run, not once per repository.

    The clone and the run each get a process group of their own, and their temporary
    files live in the repository's scratch folder: a timeout or :meth:`abort` kills the
    whole group (hooks and git included), and removing the folder removes every trace.

    Args:
        forge: the forge (clone URL lookups, token for ``git clone``); its token also
            reaches the child through the inherited environment, never its arguments.
        pr_args: extra ``cookiepatcher pr`` arguments (``--forge``, ``--base-url``, ...).
        workdir: scratch folder for clones (each removed after its run).
        timeout: seconds for one repository (clone URL lookup and clone included) before
            it counts as failed.
    """

    forge: Any
    pr_args: list[str]
    workdir: Path
    timeout: float = 900.0
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # guards _groups only: never held while waiting
    _forge_lock: threading.Lock = field(default_factory=threading.Lock)
    _groups: set[int] = field(default_factory=set)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if hasattr(os, "fork"):  # imported once here, inherited by every forked run
            import gc

            from cookiepatcher import cli, pr, render  # noqa: F401

            render.preload()
            if self.forge.has_token:  # the runs call the forge's API (without a token they cannot)
                self.forge.load_client()
            # keep the collector off the objects imported so far: its passes would write
            # to every page the forked runs share with this process (copy-on-write)
            gc.freeze()

    def abort(self) -> None:
        """Stop: no new repository starts, and the running ones are killed (whole groups)."""
        self._stopped.set()
        with self._lock:
            groups = list(self._groups)
        for group in groups:
            _kill_group(group)

    def __call__(self, entry: FleetEntry) -> RepoResult:
        if self._stopped.is_set():
            raise Interrupted()
        deadline = time.monotonic() + self.timeout
        dest = Path(tempfile.mkdtemp(prefix=re.sub(r"\W", "_", entry.repo)[-40:] + "-", dir=self.workdir))
        try:
            url = self._clone_url(entry, deadline)
            if url is None:
                return self._timed_out(entry)
            env = {**os.environ, **self.forge.git_auth_env(url), "GIT_TERMINAL_PROMPT": "0"}
            # --template=: a scratch clone needs no sample hooks or info files (fewer files to write).
            # A repository on this machine is cloned --shared: the throwaway clone reads its
            # objects where they are (git's alternates) instead of linking each file, and
            # only the upgrade's new objects are written (and removed with the clone)
            source = git.clone_source(url)
            shared = ["--shared"] if os.path.isdir(source) else []
            cmd = ["git", "clone", "--quiet", "--no-tags", "--no-checkout", "--template=", *shared, source, str(dest / "repo")]
            code, _out, err = self._run_group(cmd, None, deadline, env)
            if code is None:
                return self._timed_out(entry)
            if code != 0:
                return RepoResult(entry.repo, "failed", git.error_line(err) or _last_line(err) or "git clone failed")
            args = ["pr", "--json", "--repo", entry.repo, "--fresh-clone", *self.pr_args]
            extra = {FETCHED_SINCE_ENV: repr(self.started)}
            if hasattr(os, "fork"):
                code, out, err = self._run_forked(args, dest / "repo", dest, deadline, extra)
            else:
                code, out, err = self._run_group([sys.executable, "-m", "cookiepatcher", *args], dest / "repo", deadline,
                                                 {**os.environ, **extra, "TMPDIR": str(_tmp_in(dest))})
            if code is None:
                return self._timed_out(entry)
            data = _json_tail(out)
            if data is None:
                return RepoResult(entry.repo, "failed", _last_line(err) or f"cookiepatcher pr exited {code}")
            return RepoResult(entry.repo, data["status"], data["message"], data.get("url"), list(data.get("conflicts") or []))
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def _clone_url(self, entry: FleetEntry, deadline: float) -> str | None:
        """``entry``'s clone URL: its own, else the forge's (``repo_info``); ``None`` when
        the deadline passes or the run is aborted first.

        The forge's client is not thread-safe, so lookups take turns (``_forge_lock``). Each
        runs in a thread of its own that this one only waits for: a hung API call (its
        client's timeout and retries can add up to minutes) holds up neither this
        repository's timeout, nor the other repositories' runs, nor :meth:`abort`; the
        thread is left to end on its own.

        Raises:
            the lookup's error (a ``ForgeError`` when the forge refuses or cannot be reached).
        """
        if entry.clone_url is not None:
            return entry.clone_url
        answer: dict[str, Any] = {}
        done = threading.Event()

        def lookup() -> None:
            try:
                with self._forge_lock:
                    if time.monotonic() < deadline and not self._stopped.is_set():
                        answer["url"] = self.forge.repo_info(entry.repo).clone_url
            except BaseException as exc:  # handed to the waiting thread, which raises it
                answer["error"] = exc
            finally:
                done.set()

        threading.Thread(target=lookup, name=f"clone URL of {entry.repo}", daemon=True).start()
        while not done.wait(0.05):
            if self._stopped.is_set() or time.monotonic() >= deadline:
                return None
        if "error" in answer:
            raise answer["error"]
        return answer.get("url")

    def _timed_out(self, entry: FleetEntry) -> RepoResult:
        if self._stopped.is_set():
            raise Interrupted()
        return RepoResult(entry.repo, "failed", f"timed out after {self.timeout:g}s")

    def _track(self, group: int, running: bool) -> None:
        with self._lock:
            (self._groups.add if running else self._groups.discard)(group)
        if running and self._stopped.is_set():  # abort() ran while this one was starting
            _kill_group(group)

    def _run_group(self, cmd: list[str], cwd: Path | None, deadline: float, env: dict[str, str]) -> tuple[int | None, str, str]:
        """Run ``cmd`` in a new session (its own process group); the exit code is ``None``
        when the deadline passed or the run was aborted (the group is then killed)."""
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._track(proc.pid, True)
        try:
            out, err = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
            if self._stopped.is_set():
                return None, out, err
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate()
            return None, "", ""
        finally:
            self._track(proc.pid, False)

    def _run_forked(self, args: list[str], cwd: Path, scratch: Path, deadline: float,
                    env: dict[str, str]) -> tuple[int | None, str, str]:
        """Run ``cookiepatcher ARGS`` in a forked child of this process, in ``cwd``, with
        ``env`` added to its environment, stdin from ``/dev/null`` and its temporary
        files in ``scratch``.

        Returns ``(exit code, stdout, stderr)``; the exit code is ``None`` when the child
        ran past ``deadline`` or the run was aborted (its process group is then killed).
        The child dies with this process.
        """
        out_path, err_path = scratch / "stdout", scratch / "stderr"
        tmp = _tmp_in(scratch)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = 70
            try:
                os.setpgid(0, 0)  # a group of its own: a timeout kills its hooks and git too
                # drop every descriptor inherited from this process's other threads (the
                # pipes of their git processes, sockets), so none waits on this child
                os.closerange(3, _max_fd())
                git._die_with_parent()
                os.chdir(cwd)
                os.environ.update(env)
                os.environ["TMPDIR"] = str(tmp)
                tempfile.tempdir = None
                for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                        (2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
                    new = os.open(path, flags, 0o600)
                    os.dup2(new, fd)
                    os.close(new)
                # new stream objects: another thread of the parent may have held the old ones' locks at fork time
                sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                from cookiepatcher import update
                from cookiepatcher.cli import main

                update.PARALLEL_RENDERS = False  # the fleet's jobs already use the cores
                try:
                    main.main(args=args, prog_name="cookiepatcher", standalone_mode=True)
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # a bug: its traceback goes to the captured stderr
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        try:
            os.setpgid(pid, pid)  # also from this side: no window where a kill misses the group
        except (PermissionError, ProcessLookupError):  # the child got there first, or is gone
            pass
        self._track(pid, True)
        try:
            status = _wait(pid, max(0.0, deadline - time.monotonic()))
        finally:
            self._track(pid, False)
        if self._stopped.is_set():
            status = None
        read = lambda p: p.read_text(encoding="utf-8", errors="replace") if p.exists() else ""  # noqa: E731
        return status, read(out_path), read(err_path)


def _tmp_in(scratch: Path) -> Path:
    tmp = scratch / "tmp"
    tmp.mkdir(exist_ok=True)
    return tmp


def _kill_group(group: int) -> None:
    """Kill process group ``group`` (where there are none, Windows: the process itself)."""
    import signal

    try:
        if hasattr(os, "killpg"):
            os.killpg(group, signal.SIGKILL)
        else:
            os.kill(group, signal.SIGTERM)
    except OSError:  # gone already, or not ours
        pass


def _max_fd() -> int:
    try:
        return max(256, os.sysconf("SC_OPEN_MAX"))
    except (AttributeError, ValueError, OSError):
        return 4096


def _wait(pid: int, timeout: float) -> int | None:
    """Exit code of child ``pid``, or ``None`` after killing it when it outlives ``timeout``."""
    import select
    import signal

    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)  # Linux: sleep until the child exits, no polling
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(pid)  # the child leads its own group: its hooks and git go too
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                return None
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(0.02, left))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix("cookiepatcher: error: ") if lines else ""


def _json_tail(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(text[start:])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) and "status" in data else None


def run_fleet(
    entries: Sequence[FleetEntry],
    runner: Runner,
    *,
    jobs: int = 2,
    on_done: Callable[[RepoResult, int, int], None] | None = None,
    redact: Callable[[str], str] = lambda s: s,
) -> FleetReport:
    """Run ``runner`` for every entry, ``jobs`` at a time; never stops on a failure.

    Args:
        runner: entry -> :class:`RepoResult`; an exception it raises becomes a
            ``failed`` result with the exception's message.
        on_done: called as ``on_done(result, done, total)`` after each repository
            (the CLI's progress bar).
        redact: applied to every reason (removes the token).
    """
    results: dict[int, RepoResult] = {}

    def one(i: int, entry: FleetEntry) -> RepoResult:
        start = time.monotonic()
        try:
            result = runner(entry)
        except Interrupted:
            raise
        except Exception as exc:  # one repository's failure never stops the others
            result = RepoResult(entry.repo, "failed", str(exc) or type(exc).__name__)
        result.reason = redact(result.reason)
        result.seconds = round(time.monotonic() - start, 2)
        return result

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {pool.submit(one, i, e): i for i, e in enumerate(entries)}
        for done, future in enumerate(as_completed(futures), 1):
            results[futures[future]] = future.result()
            if on_done:
                on_done(results[futures[future]], done, len(entries))
    except BaseException:  # Ctrl-C, SIGTERM (see the CLI), an on_done failure: stop everything now
        abort = getattr(runner, "abort", None)
        if abort is not None:
            abort()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return FleetReport([results[i] for i in range(len(entries))])
