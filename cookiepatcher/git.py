"""Thin helpers over the ``git`` command line (plumbing only; one process per step).

Every call runs ``git`` with a fixed environment: no pager, no prompts, no system config
surprises that change object contents (``core.autocrlf`` and friends are passed
explicitly where bytes matter).
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import BinaryIO

from cookiepatcher.errors import CookiepatcherError

MIN_GIT = (2, 38)
# Identity and date of the synthetic commits cookiepatcher makes from renders (never
# pushed anywhere, only used as merge inputs): fixed, so the same inputs give the same shas.
_SYNTH_IDENT = b"cookiepatcher <cookiepatcher@localhost> 0 +0000"


class GitError(CookiepatcherError):
    """A git command failed; the message carries git's own first error line."""


#: variables that point git at a repository, an index or a work tree other than the one
#: found from the folder (git sets GIT_DIR and GIT_INDEX_FILE for the hooks it runs, e.g.
#: a pre-commit hook running `cookiepatcher check`): ignored, so that git calls on the
#: template see the template's repository, and template hooks running git see the render
REPO_ENV_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE")


#: the names of :data:`REPO_ENV_VARS` found set and ignored (for messages)
IGNORED_ENV: set[str] = set()

#: environment for git commands given paths as they are (no pathspec magic: ``:(``,
#: ``*``, ``[``), whatever global pathspec settings the user's environment holds
LITERAL_PATHSPECS = {"GIT_LITERAL_PATHSPECS": "1", "GIT_GLOB_PATHSPECS": "0", "GIT_NOGLOB_PATHSPECS": "0",
                     "GIT_ICASE_PATHSPECS": "0"}


def scrub_repo_env(env: MutableMapping[str, str]) -> None:
    """Remove :data:`REPO_ENV_VARS` from ``env`` (``os.environ`` or a copy) in place,
    noting the names found in :data:`IGNORED_ENV`."""
    for name in REPO_ENV_VARS:
        if env.pop(name, None) is not None:
            IGNORED_ENV.add(name)


def _base_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    scrub_repo_env(env)
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"})
    if extra:
        env.update(extra)
    return env


