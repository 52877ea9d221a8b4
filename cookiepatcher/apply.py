"""Preconditions on the project and the one-step write of a merge result.

Writing follows ``git merge``: files from the merged tree (conflict markers in text
files), unmerged index entries at stages 1/2/3 for conflicts, the index locked
(``index.lock``) from before it is read until the new one replaces it, and the
preconditions checked again under the lock. The whole result is known before anything
is written, and the order is chosen so that an interrupted write is recoverable with
``git checkout -- .``: changed and deleted tracked files first, new files next, and the
repository's index last (one atomic rename). Until that rename the index still
describes the pre-update commit.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from cookiepatcher import git
from cookiepatcher.answers import printable
from cookiepatcher.errors import CookiepatcherError, RefusedError
from cookiepatcher.merge import Entries


class WriteInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM came while the update wrote files: some are written, the index
    is not (``git checkout -- .`` restores them). The CLI says so beside "Aborted!"."""


def start_clean_check(repo_root: Path, prefix: str, dry_run: bool = False) -> Callable[[], None]:
    """Start checking that tracked files under the project folder have no uncommitted
    changes: the git processes start here, and the returned function waits for them and
    refuses, so the caller can do other work meanwhile.

    Args:
        repo_root: repository work tree root.
        prefix: project folder relative to the root (``""`` or ending in ``/``).
        dry_run: nothing will be written: a lock on the index does not matter.

    Raises:
        RefusedError: here, when a merge/rebase is in progress or the index is locked;
            from the returned function, when the index holds conflicts, files are marked
            assume-unchanged/skip-worktree, or tracked files are modified/staged (named,
            up to five).
    """
    gd = git.git_dir(repo_root)
    _refuse_operation_in_progress(gd)
    if not dry_run and (gd / "index.lock").exists():
        raise RefusedError(f"another git process is using this repository ({gd / 'index.lock'} exists); wait for it, or "
                           f"remove the lock if no git runs")
    # git status does not see edits hidden by these flags; git merge refuses to touch them
    listing = git.start(["ls-files", "-v", "-z", "--", prefix or "."], repo_root)
    status = git.start(["status", "--porcelain=v2", "-z", "--untracked-files=no", "--ignore-submodules=none",
                        "--no-renames", "--", prefix or "."], repo_root)
    return lambda: _verify_clean(repo_root, listing, status, prefix)


def _changes(status_out: bytes) -> list[tuple[str, str, str]]:
    """``(path, kind, submodule)`` of each change in the output of ``git status
    --porcelain=v2 -z --no-renames``: kind ``"u"`` for an unmerged path, ``"1"`` for any
    other change; submodule ``""`` for a file, else the advice that fits it (a
    :data:`_SUBMODULE_ADVICE` key); header lines (``# ...``) are left out.

    Records (git-status documentation): ``1 XY SUB mH mI mW hH hI PATH`` (8 fields before
    the path, which may hold spaces), ``u XY SUB m1 m2 m3 mW h1 h2 h3 PATH`` (10); SUB is
    ``N...`` for a file and ``S<c><m><u>`` for a submodule (commit changed, tracked
    changes, untracked files).
    """
    out = []
    for rec in status_out.split(b"\0"):
        if rec[:2] in (b"1 ", b"u "):
            fields = rec.split(b" ", 10 if rec[:1] == b"u" else 8)
            xy, sub = fields[1], fields[2]
            advice = ""
            if sub[:1] == b"S":
                advice = ("gone" if xy[1:2] == b"D" else "staged" if xy[:1] != b"." else
                          "both" if sub[1:2] == b"C" and b"." != sub[2:3] + sub[3:4] != b".." else
                          "commit" if sub[1:2] == b"C" else "inside")
            out.append((fields[-1].decode("utf-8", "surrogateescape"), rec[:1].decode(), advice))
    return out


#: what to do about a submodule with changes (see :func:`_changes`)
_SUBMODULE_ADVICE = {
    "inside": "for a submodule, its own changes or untracked files: inside it",
    "commit": "for a submodule at another commit: `git add` and commit it, or `git submodule update` it",
    "both": "for a submodule at another commit with changes of its own: deal with those inside it, then `git add` "
            "and commit it (or `git submodule update` it)",
    "staged": "for a submodule whose new commit is staged: commit it, or `git reset` it",
    "gone": "for a submodule whose folder is gone: `git submodule update` it",
}


