"""``cookiepatcher update``: replay a template change onto a project as a three-way merge.

base = render at the recorded commit with the recorded answers, theirs = render at the
target commit with the same answers (plus new questions and ``--set`` changes), ours =
the project's committed tree. The merge (:mod:`cookiepatcher.merge`) and every check run
before anything is written; then :func:`cookiepatcher.apply.write_result` writes the
working tree and index the way ``git merge`` leaves them. Nothing is committed.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cookiepatcher import git, incremental, plainrender, render, rendercache
from cookiepatcher.answers import coerce, not_unicode, printable
from cookiepatcher.apply import check_untracked, start_clean_check, write_result
from cookiepatcher.errors import CookiepatcherError, RefusedError
from cookiepatcher.merge import merge_renders, repo_attributes
from cookiepatcher.project import Project, locate, render_at
from cookiepatcher.record import RECORD_FILE, Record, check_recordable, dumps_record, load_record, public_context
from cookiepatcher.source import TemplateSource, open_template

#: render the two sides of an incremental upgrade side by side (a forked child renders
#: the base); ``cookiepatcher fleet`` turns it off, its parallelism is across repositories
PARALLEL_RENDERS = True

#: the project's settings an update reads (renders, merge, partial clones), in one git process
_CONFIG_KEYS = r"^(core|filter|merge)\.|^extensions\.partialclone$|^remote\..*\.promisor$"

STATUSES = ("updated", "added", "deleted", "renamed", "conflicted", "kept-deleted", "skipped")


@dataclass
class FileOutcome:
    """What an upgrade did to one path (relative to the project folder, posix).

    ``status`` is one of :data:`STATUSES`; ``old_path`` is set for ``renamed``.
    """

    path: str
    status: str
    old_path: str | None = None


@dataclass
class UpdateResult:
    """The result of :func:`update_project`.

    Attributes:
        from_commit / to_commit: template shas (recorded, target).
        to_ref: the branch or tag followed (``None`` = default branch).
        up_to_date: nothing to do.
        files: per-path outcomes, sorted by path.
        defaulted: new questions that took their default (``--no-input``), name -> value.
        asked: new questions answered interactively, name -> value.
        diff: unified diff of the project before/after (text files), for ``--dry-run``.
        dry_run: nothing was written.
    """

    from_commit: str
    to_commit: str
    to_ref: str | None
    up_to_date: bool = False
    files: list[FileOutcome] = field(default_factory=list)
    defaulted: dict[str, Any] = field(default_factory=dict)
    asked: dict[str, Any] = field(default_factory=dict)
    diff: str = ""
    dry_run: bool = False

    @property
    def conflicts(self) -> list[str]:
        """Paths left conflicted."""
        return [f.path for f in self.files if f.status == "conflicted"]

    @property
    def exit_code(self) -> int:
        """0 done or up to date, 1 done with conflicts."""
        return 1 if self.conflicts else 0

    def to_json(self) -> dict[str, Any]:
        """Machine-readable form (``--json``)."""
        return {
            "from_commit": self.from_commit,
            "to_commit": self.to_commit,
            "to_ref": self.to_ref,
            "up_to_date": self.up_to_date,
            "dry_run": self.dry_run,
            "files": [{"path": f.path, "status": f.status, **({"old_path": f.old_path} if f.old_path else {})} for f in self.files],
            "conflicts": self.conflicts,
            "defaulted": self.defaulted,
            "asked": self.asked,
        }


def _outcomes(prefix: str, merge, skip_changed: list[str]) -> list[FileOutcome]:
    # the merge changes nothing outside the project folder, so renames pair as in a
    # diff limited to it
    files: dict[str, FileOutcome] = {}
    for status, path, _mode, _sha in merge.changes:
        if not path.startswith(prefix):
            continue
        rel = path[len(prefix):]
        if status[0] == "R":
            files[rel] = FileOutcome(rel, "renamed", status[1 + len(prefix):])
        else:
            files[rel] = FileOutcome(rel, {"A": "added", "D": "deleted"}.get(status, "updated"))
    files.pop(RECORD_FILE, None)
    for path in merge.stages:
        rel = path[len(prefix):]
        files[rel] = FileOutcome(rel, "conflicted")
    for path in merge.kept_deleted:
        rel = path[len(prefix):]
        files[rel] = FileOutcome(rel, "kept-deleted")
    for rel in skip_changed:
        files.setdefault(rel, FileOutcome(rel, "skipped"))
    return sorted(files.values(), key=lambda f: f.path)


def _with_blobs(render_side: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, dict[str, bytes]]:
    """``(entries, blobs)`` of ``render_side(*args, pending=blobs, **kwargs)``: the render's
    entries and the blobs it left for the caller to write (``render_at``'s ``pending``)."""
    blobs: dict[str, bytes] = {}
    return render_side(*args, pending=blobs, **kwargs)[1], blobs


def _in_child(work: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``work()`` in a forked child process; return a function that waits for it
    and returns its result (or raises its :class:`CookiepatcherError`).

    The child dies with this process (``PR_SET_PDEATHSIG``), so a killed update leaves
    no render running.
    """
    import pickle

    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            if sys.platform == "linux":
                git._die_with_parent()
            try:
                payload = pickle.dumps(("ok", work()))
            except CookiepatcherError as exc:
                payload = pickle.dumps(("error", exc))
            except BaseException as exc:  # a bug: report it in the parent
                payload = pickle.dumps(("bug", f"{type(exc).__name__}: {exc}"))
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
        finally:
            for stream in (sys.stdout, sys.stderr):  # what the render printed (os._exit does not flush)
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(0)
    os.close(write_fd)

    def join() -> Any:
        with os.fdopen(read_fd, "rb") as inp:
            data = inp.read()
        os.waitpid(pid, 0)
        if not data:
            raise RuntimeError("the base render process died without a result")
        kind, value = pickle.loads(data)
        if kind == "error":
            raise value
        if kind == "bug":
            raise RuntimeError(f"base render failed: {value}")
        return value

    return join


def update_project(
    project_dir: Path,
    *,
    checkout: str | None = None,
    directory: str | None = None,
    no_input: bool = True,
    set_answers: dict[str, str] | None = None,
    dry_run: bool = False,
    offline: bool = False,
    ask: Callable[[str, Any, list[Any] | None], Any] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> UpdateResult:
    """Upgrade the project in ``project_dir`` to the template's target commit.

    Args:
        project_dir: the project folder (holds ``cookiepatcher.json``; may be a
            subfolder of a larger repository).
        checkout: branch, tag or commit to update to, recorded as the new followed ref;
            ``None`` = the recorded ``checkout`` (or the default branch).
        directory: new template subfolder, when the template moved it.
        no_input: new questions take their defaults (reported in ``defaulted``).
        set_answers: ``{name: value}`` answer changes applied in the same upgrade.
        dry_run: compute everything and return the outcome and diff; write nothing.
        offline: never fetch the template.
        ask: ``ask(name, default, choices)`` used for new questions when not ``no_input``.
        on_phase: callback receiving phase names (render, merge, write-...).

    Returns:
        :class:`UpdateResult` (``exit_code`` 1 when conflicts were left).

    Raises:
        RefusedError / TemplateError / RecordError (all :class:`CookiepatcherError`):
            with nothing changed.
    """
    phase = on_phase or (lambda name: None)
    record = load_record(Path(project_dir))  # first: "not a project" beats "not in git"
    check_recordable("--checkout", checkout)
    check_recordable("--directory", directory)
    project = locate(project_dir)
    # the render code loads while git clones or fetches the template (not when nothing
    # is fetched: the renders may then all come from the cache). For an upgrade that may
    # render incrementally, that is the code of renders without cookiecutter, which most
    # of them are (cookiecutter and Jinja, ~0.1 s, load only for a render that needs
    # them); new answers or a new template folder mean full renders by cookiecutter.
    full = bool(set_answers) or (directory is not None and directory != record.directory)
    preloader = render.Preloader(None if full else plainrender.preload)
    with _update_lock(project.root), contextlib.ExitStack() as stack:
        stack.callback(preloader.wait)  # no thread outlives the call
        verify_clean = start_clean_check(project.root, project.prefix, dry_run=dry_run)  # its git processes run beside ls-tree
        # and beside the template's clone or fetch, as do the reads of the project's settings
        config = git.start_config_values(project.root, _CONFIG_KEYS)
        stack.callback(config)  # (collected whatever happens)
        git.start_die_with_parent_probe()  # (for the checkout that writes the result)
        stack.callback(git.finish_die_with_parent_probe)
        source = open_template(record.template, offline=offline, on_fetch=preloader.start)
        stack.callback(source.settle)
        if source.fetched:  # a new mirror: nothing of it is cached, its renders read its settings
            source.start_checkout_config()
        head_entries = git.ls_tree(project.root, project.head)
        verify_clean()
        if project.prefix + RECORD_FILE not in head_entries:
            raise RefusedError(f"{RECORD_FILE} is not committed; commit it first (`git add {RECORD_FILE} && git commit`)")
        return _update(project, record, head_entries, checkout=checkout, directory=directory, no_input=no_input,
                       set_answers=set_answers, dry_run=dry_run, offline=offline, ask=ask, phase=phase, preloader=preloader,
                       source=source, config=config)


@contextlib.contextmanager
def _update_lock(root: Path) -> Iterator[None]:
    """One update at a time per repository: an OS lock (``flock``) on the ``.git`` folder
    itself, so no lock file is left behind and a killed process releases it.

    Raises:
        RefusedError: another update holds it.
    """
    try:
        import fcntl
    except ImportError:  # no flock on this platform: run unlocked
        yield
        return
    fd = os.open(git.git_dir(root), os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefusedError("another cookiepatcher update is running in this repository; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def _update(project, record, head_entries, *, checkout, directory, no_input, set_answers, dry_run, offline, ask,
            phase, preloader: render.Preloader | None = None, source: TemplateSource | None = None,
            config: Callable[[], list[tuple[str, str]]] | None = None) -> UpdateResult:
    """The body of :func:`update_project`, run under the repository's update lock."""
    with tempfile.TemporaryDirectory(prefix="cookiepatcher-") as tmp:
        scratch = Path(tmp)
        result, upgrade = _compute(project, record, head_entries, scratch, checkout=checkout, directory=directory,
                                   no_input=no_input, set_answers=set_answers, offline=offline, ask=ask, phase=phase,
                                   preloader=preloader, source=source, config=config)
        result.dry_run = dry_run
        if upgrade is None:
            return result
        new_tree, entries, merge = upgrade
        creates = [p for p in entries if p not in head_entries]
        check_untracked(project.root, creates, entries, {p for p in head_entries if p not in entries},
                        {p for p, (mode, _sha) in head_entries.items() if mode == "160000"}, project.prefix)
        if dry_run:
            result.diff = git.out(["diff", "--no-color", "-M", f"--relative={project.prefix}" if project.prefix else "--relative",
                                   f"{project.head}^{{tree}}", new_tree], project.root)
            return result
        write_result(project.root, project.head, head_entries, entries, merge.stages, scratch, on_phase=phase,
                     prefix=project.prefix)
    return result


def upgrade_tree(root: Path, commit: str, prefix: str, record: Record, *, offline: bool = False,
                 render_cache: bool = True, source: TemplateSource | None = None,
                 head_tree: str | None = None) -> tuple[UpdateResult, str | None]:
    """Compute the upgrade of the project at ``prefix`` in ``commit`` without a working tree.

    What the bot commits: the same merge as :func:`update_project` with ``no_input``
    (new questions take their defaults), but only git objects are written, in ``root``'s
    object database; no working tree, index or ref changes. Conflicted text files hold
    conflict markers in the returned tree, as ``git merge-tree`` writes them.

    Args:
        root: a git repository (bare or not) holding ``commit``.
        commit: the project's commit (ours).
        prefix: the project folder inside the repository, ``""`` or ending in ``/``.
        record: the record committed at ``commit`` (:func:`cookiepatcher.record.parse_record`).
        offline: never fetch the template.
        render_cache: use and fill the render cache (:mod:`cookiepatcher.rendercache`).
        source: the record's template, already opened by the caller (its lookups are
            reused: the same target commit, no second look at the mirror).
        head_tree: the tree of ``commit``, when the caller has it.

    Returns:
        ``(result, tree)``: the outcome and the sha of the upgraded tree (``None`` when
        there is nothing to do; ``result.up_to_date`` is then true).

    Raises:
        CookiepatcherError: as :func:`update_project`, except the work-tree refusals.
    """
    root = Path(root)
    head_tree = head_tree or git.out(["rev-parse", f"{commit}^{{tree}}"], root)
    project = Project(folder=root / prefix, root=root, prefix=prefix, head=commit, head_tree=head_tree)
    head_entries = git.ls_tree(root, commit)
    if prefix + RECORD_FILE not in head_entries:
        raise RefusedError(f"{prefix}{RECORD_FILE} is not committed at {commit[:12]}")
    with tempfile.TemporaryDirectory(prefix="cookiepatcher-") as tmp:
        result, upgrade = _compute(project, record, head_entries, Path(tmp), checkout=None, directory=None, no_input=True,
                                   set_answers=None, offline=offline, ask=None, phase=lambda name: None,
                                   render_cache=render_cache, source=source)
    return result, upgrade[0] if upgrade else None


def _check_choices(source: TemplateSource, target: str, directory: str | None, answers: dict[str, Any],
                   set_answers: dict[str, str]) -> None:
    """Refuse a ``--set`` value that is not one of a choice question's options at the
    target commit, as cookiecutter refuses such extra context
    (``cookiecutter.generate.apply_overwrites_to_context``).

    Raises:
        RefusedError: naming the question and its options.
    """
    import json

    raw = source.read_file(target, f"{directory.strip('/')}/cookiecutter.json" if directory else "cookiecutter.json")
    try:
        questions = json.loads(raw) if raw is not None else {}
    except ValueError:  # the render reports a broken cookiecutter.json
        return
    for key in set_answers:
        options = questions.get(key) if isinstance(questions, dict) else None
        if isinstance(options, list) and options and answers[key] not in options:
            shown = ", ".join(str(o) for o in options)
            raise RefusedError(f"--set {key}={set_answers[key]}: not one of the template's choices ({shown}); pick one of them")


def _compute(project, record, head_entries, scratch: Path, *, checkout, directory, no_input, set_answers, offline, ask,
             phase, render_cache: bool = True, preloader: render.Preloader | None = None,
             source: TemplateSource | None = None, config: Callable[[], list[tuple[str, str]]] | None = None,
             ) -> tuple[UpdateResult, tuple[str, dict[str, tuple[str, str]], Any] | None]:
    """Render, merge and build the upgraded tree in ``project.root``'s object database;
    write nothing else. Returns the result and ``(new_tree, entries, merge)``, or ``None``
    in its place when there is nothing to do. ``config``: the project's settings
    (:data:`_CONFIG_KEYS`), already being read."""
    source = source or open_template(record.template, offline=offline)
    ref = checkout if checkout is not None else record.checkout
    directory = directory if directory is not None else record.directory
    # "is the recorded commit there?" and "has it a cookiecutter.json?" are answered by
    # the git process that resolves the target
    source.preload([record.commit], [(record.commit, record.directory)])
    target = source.resolve(ref, [directory])
    if not source.has_commit(record.commit):
        raise RefusedError(f"recorded template commit {record.commit[:12]} is no longer in {record.template} (history rewritten?); re-link with `cookiepatcher link {record.template} --commit SHA`")

    answers = dict(record.context)
    for key, value in (set_answers or {}).items():
        try:
            answers[key] = coerce(value, record.context.get(key, value))
        except ValueError as exc:
            raise RefusedError(f"--set {key}: {exc}") from None
        # (a JSON answer may hold a \udXXX escape; the command line's bytes are refused when parsed)
        if not_unicode(key) or not_unicode(answers[key]):
            raise RefusedError(f"--set {printable(key)}: the answer is not UTF-8 text (it holds a lone surrogate); pass UTF-8")
    if set_answers:
        _check_choices(source, target, directory, answers, set_answers)
    new_ref = ref
    result = UpdateResult(from_commit=record.commit, to_commit=target, to_ref=new_ref)
    if target == record.commit and not set_answers and directory == record.directory and new_ref == record.checkout:
        result.up_to_date = True
        return result, None
    # Render only what the change can affect, unless told otherwise (the equivalence
    # tests force full renders with COOKIEPATCHER_FULL_RENDER=1 and compare).
    # What the files of both commits may read (one git grep, remembered): the planner
    # and the render cache keys need it.
    reads = rendercache.cached_reads(source.repo, [(record.commit, record.directory), (target, directory)])
    only = None
    if os.environ.get("COOKIEPATCHER_FULL_RENDER") != "1" and directory == record.directory:
        only = rendercache.cached_plan(source.repo, record.commit, target, directory, same_answers=not set_answers,
                                       checkout_changed=new_ref != record.checkout,
                                       reads={record.commit: reads[(record.commit, directory)], target: reads[(target, directory)]})

    phase("render")
    if preloader is not None:
        # a render imports the same modules (two threads importing modules that import
        # each other may see one half done), and a fork must not copy a half-done import
        preloader.wait()
    # the repository's folders are looked up once, before a render runs in a forked child
    source.has_paths([(record.commit, record.directory), (target, directory)])
    git.git_dir(project.root)
    parent = str(project.folder.parent)
    # renders are hashed under the project's attributes, as its own files were (a
    # monorepo's or the user's `* text=auto`)
    options: dict[str, Any] = {"attributes": repo_attributes(project.root, project.prefix, head_entries)}
    # one look at the repository's git settings serves both renders and the merge
    config = config() if config is not None else git.config_values(project.root, _CONFIG_KEYS)
    conflict_style = git.config_last(config, "merge.conflictstyle") or ""
    cached_renders = render_cache and rendercache.enabled()
    # a repository that stores files as they are gets its renders hashed without git
    # (their blobs go into the merge's fast-import with the cached ones)
    options.update(verbatim=options["attributes"] is None and rendercache.hashes_verbatim(project.root, config),
                   object_format=git.object_format(project.head))
    if cached_renders:
        # HEAD's blobs are all in the repository, except in a partial clone
        partial = any(k == "extensions.partialclone" or (k.endswith(".promisor") and git.config_true(v)) for k, v in config)
        options.update(cache_volatile=str(scratch), repo_fingerprint=rendercache.repo_fingerprint(project.root, config),
                       present=set() if partial else {sha for _mode, sha in head_entries.values()})
    base_render = functools.partial(
        render_at, project.root, source, record.commit, record.directory, dict(record.context),
        checkout=record.checkout, what="recorded commit", output_dir_value=parent,
        reads_output_dir=rendercache.reads_output_dir(reads[(record.commit, record.directory)]), **options)
    decided: dict[str, Any] = {}
    theirs_render = functools.partial(
        render_at, project.root, source, target, directory, answers, checkout=new_ref, what="target",
        ask=None if no_input else ask, decided=decided, output_dir_value=parent,
        reads_output_dir=rendercache.reads_output_dir(reads[(target, directory)]), **options)
    # blobs of cached renders: written by the merge's git fast-import, not one process each
    pending: dict[str, bytes] = {}
    if only:
        # Incremental renders have no hooks, so they may run side by side in two
        # folders, with the same _repo_dir shown to the template.
        same = str(scratch / "template")
        base_only, target_only = (only.root, only.base_paths), (only.root, only.target_paths)
        if options["verbatim"]:  # renders from blobs: both sides' blobs with one git process
            for sha, paths in ((target, only.target_paths), (record.commit, only.base_paths)):
                listing = incremental.commit_files(source.repo, sha)
                source.want_blobs([listing[p][1] for p in paths if p in listing])
        # cached (this upgrade ran before, e.g. its --dry-run) or rendered from the blobs
        # without a file: no child process needed
        cached = base_render(scratch / "base", repo_dir_value=same, only=base_only, quick_only=True, pending=pending)
        if cached is not None:
            base_entries = cached[1]
            theirs, theirs_entries = theirs_render(scratch / "theirs", repo_dir_value=same, only=target_only, pending=pending)
        elif hasattr(os, "fork") and PARALLEL_RENDERS:
            source.checkout_fingerprint()  # looked up once, for both sides
            # the child's blobs come back with its entries, for the merge's fast-import
            join = _in_child(lambda: _with_blobs(base_render, scratch / "base", repo_dir_value=same, only=base_only))
            theirs, theirs_entries = theirs_render(scratch / "theirs", repo_dir_value=same, only=target_only, pending=pending)
            base_entries, base_blobs = join()
            pending.update(base_blobs)
        else:
            base_entries = base_render(scratch / "base", repo_dir_value=same, only=base_only, pending=pending)[1]
            theirs, theirs_entries = theirs_render(scratch / "theirs", repo_dir_value=same, only=target_only, pending=pending)
        ours = {p[len(project.prefix):] for p in head_entries if p.startswith(project.prefix)}
        if not incremental.pairs_like_full(base_entries, theirs_entries, ours, only.new_folders):
            only = None
            decided.clear()
    if not only:
        base_entries = base_render(scratch, pending=pending)[1]
        theirs, theirs_entries = theirs_render(scratch, pending=pending)
    (result.defaulted if no_input or ask is None else result.asked).update(decided)
    unknown = sorted(set(set_answers or {}) - set(theirs.context))
    if unknown:
        raise RefusedError(f"--set {unknown[0]}: the template has no such question; check the name against its "
                           f"cookiecutter.json")

    phase("merge")
    new_record = Record(template=record.template, commit=target, context=public_context(theirs.context),
                        directory=directory, checkout=new_ref, skip=record.skip)
    merge = merge_renders(project.root, project.prefix, project.head, base_entries, theirs_entries, record.skip,
                          theirs_label=f"template-{new_ref or target[:12]}",
                          base_label=f"template-{record.commit[:12]}", scratch=scratch,
                          head_entries=head_entries, head_tree=project.head_tree,
                          record=dumps_record(new_record).encode("utf-8"), conflict_style=conflict_style,
                          pending_blobs=pending)
    entries, new_tree = dict(merge.entries), merge.tree

    skip_changed = []
    if record.skip:
        import pathspec

        spec = pathspec.GitIgnoreSpec.from_lines(record.skip)
        skip_changed = [p for p in set(base_entries) | set(theirs_entries)
                        if spec.match_file(p) and base_entries.get(p) != theirs_entries.get(p)]
    result.files = _outcomes(project.prefix, merge, skip_changed)
    only_record = not result.files and entries.get(project.prefix + RECORD_FILE) == head_entries.get(project.prefix + RECORD_FILE)
    if target == record.commit and only_record:
        result.up_to_date = True
        return result, None
    return result, (new_tree, entries, merge)