def run(
    args: Sequence[str],
    cwd: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    ok_codes: Sequence[int] = (0,),
    die_with_parent: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` and return the completed process (stdout/stderr as bytes).

    Args:
        args: arguments after ``git``.
        cwd: working directory.
        env: extra environment variables.
        input: bytes for stdin.
        check: raise :class:`GitError` when the exit code is not in ``ok_codes``.
        die_with_parent: kill git if this process dies (Linux ``PR_SET_PDEATHSIG``), so
            a killed update never leaves git writing files behind it.

    Raises:
        GitError: git exited with an unexpected code (message: git's first error line).
    """
    # `git -C` instead of cwd=, an absolute git and close_fds=False let subprocess use
    # posix_spawn (vfork) rather than fork: markedly cheaper for ~40 git calls per update.
    # Python opens its own files non-inheritable, so nothing leaks into git.
    command, preexec = _command(args, cwd), None
    if die_with_parent and sys.platform == "linux":
        # util-linux's setpriv sets the death signal and runs git (still posix_spawn);
        # without it, the child sets it between fork and exec (about 4 ms more)
        wrapper = _pdeathsig_wrapper()
        command, preexec = ([*wrapper, *command], None) if wrapper else (command, _die_with_parent)
    proc = subprocess.run(command, env=_base_env(env), input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          close_fds=False, preexec_fn=preexec)
    return _checked(args, proc, check, ok_codes)


def _checked(args: Sequence[str], proc: subprocess.CompletedProcess[bytes], check: bool,
             ok_codes: Sequence[int]) -> subprocess.CompletedProcess[bytes]:
    if check and proc.returncode not in ok_codes:
        lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        first = error_line(proc.stderr) or (lines[0] if lines else f"exit {proc.returncode}")
        raise GitError(f"git {_command_name(args)} failed: {first}")
    return proc


class Started:
    """A git process started by :func:`start`; :meth:`wait` returns what :func:`run` returns."""

    def __init__(self, args: Sequence[str], proc: subprocess.Popen[bytes]) -> None:
        self.args = list(args)
        self.proc = proc

    def wait(self, *, check: bool = True, ok_codes: Sequence[int] = (0,)) -> subprocess.CompletedProcess[bytes]:
        """Wait for the process and collect its output.

        Raises:
            GitError: as :func:`run`.
        """
        stdout, stderr = self.proc.communicate()
        return _checked(self.args, subprocess.CompletedProcess(self.proc.args, self.proc.returncode, stdout, stderr),
                        check, ok_codes)


def start(args: Sequence[str], cwd: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> Started:
    """Start ``git ARGS`` (stdin closed) and return without waiting, so that read-only
    git commands run side by side; :meth:`Started.wait` collects the result."""
    return Started(args, subprocess.Popen(_command(args, cwd), env=_base_env(env), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=False))


def _command(args: Sequence[str], cwd: Path | str | None) -> list[str]:
    """``git [-C cwd] ARGS`` with git's absolute path."""
    return [_git_exe(), *(["-C", str(cwd)] if cwd is not None else []), *args]


def _command_name(args: Sequence[str]) -> str:
    """The git command in ``args`` (``fast-import`` in ``-c k=v fast-import ...``)."""
    rest = list(args)
    while rest and rest[0] in ("-c", "-C"):
        rest = rest[2:]
    return next((a for a in rest if not a.startswith("-")), args[0] if args else "")


@functools.cache
def _git_exe() -> str:
    import shutil

    exe = shutil.which("git")
    if exe is None:
        raise CookiepatcherError("git is not installed; install git >= 2.38")
    return exe


# the probe of _pdeathsig_wrapper, when started ahead: (process that started it, setpriv, probe)
_PROBE: list[tuple[int, str, subprocess.Popen[bytes]]] = []


def start_die_with_parent_probe() -> None:
    """Start the check :func:`run` makes before its first ``die_with_parent`` call now,
    so that call does not wait for it."""
    import shutil

    if sys.platform != "linux" or _PROBE or _pdeathsig_wrapper.cache_info().currsize:
        return
    exe = shutil.which("setpriv")
    if exe is not None:
        _PROBE.append((os.getpid(), exe, subprocess.Popen([exe, "--pdeathsig", "KILL", "true"], stdout=subprocess.DEVNULL,
                                                          stderr=subprocess.DEVNULL, close_fds=False)))


def finish_die_with_parent_probe() -> None:
    """Collect the probe :func:`start_die_with_parent_probe` started, if nothing used it."""
    if _PROBE and _PROBE[0][0] == os.getpid():
        _pdeathsig_wrapper()


@functools.cache
def _pdeathsig_wrapper() -> list[str] | None:
    """``setpriv --pdeathsig KILL`` (util-linux), which runs a command that the kernel
    kills when this thread ends, or ``None`` if there is no such setpriv."""
    import shutil

    if _PROBE and _PROBE[0][0] == os.getpid():  # (a forked child cannot wait for its parent's probe)
        _pid, exe, started = _PROBE.pop()
        return [exe, "--pdeathsig", "KILL"] if started.wait() == 0 else None
    exe = shutil.which("setpriv")
    if exe is None:
        return None
    probe = subprocess.run([exe, "--pdeathsig", "KILL", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           close_fds=False, check=False)
    return [exe, "--pdeathsig", "KILL"] if probe.returncode == 0 else None


def umask() -> int:
    """This process's umask, which git's checkouts apply to file modes (Linux: read from
    ``/proc``; elsewhere set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _die_with_parent() -> None:
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def out(args: Sequence[str], cwd: Path | str | None = None, **kw) -> str:
    """Run git and return stdout decoded as UTF-8 with the trailing newline removed."""
    return run(args, cwd, **kw).stdout.decode("utf-8", "surrogateescape").rstrip("\n")


@functools.cache
def version() -> tuple[int, int]:
    """The installed git's (major, minor) version.

    Raises:
        CookiepatcherError: git is missing or older than 2.38 (``merge-tree --write-tree``).
    """
    try:
        text = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise CookiepatcherError("git is not installed; install git >= 2.38") from None
    parts = text.split()[2].split(".")
    ver = (int(parts[0]), int(parts[1]))
    if ver < MIN_GIT:
        raise CookiepatcherError(f"git {text.split()[2]} is too old; cookiepatcher needs git >= 2.38")
    return ver


def resolve_many(repo: Path | str, revs: Sequence[str]) -> list[str | None]:
    """Resolve several revisions with one git process (:func:`batch`); ``None`` = missing.

    Each item is any revision git accepts (``v2^{commit}``, ``refs/heads/main``, a sha).
    """
    return [sha for sha, _kind, _contents in batch(repo, [("info", rev) for rev in revs])]


def batch(repo: Path | str, requests: Sequence[tuple[str, str]],
          max_size: int | None = None) -> list[tuple[str | None, str | None, bytes | None]]:
    """Answer several object requests with one ``git cat-file --batch-command`` (git >= 2.36).

    Args:
        requests: ``(command, revision)`` pairs, answered in order: ``("info", rev)`` or
            ``("contents", rev)``; ``rev`` is any revision (``main``, ``main:path/file``).
        max_size: contents larger than this many bytes are read past as git writes them,
            never held in memory (their ``contents`` is ``None``).

    Returns:
        One ``(sha, type, contents)`` per request; ``contents`` only for ``"contents"``
        requests, and all three ``None`` when the revision does not exist.
    """
    # the batch reads one revision a line: a name holding a line break goes its own way
    if any("\n" in rev for _command, rev in requests):
        return [_answer_alone(repo, command, rev) for command, rev in requests]
    if not requests:
        return []
    data = "".join(f"{command} {rev}\n" for command, rev in requests).encode("utf-8", "surrogateescape")
    if max_size is None:
        import io

        return _batch_answers(io.BytesIO(run(["cat-file", "--batch-command"], repo, input=data).stdout), requests, None)
    import threading

    proc = subprocess.Popen(_command(["cat-file", "--batch-command"], repo), env=_base_env(None), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=False)
    assert proc.stdin is not None and proc.stdout is not None

    def feed() -> None:  # (its own thread: git answers while it reads, so neither pipe fills up)
        try:
            proc.stdin.write(data)
        except OSError:
            pass
        finally:
            proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        return _batch_answers(proc.stdout, requests, max_size)
    finally:
        writer.join()
        proc.stdout.close()
        proc.wait()


def _batch_answers(out: BinaryIO, requests: Sequence[tuple[str, str]],
                   max_size: int | None) -> list[tuple[str | None, str | None, bytes | None]]:
    """:func:`batch`'s answers read from ``out`` (cat-file's output, a binary stream); a
    request without an answer (git stopped) counts as missing."""
    answers: list[tuple[str | None, str | None, bytes | None]] = []
    for command, _rev in requests:
        header = out.readline().decode("utf-8", "surrogateescape").rstrip("\n")
        if not header or header.endswith((" missing", " ambiguous")):
            answers.append((None, None, None))
            continue
        sha, kind, size = header.split(" ")
        contents = None
        if command == "contents":
            left = int(size)
            if max_size is None or left <= max_size:
                contents = out.read(left)
            else:
                while left > 0 and (chunk := out.read(min(left, 1 << 20))):
                    left -= len(chunk)
            out.read(1)  # the newline after the contents
        answers.append((sha, kind, contents))
    return answers


def _answer_alone(repo: Path | str, command: str, rev: str) -> tuple[str | None, str | None, bytes | None]:
    """One :func:`batch` request in processes of its own."""
    proc = run(["rev-parse", "--verify", "--quiet", "--end-of-options", rev], repo, check=False)
    if proc.returncode != 0:
        return None, None, None
    sha = proc.stdout.decode().strip()
    kind = out(["cat-file", "-t", sha], repo)
    return sha, kind, run(["cat-file", kind, sha], repo).stdout if command == "contents" else None


def error_line(stderr: bytes | str) -> str | None:
    """git's cause in ``stderr``: its first ``fatal``/``error`` line (later lines are
    advice), or ``None`` when there is none."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return next((ln for ln in lines if ln.startswith(("fatal", "error"))), None)


def read_blobs(repo: Path | str, shas: Sequence[str], max_size: int | None = None) -> dict[str, bytes]:
    """The bytes of several blobs with one git process (:func:`batch`): ``{sha: bytes}``;
    a sha that is missing or not a blob is left out, and so is a blob larger than
    ``max_size`` bytes (read past, never held in memory)."""
    wanted = list(dict.fromkeys(shas))
    answers = batch(repo, [("contents", sha) for sha in wanted], max_size)
    return {sha: contents for sha, (found, kind, contents) in zip(wanted, answers)
            if kind == "blob" and found == sha and contents is not None}


def toplevel(path: Path) -> Path | None:
    """The work tree root of the repository containing ``path``, or ``None`` outside git."""
    proc = run(["rev-parse", "--show-toplevel"], path, check=False)
    if proc.returncode != 0:
        return None
    return Path(os.fsdecode(proc.stdout.removesuffix(b"\n")))  # (a folder's name may end in a line break)


_GIT_DIRS: dict[Path, tuple[Path, Path]] = {}


def _git_dirs(path: Path) -> tuple[Path, Path]:
    if path not in _GIT_DIRS:
        text = out(["rev-parse", "--absolute-git-dir", "--git-common-dir"], path).splitlines()
        _GIT_DIRS[path] = _dirs_from(path, text[0], text[1])
    return _GIT_DIRS[path]


def _dirs_from(path: Path, git_dir_line: str, common_line: str) -> tuple[Path, Path]:
    common = Path(common_line) if Path(common_line).is_absolute() else (Path(path) / common_line).resolve()
    return Path(git_dir_line), common


def clone_source(url: str) -> str:
    """What to hand ``git clone`` for ``url``: a ``file://`` URL as its path, so git
    clones locally (hard links to the objects, one process) rather than through its
    transport (upload-pack and pack-objects write and read a new pack); git clones a
    URL through the transport on purpose (``git clone --local`` documentation). Any
    other URL is returned as it is."""
    from urllib.parse import unquote

    rest = url[len("file://"):] if url.startswith("file://") else ""
    rest = rest[len("localhost"):] if rest.startswith("localhost/") else rest
    # only a URL naming an absolute path on this machine (no other host)
    return unquote(rest) if rest.startswith("/") else url


def remember_bare(path: Path) -> None:
    """Record that ``path`` is a plain bare repository (its git folder is itself, as for
    the template mirrors this tool clones), so :func:`git_dir` and :func:`objects_dir`
    need no git process for it."""
    resolved = Path(path).resolve()
    _GIT_DIRS.setdefault(resolved, (resolved, resolved))


def locate_repo(path: Path) -> tuple[Path, str | None, str | None] | None:
    """``(work tree root, HEAD commit, HEAD tree)`` of the repository containing
    ``path`` (the shas ``None`` before the first commit), or ``None`` outside a work
    tree. Also remembers the repository's git folders for :func:`git_dir` and
    :func:`objects_dir`: one git process for all of it."""
    proc = run(["rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir", "HEAD", "HEAD^{tree}", "--"],
               path, check=False)
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) < 3 or (proc.returncode == 0 and lines[3:] != [*lines[3:5], "--"]):
        return None
    top = Path(lines[0])
    _GIT_DIRS[Path(path).resolve()] = _GIT_DIRS[top.resolve()] = _dirs_from(Path(path).resolve(), lines[1], lines[2])
    if proc.returncode != 0 or len(lines) != 6:  # no commit yet
        return top, None, None
    return top, lines[3], lines[4]


def config_values(repo: Path, pattern: str) -> list[tuple[str, str]]:
    """``(key, value)`` of every setting whose key matches the regular expression
    ``pattern`` (``git config --get-regexp``; keys lower-cased by git, values in file
    order, so the last of a key wins), from every config file git reads."""
    return _config_items(run(["config", "-z", "--get-regexp", pattern], repo, check=False).stdout)


def start_config_values(repo: Path, pattern: str) -> Callable[[], list[tuple[str, str]]]:
    """:func:`config_values` started now; calling the returned function waits for it
    and returns its result (the same on every call: call it also when the result is
    not needed, so the process is collected)."""
    started = start(["config", "-z", "--get-regexp", pattern], repo)
    return functools.cache(lambda: _config_items(started.wait(check=False).stdout))


def _config_items(raw: bytes) -> list[tuple[str, str]]:
    items = [item.split(b"\n", 1) for item in raw.split(b"\0") if item]
    return [(k.decode("utf-8", "surrogateescape"), v[0].decode("utf-8", "surrogateescape") if v else "") for k, *v in items]


def config_last(config: Sequence[tuple[str, str]], key: str) -> str | None:
    """The value git uses for ``key`` (lower-case) in :func:`config_values` output: the
    last one set; ``None`` when it is not set."""
    return next((v for k, v in reversed(config) if k == key), None)


def config_true(value: str | None) -> bool:
    """A boolean setting's value as git reads it (git-config(1)): ``None`` (unset) and
    ``false``/``no``/``off``/``0`` are false; anything else, a bare key (``""`` from
    :func:`config_values`) included, is true."""
    return value is not None and value.strip().lower() not in ("false", "no", "off", "0")


def git_dir(path: Path) -> Path:
    """Absolute ``.git`` directory of the repository containing ``path`` (per worktree)."""
    return _git_dirs(Path(path).resolve())[0]


def objects_dir(path: Path) -> Path:
    """Absolute object database folder of the repository containing ``path``."""
    return _git_dirs(Path(path).resolve())[1] / "objects"


def shadow_config(object_format: str = "sha1") -> str:
    """The ``config`` text of a :func:`make_shadow_repo` repository: bare, and for
    ``object_format`` ``"sha256"`` the repository format that names it (gitrepository-layout(5))."""
    if object_format == "sha1":
        return "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"
    return f"[core]\n\trepositoryformatversion = 1\n\tbare = true\n[extensions]\n\tobjectformat = {object_format}\n"


def object_format(sha: str) -> str:
    """``"sha1"`` or ``"sha256"``: the object format of a repository, from one of its ids."""
    return "sha256" if len(sha) == 64 else "sha1"


def make_shadow_repo(folder: Path, object_format: str = "sha1") -> Path:
    """Create a minimal bare repository skeleton at ``folder`` (what ``git init --bare`` needs
    to be recognised), without spawning git; objects are supplied via ``GIT_OBJECT_DIRECTORY``,
    so ``object_format`` must be theirs."""
    for sub in ("objects", "refs/heads", "refs/tags"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "config").write_text(shadow_config(object_format))
    return folder


def rev_parse(repo: Path | str, rev: str) -> str | None:
    """Full sha of ``rev`` peeled to a commit, or ``None`` when it does not resolve."""
    proc = run(["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], repo, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def _fi_path(path: str) -> bytes:
    """``path`` C-style quoted for ``git fast-import`` (git-fast-import(1), "filemodify")."""
    raw = path.encode("utf-8", "surrogateescape")
    out = bytearray(b'"')
    for byte in raw:
        if byte in (0x22, 0x5C):  # " and backslash
            out += b"\\" + bytes([byte])
        elif byte < 0x20 or byte == 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def tree_commands(root: str | None, folder: str = "", entries: Mapping[str, tuple[str, str]] | None = None) -> bytes:
    """``git fast-import`` file changes giving a commit the tree ``root`` (a tree sha;
    ``None``: empty) with ``folder`` (``""`` = everything, else ending in ``/``) replaced
    by ``entries`` (``{path relative to folder: (mode, sha)}``, objects that exist)."""
    lines = [b"deleteall"] if root is None else [b"M 040000 " + root.encode() + b' ""']
    if entries is not None:
        if not folder:
            lines[0] = b"deleteall"
        elif root is not None:
            lines.append(b"D " + _fi_path(folder.rstrip("/")))
        lines += [f"M {mode} {sha} ".encode() + _fi_path(folder + path) for path, (mode, sha) in sorted(entries.items())]
    return b"\n".join(lines) + b"\n"


def blob_mark(index: int) -> str:
    """How :func:`tree_commands` entries name the ``index``-th blob given to
    :func:`synthetic_commits` (a fast-import mark) instead of a sha."""
    return f":{index + 1}"


#: git fast-import writing one pack (``fastimport.unpackLimit=0``: no ``unpack-objects``
#: child turning a small import into loose objects)
_FAST_IMPORT = ["-c", "fastimport.unpackLimit=0", "fast-import", "--quiet"]


def _fi_blob(data: bytes, mark: str | None = None) -> bytes:
    """A ``blob`` command of a fast-import stream (git-fast-import(1)), with ``mark`` if given."""
    return b"blob\n%sdata %d\n%s\n" % (b"mark %s\n" % mark.encode() if mark else b"", len(data), data)


def synthetic_commits(git_dir: Path, objects: Path, commits: Sequence[tuple[str, bytes, Sequence[int]]],
                      blobs: Sequence[bytes] = (), known_blobs: Iterable[bytes] = ()) -> list[str]:
    """Create commits with one ``git fast-import`` and return their shas (no ref of a
    real repository is updated).

    Args:
        git_dir: a scratch repository (its refs receive the commits; :func:`make_shadow_repo`).
        objects: the object directory to write into (the project's).
        commits: ``(message, file changes (:func:`tree_commands`), parents)``; parents are
            indexes of earlier commits in the list.
        blobs: file contents written first; entries name them with :func:`blob_mark`.
        known_blobs: more file contents written first, which entries name by their sha
            (blobs the caller has not written yet, e.g. from the render cache).

    Identity and dates are fixed (:data:`_SYNTH_IDENT`), so the same inputs give the same
    shas (those ``git commit-tree -m MESSAGE`` would give with that identity and date).
    The objects are written as one pack (``fastimport.unpackLimit=0``: no
    ``unpack-objects`` child).
    """
    ident = _SYNTH_IDENT
    stream = [b"feature done\n", *(_fi_blob(data) for data in known_blobs),
              *(_fi_blob(data, blob_mark(i)) for i, data in enumerate(blobs))]
    first = len(blobs) + 1  # the commits' marks follow the blobs'
    for i, (message, changes, parents) in enumerate(commits):
        body = message.encode() + b"\n"
        stream.append(b"commit refs/cookiepatcher/%d\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s"
                      % (i, first + i, ident, ident, len(body), body))
        for n, parent in enumerate(parents):
            stream.append(b"%s :%d\n" % (b"merge" if n else b"from", first + parent))
        stream.append(changes + b"\n")
    stream += [b"get-mark :%d\n" % (first + i) for i in range(len(commits))] + [b"done\n"]
    env = {"GIT_DIR": str(git_dir), "GIT_OBJECT_DIRECTORY": str(objects)}
    shas = out(_FAST_IMPORT, env=env, input=b"".join(stream)).split()
    if len(shas) != len(commits):
        raise GitError(f"git fast-import returned {len(shas)} commits, expected {len(commits)}")
    return shas


def write_blobs(repo: Path | str, blobs: Sequence[bytes]) -> None:
    """Write ``blobs`` (file contents, stored as they are) into ``repo``'s object database
    as one pack, with one ``git fast-import``.

    Raises:
        GitError: git failed.
    """
    if not blobs:
        return
    run(_FAST_IMPORT, repo, input=b"".join([b"feature done\n", *(_fi_blob(data) for data in blobs), b"done\n"]))


def ls_tree(repo: Path, tree: str) -> dict[str, tuple[str, str]]:
    """All blobs/links/submodules below ``tree``: ``{path: (mode, sha)}`` (paths posix)."""
    return ls_trees(repo, [tree])[0]


def ls_trees(repo: Path, trees: Sequence[str]) -> list[dict[str, tuple[str, str]]]:
    """:func:`ls_tree` of each of ``trees``, their git processes side by side.

    Raises:
        GitError: a tree that is not there.
    """
    started = [start(["ls-tree", "-r", "-z", "--full-tree", tree], repo) if tree else None for tree in trees]
    done = [proc.wait(check=False) if proc is not None else None for proc in started]  # every process collected
    return [_ls_tree_entries(_checked(proc.args, result, True, (0,)).stdout) if proc is not None and result is not None else {}
            for proc, result in zip(started, done)]


def _ls_tree_entries(raw: bytes) -> dict[str, tuple[str, str]]:
    entries: dict[str, tuple[str, str]] = {}
    for rec in raw.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, _kind, sha = meta.decode().split()
        entries[path.decode("utf-8", "surrogateescape")] = (mode, sha)
    return entries


def diff_trees(repo: Path, old: str, new: str) -> list[tuple[str, str, str, str | None]]:
    """What changed from tree ``old`` to tree ``new``, renames found as ``git diff -M``
    finds them (``git diff-tree -r -M``, raw output).

    Returns ``[(status, path, mode, sha)]`` with ``status`` one of ``A`` (added), ``D``
    (deleted), ``M`` (modified), ``T`` (type changed) or ``R<old path>`` (renamed from
    that path), and the new ``mode``/``sha`` (``None`` for a deletion's sha).
    """
    # --ignore-submodules=none: a submodule's "ignore" setting would hide its gitlink's changes
    raw = run(["diff-tree", "-r", "-M", "-z", "--no-commit-id", "--ignore-submodules=none", old, new], repo).stdout.split(b"\0")
    changes: list[tuple[str, str, str, str | None]] = []
    i = 0
    while i < len(raw) and raw[i]:
        _old_mode, mode, _old_sha, sha, status = raw[i].decode()[1:].split(" ")
        path = raw[i + 1].decode("utf-8", "surrogateescape")
        if status[0] in "RC":
            new_path = raw[i + 2].decode("utf-8", "surrogateescape")
            changes.append(("R" + path if status[0] == "R" else "A", new_path, mode, sha))
            i += 3
            continue
        changes.append((status[0], path, mode, None if status[0] == "D" else sha))
        i += 2
    return changes


def mktree_from_entries(repo: Path, entries: Mapping[str, tuple[str, str]], index_file: Path) -> str:
    """Write a tree holding exactly ``entries`` (``{path: (mode, sha)}``) and return its sha.

    Uses a private index file (``index_file``, removed first) so the repository's own
    index is never touched.
    """
    index_file.unlink(missing_ok=True)
    env = {"GIT_INDEX_FILE": str(index_file)}
    lines = "".join(f"{mode} {sha}\t{path}\0" for path, (mode, sha) in sorted(entries.items()))
    run(["update-index", "-z", "--index-info"], repo, env=env, input=lines.encode("utf-8", "surrogateescape"))
    return out(["write-tree"], repo, env=env)