def _flagged(listing_out: bytes) -> list[tuple[str, str]]:
    """``(tag, path)`` of the files ``git ls-files -v -z`` lists as assume-unchanged
    (lowercase tag) or skip-worktree (``S``)."""
    return [(rec[:1].decode(), rec[2:].decode("utf-8", "surrogateescape")) for rec in listing_out.split(b"\0")
            if rec[:1] == b"S" or rec[:1].islower()]


#: what `git status` reports as in progress (a paused multi-commit cherry-pick or revert
#: keeps only "sequencer"): an update would be committed as part of it, dropped by its
#: --abort, or computed on a bisect's commit
_IN_PROGRESS = ("MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply",
                "sequencer", "BISECT_START")


def _refuse_operation_in_progress(git_dir: Path) -> None:
    if any((git_dir / name).exists() for name in _IN_PROGRESS):
        raise RefusedError("a merge, rebase, cherry-pick, revert or bisect is in progress; finish or abort it before updating")


def _verify_clean(repo_root: Path, listing: git.Started, status: git.Started, prefix: str) -> None:
    changes = _changes(status.wait().stdout)
    tags = _flagged(listing.wait().stdout)
    flagged = [path for _tag, path in tags]
    if flagged and all(tag == "S" for tag, _path in tags) and \
            git.run(["config", "--bool", "core.sparseCheckout"], repo_root, ok_codes=(0, 1)).stdout.strip() == b"true":
        # skip-worktree set by a sparse checkout: clearing the bits by hand would show the
        # files left off disk as deleted (and a commit would delete them)
        names = ", ".join(printable(f[len(prefix):]) for f in flagged[:5])
        raise RefusedError(f"files outside the sparse checkout: {names}; run `git sparse-checkout disable` (or "
                           f"`git sparse-checkout add` their folders), then update")
    if flagged:
        names = ", ".join(printable(f[len(prefix):]) for f in flagged[:5])
        raise RefusedError(f"files marked assume-unchanged or skip-worktree: {names}; clear the flag "
                           f"(`git update-index --no-assume-unchanged FILE` and `git update-index --no-skip-worktree FILE`: "
                           f"git applies only the last of such flags in one command) and commit, then update")
    unmerged = [printable(path[len(prefix):]) for path, kind, _sub in changes if kind == "u"]
    if unmerged:
        raise RefusedError(f"unresolved conflicts in {', '.join(unmerged[:5])}; resolve them and commit before updating")
    if changes:
        dirty = [printable(path[len(prefix):]) + (" (a submodule)" if sub else "") for path, _kind, sub in changes]
        names = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        advice = "; ".join(["commit or stash them"] + [_SUBMODULE_ADVICE[a] for a in _SUBMODULE_ADVICE
                                                          if a in {sub for *_x, sub in changes}])
        raise RefusedError(f"uncommitted changes in {names}; {advice}, then run the update again")


def check_untracked(repo_root: Path, creates: list[str], entries: Entries, removed: set[str] | frozenset[str] = frozenset(),
                    submodules: set[str] | frozenset[str] = frozenset(), prefix: str = "") -> None:
    """Refuse when a path the update creates already exists untracked (or ignored) on disk,
    or lies inside a submodule of the project.

    Args:
        creates: repository-relative paths the update adds.
        entries: the merged entries (to compare an existing file's bytes with).
        removed: tracked paths the update deletes; they are not in the way (a template
            turning a file into a folder, or a folder into a file).
        submodules: the project's submodule paths (gitlinks of HEAD): a file the
            template adds inside one would be written into the submodule's own work
            tree (git merge stops there too).
        prefix: the project folder, left out of the paths messages name (and of the
            ``skip`` pattern the message suggests).

    An untracked file whose bytes equal the new file's does not block.

    Raises:
        RefusedError: naming the first such paths.
    """
    inside = sorted({sub for path in creates for sub in _parents(path) if sub in submodules})
    if inside:
        names = ", ".join(printable(sub[len(prefix):]) for sub in inside[:5])
        # anchored (a leading # or ! is then no comment or negation), wildcards escaped
        patterns = ["/" + re.sub(r"([\\\[\]*?])", r"\\\1", sub[len(prefix):]) + "/**" for sub in inside]
        raise RefusedError(f"the template adds files inside submodule {names}; keep them out with \"skip\": "
                           f"{printable(json.dumps(patterns, ensure_ascii=False))} in cookiepatcher.json (or move the "
                           f"submodule), then update")
    def in_the_way(rel: str) -> bool:
        p = repo_root / rel
        if p.is_symlink() or p.is_file():
            return rel not in removed
        if p.is_dir():  # a folder blocks only if it holds something that is not going away
            for dirpath, dirs, files in os.walk(p):
                # (os.walk lists a symlink to a folder among the folders, and does not enter it)
                for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
                    if Path(dirpath, name).relative_to(repo_root).as_posix() not in removed:
                        return True
        return False

    blocked: list[str] = []
    for path in creates:
        parts = path.split("/")
        parent = next(("/".join(parts[:i]) for i in range(1, len(parts))
                       if (repo_root.joinpath(*parts[:i]).is_symlink() or repo_root.joinpath(*parts[:i]).is_file())
                       and "/".join(parts[:i]) not in removed), None)
        if parent is not None:
            blocked.append(parent)
            continue
        p = repo_root / path
        if p.is_file() and not p.is_symlink() and path not in removed:
            # the file's own bytes (--no-filters): after a clean filter or eol conversion,
            # different bytes may hash alike (an output-stripping filter), and would be lost
            if git.out(["hash-object", "--no-filters", "--", path], repo_root) == entries[path][1]:
                continue
        if in_the_way(path):
            blocked.append(path)
    if blocked:
        names = ", ".join(printable(b[len(prefix):] if b.startswith(prefix) else b) for b in sorted(set(blocked))[:5])
        raise RefusedError(f"untracked or ignored files would be overwritten: {names}; move or commit them, then run the update again")


def _parents(path: str) -> Iterator[str]:
    """The folders holding ``path`` (posix, repository-relative), innermost first."""
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        yield path


def _remove(path: Path, root: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    parent = path.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def write_result(repo_root: Path, head: str, head_entries: Entries, result: Entries,
                 stages: dict[str, dict[int, tuple[str, str]]], scratch: Path,
                 on_phase=None, prefix: str = "") -> None:
    """Make the working tree and index hold ``result`` (plus ``stages`` as conflicts).

    As ``git merge`` does, it holds the repository's ``index.lock`` from before it reads
    the index until the new index replaces it (git's protocol: other git commands that
    write the index fail meanwhile instead of being undone). Under the lock it checks
    again what the update checked when it started, since the render and merge in between
    may take seconds: no merge, rebase, ... in progress, HEAD still ``head``, every path
    the update writes or deletes unchanged from HEAD in the index and on disk (an
    editor's save, a ``git add``), and no untracked file at a path it adds. Then it
    writes at once. A killed update leaves the lock (as git does): remove it, then
    ``git checkout -- .`` restores the files.

    Args:
        repo_root: repository work tree root.
        head: the commit the result was computed on (HEAD when the update started).
        head_entries: entries of HEAD (what the index and tree hold now: checked clean).
        result: merged entries, repository-relative paths.
        stages: unmerged paths -> ``{stage: (mode, sha)}``.
        scratch: private temporary folder on any filesystem.
        on_phase: optional callback ``(name)`` called as each write phase starts.
        prefix: the project folder (``""`` or ending in ``/``), left out of the paths
            that messages name.

    Raises:
        RefusedError: before anything is written: ``index.lock`` exists, or what the
            update checked at its start no longer holds.
        CookiepatcherError: writing a file failed midway (the message says so).
    """
    phase = on_phase or (lambda name: None)
    git_dir = git.git_dir(repo_root)
    changed = sorted(p for p in result if head_entries.get(p) != result[p])
    removed = sorted(p for p in head_entries if p not in result)
    lock = git_dir / "index.lock"
    final_index = git_dir / f"cookiepatcher-final-{os.getpid()}.index"
    work_index = git_dir / f"cookiepatcher-work-{os.getpid()}.index" if stages else final_index
    locked = False
    try:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            locked = True
        except FileExistsError:
            raise RefusedError(f"another git process is using this repository ({lock} exists); nothing was written: "
                               f"wait for it (or remove the lock if no git runs), then update again") from None
        except OSError as exc:  # as git: "Unable to create '...index.lock': Permission denied"
            raise RefusedError(f"cannot lock the index ({lock}: {exc.strerror}); nothing was written: check the "
                               f"permissions of the git folder, then update again") from None
        os.close(fd)
        _refuse_operation_in_progress(git_dir)
        # the re-check's git processes run while the new indexes are built
        recheck = _start_recheck(repo_root, head, sorted({*changed, *removed, *stages}), prefix)

        def checks() -> None:
            recheck()
            check_untracked(repo_root, [p for p in changed if p not in head_entries], result, set(removed),
                            {p for p, (mode, _sha) in head_entries.items() if mode == "160000"}, prefix)

        _write(repo_root, git_dir, head_entries, result, stages, changed, removed, final_index, work_index, checks,
               phase)
        os.replace(final_index, lock)
        locked = False  # the lock is the new index now, and no longer ours once in place
        os.replace(lock, git_dir / "index")
    finally:
        if locked:  # (once the new index replaced it, the lock is no longer ours to remove)
            lock.unlink(missing_ok=True)
        final_index.unlink(missing_ok=True)
        work_index.unlink(missing_ok=True)


def _start_recheck(repo_root: Path, head: str, paths: list[str], prefix: str) -> Callable[[], None]:
    """Start checking that HEAD is still ``head`` and that none of ``paths``
    (repository-relative) differs from HEAD in the index or on disk (a file staged at an
    added path included); the returned function waits and refuses.

    Raises:
        RefusedError: from the returned function, naming what changed.
    """
    # what the clean check ran, on these paths only: `git status` compares contents where
    # the index's stat data is stale (diff-index would list those files as changed), and
    # its --branch header names HEAD's commit. The paths go as literal arguments (status
    # reads no pathspec file), a few thousand a process; at least one process, for HEAD
    chunks = [paths[i:i + 2000] for i in range(0, len(paths), 2000)] or [[]]
    checks = [git.start(["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no", "--ignore-submodules=none",
                         "--no-renames", "--", *(chunk or [":(exclude)*"])], repo_root, env=git.LITERAL_PATHSPECS
                        if chunk else None) for chunk in chunks]
    # and, as the clean check, the flags that hide edits from status (set meanwhile)
    listings = [git.start(["ls-files", "-v", "-z", "--", *chunk], repo_root, env=git.LITERAL_PATHSPECS)
                for chunk in chunks if chunk]

    def verify() -> None:
        outs = [check.wait().stdout for check in checks]
        # the header "# branch.oid SHA" ("(initial)" before the first commit)
        head_now = next((rec.split()[2].decode() for rec in outs[0].split(b"\0") if rec.startswith(b"# branch.oid ")), "")
        moved = [path for out in outs for path, _kind, _sub in _changes(out)]
        moved += [path for listing in listings for _tag, path in _flagged(listing.wait().stdout)]
        if head_now != head:
            raise RefusedError("HEAD moved while the update ran (a commit, reset or checkout); nothing was written: "
                               "run the update again")
        if moved:
            names = ", ".join(printable(m[len(prefix):] if m.startswith(prefix) else m) for m in moved[:5])
            names += f" and {len(moved) - 5} more" if len(moved) > 5 else ""
            raise RefusedError(f"changed while the update ran: {names}; nothing was written: commit or stash the "
                               f"change, then run the update again")

    return verify


def _write(repo_root: Path, git_dir: Path, head_entries: Entries, result: Entries,
           stages: dict[str, dict[int, tuple[str, str]]], changed: list[str], removed: list[str],
           final_index: Path, work_index: Path, recheck: Callable[[], None], phase: Callable[[str], None]) -> None:
    """The files of :func:`write_result`, and its new index in ``final_index``.

    Both indexes are built first: ``work_index``, with every merged path at stage 0 (to
    check files out with git's own smudge/eol rules), and ``final_index``, with
    conflicts as stages (without conflicts they are one file). Then ``recheck()`` runs
    (it may refuse), and the files are written."""
    modified = [p for p in changed if p in head_entries]
    added = [p for p in changed if p not in head_entries]
    src_index = git_dir / "index"
    try:
        for idx in {work_index, final_index}:
            if src_index.exists():
                shutil.copyfile(src_index, idx)
            else:
                idx.unlink(missing_ok=True)
    except OSError as exc:  # a full disk
        raise CookiepatcherError(f"cannot copy the index ({exc.strerror}: {exc.filename}); nothing was written: "
                                 f"free some space, then update again") from None
    # git's null id, as long as the repository's ids (sha1 or sha256): "remove this path"
    null = "0" * len(next((sha for _mode, sha in (*head_entries.values(), *result.values())), "0" * 40))
    lines = [f"0 {null}\t{p}\0" for p in removed]
    lines += [f"{result[p][0]} {result[p][1]}\t{p}\0" for p in changed]
    blob = "".join(lines).encode("utf-8", "surrogateescape")
    conflict_lines = []
    for p, st in sorted(stages.items()):
        conflict_lines.append(f"0 {null}\t{p}\0")
        conflict_lines += [f"{mode} {sha} {n}\t{p}\0" for n, (mode, sha) in sorted(st.items())]
    final_blob = blob + "".join(conflict_lines).encode("utf-8", "surrogateescape")
    try:
        if stages:
            git.run(["update-index", "-z", "--index-info"], repo_root, env={"GIT_INDEX_FILE": str(work_index)}, input=blob)
        git.run(["update-index", "-z", "--index-info"], repo_root, env={"GIT_INDEX_FILE": str(final_index)},
                input=final_blob)
    except git.GitError as exc:  # a full disk; or git refusing an entry its own merge made ("null sha1")
        way_out = ("a newer git may take it, or make that part of the template's change by hand" if "null sha1" in str(exc)
                   else "fix the cause (disk space?), then update again")
        raise CookiepatcherError(f"git could not build the merged index ({exc}); nothing was written: {way_out}") from None
    recheck()

    def checkout(paths: list[str]) -> None:
        paths = [p for p in paths if result[p][0] != "160000"]  # submodules: index only
        if not paths:
            return
        data = "".join(p + "\0" for p in paths).encode("utf-8", "surrogateescape")
        # -u: the index takes the new files' stat data, so `git status` need not read them
        git.run(["checkout-index", "-f", "-u", "-z", "--stdin"], repo_root,
                env={"GIT_INDEX_FILE": str(work_index)}, input=data, die_with_parent=True)

    # One checkout for modified and added files, after the deletions, unless an added
    # path and a deleted one are a file and a folder of the same name (the deletion must
    # then come between the two checkouts)
    gone, new = set(removed), set(added)
    together = not any(parent in gone for p in added for parent in _parents(p)) and \
        not any(parent in new for p in removed for parent in _parents(p))
    try:  # (from here on the working tree changes)
        phase("write-modified")
        if not together:
            checkout(modified)
        phase("write-deleted")
        for p in removed:
            _remove(repo_root / p, repo_root)
        phase("write-added")
        checkout(modified + added if together else added)
        phase("write-index")
        if work_index != final_index:  # the stat data went to the work index: read it again
            git.run(["update-index", "-q", "--refresh"], repo_root, env={"GIT_INDEX_FILE": str(final_index)}, ok_codes=(0, 1))
    except (git.GitError, OSError) as exc:  # a smudge filter failing (git-lfs offline), a full disk
        reason = str(exc) if isinstance(exc, git.GitError) else f"{exc.strerror}: {exc.filename}"
        raise CookiepatcherError(f"writing the result failed midway ({reason}); some files are written, the index is "
                                 f"not: fix the cause, then `git checkout -- .` restores them") from None
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM
        raise WriteInterrupted() from None

