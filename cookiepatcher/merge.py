"""The three-way merge of a template upgrade, done entirely in git objects.

base = render at the recorded commit, theirs = render at the target commit, ours = the
project's committed tree. The renders become trees in the project's object database;
the project tree with its folder replaced by each render gives full-repository trees,
so a project in a subfolder of a larger repository works the same way. Synthetic
commits ``O`` (ours) and ``T`` (theirs) share the parent ``B`` (base), and
``git merge-tree --write-tree O T`` (merge-ort, git >= 2.38) merges them with git's own
rules for renames, binary files, modes, modify/delete and add/add. Nothing here touches
the working tree or the repository's index: see :mod:`cookiepatcher.apply`.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cookiepatcher import git
from cookiepatcher.answers import printable
from cookiepatcher.errors import CookiepatcherError
from cookiepatcher.record import RECORD_FILE

Entries = dict[str, tuple[str, str]]  # path -> (mode, sha)
RepoAttributes = tuple[str, dict[str, bytes]]  # (project prefix, {folder: .gitattributes bytes})


@dataclass
class MergeResult:
    """Outcome of :func:`merge_renders`, all paths relative to the repository root.

    Attributes:
        tree: sha of the merged tree (conflicted text files hold conflict markers; for
            binary and modify/delete conflicts the tree holds our version, as git does).
        entries: the merged tree's entries.
        stages: unmerged paths -> ``{stage: (mode, sha)}`` (1 base, 2 ours, 3 theirs).
        kept_deleted: paths the user deleted that the template changed; they stay deleted.
        messages: git's messages, ``[(paths, conflict type, message)]``.
        base_entries / theirs_entries / ours_entries: the three input trees' entries.
        changes: the merged tree against ours (:func:`cookiepatcher.git.diff_trees`).
    """

    tree: str
    entries: Entries
    stages: dict[str, dict[int, tuple[str, str]]]
    kept_deleted: list[str]
    messages: list[tuple[list[str], str, str]]
    base_entries: Entries = field(default_factory=dict)
    theirs_entries: Entries = field(default_factory=dict)
    ours_entries: Entries = field(default_factory=dict)
    changes: list[tuple[str, str, str, str | None]] = field(default_factory=list)


def _apply_changes(entries: Entries, changes: list[tuple[str, str, str, str | None]]) -> Entries:
    """``entries`` with ``changes`` (:func:`cookiepatcher.git.diff_trees`) applied."""
    result = dict(entries)
    for status, path, mode, sha in changes:
        if status[0] == "R":
            result.pop(status[1:], None)
        if status == "D":
            result.pop(path, None)
        else:
            result[path] = (mode, sha)  # type: ignore[assignment]
    return result


def tree_from_dir(repo: Path, folder: Path, scratch: Path, attributes: RepoAttributes | None = None) -> Entries:
    """Hash every file below ``folder`` into ``repo``'s object database; return its entries.

    Uses ``git add -A -f`` with a private index and ``folder`` as work tree, so blobs are
    exactly what ``git add`` in the project would store (ignore rules bypassed, modes
    and symlinks kept, the project's attribute rules applied).

    Args:
        attributes: ``(prefix, {folder: bytes})`` from :func:`repo_attributes`: the
            project folder inside its repository and the project's ``.gitattributes``
            files by folder (repository-relative; ``""`` = the root). ``folder`` is
            hashed at ``prefix`` below those of the folders above it, and with those
            inside the project where the render has none of its own (a user's
            ``* text=auto``), as ``git add`` in the project would; the files placed for
            this are not part of the result.
    """
    if not attributes or not attributes[1]:
        return _add_and_list(repo, folder, scratch, ".")
    prefix, files = attributes
    root = scratch / f"attributes-{folder.name}" if prefix else folder
    placed = root / prefix.rstrip("/") if prefix else folder
    placed_parent_made = False
    if prefix:
        placed.parent.mkdir(parents=True, exist_ok=True)
        os.rename(folder, placed)
        placed_parent_made = True
    injected: list[Path] = []
    try:
        for where, data in files.items():
            target = root / where / ".gitattributes" if where else root / ".gitattributes"
            if (where + "/").startswith(prefix) or not prefix:  # inside the project folder
                if os.path.lexists(target):
                    continue  # the render's own file rules there
                injected.append(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        entries = _add_and_list(repo, root, scratch, prefix.rstrip("/") or ".")
    finally:
        for target in injected:
            target.unlink(missing_ok=True)
        if placed_parent_made:
            os.rename(placed, folder)
    placed_files = {t.relative_to(root).as_posix() for t in injected}
    return {p[len(prefix):]: e for p, e in entries.items() if p not in placed_files}


def _add_and_list(repo: Path, work: Path, scratch: Path, pathspec: str) -> Entries:
    index = scratch / f"index-{work.name}"
    index.unlink(missing_ok=True)
    env = {"GIT_INDEX_FILE": str(index), "GIT_WORK_TREE": str(work), "GIT_DIR": str(git.git_dir(repo))}
    # the project's sparse checkout (its patterns are for its own work tree) must not keep
    # the render's files out
    git.run(["-c", "core.fileMode=true", "-c", "core.symlinks=true", "-c", "core.sparseCheckout=false",
             "add", "-A", "-f", "--", pathspec], work, env=env)
    raw = git.run(["ls-files", "-s", "-z"], work, env=env).stdout
    entries: Entries = {}
    for rec in raw.split(b"\0"):
        if rec:
            meta, path = rec.split(b"\t", 1)
            mode, sha, _stage = meta.decode().split()
            entries[path.decode("utf-8", "surrogateescape")] = (mode, sha)
    return entries


def repo_attributes(repo: Path, prefix: str, ours: Entries) -> RepoAttributes | None:
    """The ``.gitattributes`` files of ``ours`` (repository-relative entries) that apply
    to the project folder ``prefix``: those of the folders above it and those inside it,
    for :func:`tree_from_dir`; ``None`` when there are none."""
    parts = prefix.rstrip("/").split("/") if prefix else []
    above = {"/".join(parts[:i]) for i in range(len(parts))}
    found: dict[str, str] = {}
    for path, (mode, sha) in ours.items():
        if (path != ".gitattributes" and not path.endswith("/.gitattributes")) or mode not in ("100644", "100755"):
            continue
        where = path[: -len("/.gitattributes")] if "/" in path else ""
        if where in above or (where + "/").startswith(prefix):
            found[where] = sha
    if not found:
        return None
    blobs = git.read_blobs(repo, list(found.values()))
    return prefix, {where: blobs[sha] for where, sha in sorted(found.items())}


def graft(outer: Entries, prefix: str, inner: Entries) -> Entries:
    """``outer`` with everything under ``prefix`` replaced by ``inner`` (paths relative to prefix)."""
    merged = {p: e for p, e in outer.items() if not p.startswith(prefix)} if prefix else {}
    merged.update({prefix + p: e for p, e in inner.items()})
    return merged


def _parse_merge_tree(raw: bytes) -> tuple[str, dict[str, dict[int, tuple[str, str]]], list[tuple[list[str], str, str]]]:
    """Parse ``git merge-tree --write-tree -z`` output (git-merge-tree(1), OUTPUT)."""
    head, _sep, msgs = raw.partition(b"\0\0")
    parts = head.split(b"\0")
    tree = parts[0].decode()
    stages: dict[str, dict[int, tuple[str, str]]] = {}
    for rec in parts[1:]:
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, sha, stage = meta.decode().split()
        stages.setdefault(path.decode("utf-8", "surrogateescape"), {})[int(stage)] = (mode, sha)
    messages: list[tuple[list[str], str, str]] = []
    fields = msgs.split(b"\0")
    i = 0
    while i < len(fields) and fields[i]:
        try:
            n = int(fields[i])
        except ValueError:
            break
        paths = [f.decode("utf-8", "surrogateescape") for f in fields[i + 1:i + 1 + n]]
        kind = fields[i + 1 + n].decode("utf-8", "replace")
        text = fields[i + 2 + n].decode("utf-8", "replace").strip()
        messages.append((paths, kind, text))
        i += 3 + n
    return tree, stages, messages


def _relabel_base(repo: Path, entries: Entries, stages: dict[str, dict[int, tuple[str, str]]], base: str, label: str) -> bool:
    """Name the base in diff3 markers after the template version, not the synthetic commit.

    merge-tree labels the base section ``||||||| <abbreviated merge-base id>``; that id
    is a throwaway commit, so rewrite the line to ``||||||| <label>`` in conflicted files.
    """
    marker = re.compile(rb"^\|{7} ([0-9a-f]{4,64})(?::[^\r\n]*)?(?=\r?$)", re.M)  # (a CRLF file's lines end in \r)
    changed = False
    for path in stages:
        if path not in entries or entries[path][0] not in ("100644", "100755"):
            continue
        data = git.run(["cat-file", "blob", entries[path][1]], repo).stdout
        new = marker.sub(lambda m: b"||||||| " + label.encode() if base.startswith(m.group(1).decode()) else m.group(0), data)
        if new != data:
            sha = git.out(["hash-object", "-w", "--stdin"], repo, input=new)
            entries[path] = (entries[path][0], sha)
            changed = True
    return changed


def _config_quote(value: str) -> str:
    """``value`` escaped for a double-quoted git config value (``git-config(1)``, Syntax:
    backslash, double quote, newline and tab are escaped; every other byte is itself)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


def _inherit_settings(repo: Path, shadow: Path, ours: Entries, object_format: str = "sha1") -> None:
    """Give the shadow repository the project's config and attributes, so merge drivers
    (``merge=union``, custom ``merge.<name>.driver``), rename settings and conflict style
    apply as they do for ``git merge`` in the project.

    The project's ``.gitattributes`` files (from HEAD; the tree is clean) become the
    shadow's ``info/attributes``, patterns re-rooted at the repository root.
    """
    config = git.git_dir(repo) / "config"
    common = git.objects_dir(repo).parent / "config"
    # (quoted as git reads a config value: a path may hold `#`, `;`, quotes or any byte)
    includes = "".join(f'\tpath = "{_config_quote(os.fsdecode(c))}"\n' for c in dict.fromkeys((common, config)) if c.exists())
    # the shadow's own format lines come last: included files must not override them
    if includes:
        text = f"[include]\n{includes}{git.shadow_config(object_format)}[core]\n\tworktree =\n"
        (shadow / "config").write_bytes(text.encode("utf-8", "surrogateescape"))
    lines: list[str] = []
    attributes = sorted((path, sha) for path, (mode, sha) in ours.items()
                        if (path == ".gitattributes" or path.endswith("/.gitattributes")) and mode != "120000")
    blobs = git.read_blobs(repo, [sha for _path, sha in attributes])  # one git process for all of them
    for path, sha in attributes:
        folder = path[: -len(".gitattributes")]
        for line in blobs.get(sha, b"").decode("utf-8", "surrogateescape").rstrip("\n").splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or not folder:
                lines.append(line)
                continue
            pattern, _sep, attrs = stripped.partition(" ")
            if "/" in pattern.rstrip("/"):
                pattern = folder + pattern.lstrip("/")
            else:
                pattern = folder + "**/" + pattern
            lines.append(f"{pattern} {attrs}")
    info = git.git_dir(repo) / "info" / "attributes"
    if info.exists():
        lines.extend(info.read_bytes().decode("utf-8", "surrogateescape").splitlines())
    if lines:
        (shadow / "info").mkdir(exist_ok=True)
        (shadow / "info" / "attributes").write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))


def _label(name: str) -> str:
    """A ref-name-safe conflict label (``git check-ref-format`` rules, loosely)."""
    return re.sub(r"[^A-Za-z0-9._/@-]+", "-", name).strip("-./") or "template"


def merge_renders(
    repo: Path,
    prefix: str,
    head: str,
    base_render: Entries,
    theirs_render: Entries,
    skip: list[str],
    *,
    theirs_label: str,
    base_label: str = "template-base",
    scratch: Path,
    head_entries: Entries | None = None,
    head_tree: str | None = None,
    record: bytes | None = None,
    conflict_style: str | None = None,
    pending_blobs: Mapping[str, bytes] | None = None,
) -> MergeResult:
    """Merge a template change (``base_render`` -> ``theirs_render``) into ``head``.

    Args:
        repo: the project's repository (any folder inside it).
        prefix: the project folder relative to the repository root, ``""`` or ending in ``/``.
        head: sha of the project's current commit (ours).
        base_render / theirs_render: entries of the two renders, relative to the project folder.
        skip: gitignore-style patterns (relative to the project folder) that keep ours.
        theirs_label: name shown on the theirs side of conflict markers.
        base_label: name shown on the base part of diff3-style markers.
        scratch: a private temporary folder.
        head_entries / head_tree: ``head``'s entries and tree when the caller has them.
        record: the new ``cookiepatcher.json`` (bytes): the merged tree holds it. Without
            it, the project's record is kept.
        conflict_style: the project's ``merge.conflictStyle`` when the caller has read
            its config ("" = not set: diff3); looked up when ``None``.
        pending_blobs: blobs the renders name that are not in ``repo`` yet
            (``{sha: bytes}``, e.g. from the render cache): written with the merge inputs.

    Returns:
        :class:`MergeResult`; the user-deleted-file policy is already applied.
    """
    ours = dict(head_entries) if head_entries is not None else git.ls_tree(repo, head)
    project_ours = {p[len(prefix):]: e for p, e in ours.items() if p.startswith(prefix)}
    base_render = {p: e for p, e in base_render.items() if p != RECORD_FILE}
    theirs_render = {p: e for p, e in theirs_render.items() if p != RECORD_FILE}
    if skip:
        import pathspec  # only projects with skip patterns pay for the import

        spec = pathspec.GitIgnoreSpec.from_lines(skip)
        for side in (base_render, theirs_render):
            for p in [p for p in side if spec.match_file(p)]:
                del side[p]
            for p, e in project_ours.items():
                if spec.match_file(p):
                    side[p] = e
    # The record is the project's in the base, so it never conflicts: the merge takes the
    # new one (``record``) from theirs, or keeps the project's when there is none.
    if RECORD_FILE in project_ours:
        base_render[RECORD_FILE] = theirs_render[RECORD_FILE] = project_ours[RECORD_FILE]
    if record is not None:
        theirs_render[RECORD_FILE] = ("100644", git.blob_mark(0))

    ours_tree = head_tree or git.out(["rev-parse", f"{head}^{{tree}}"], repo)
    # A throwaway repository sharing the project's object database names the sides, so
    # conflict markers read "HEAD" / "template-v2" rather than bare commit ids. The three
    # commits (the renders grafted onto the project's tree, and the project) are made
    # there by one git fast-import.
    object_format = git.object_format(head)
    shadow = git.make_shadow_repo(scratch / "shadow.git", object_format)
    objects = git.objects_dir(repo)
    b, t, o = git.synthetic_commits(shadow, objects, [
        ("template base render", git.tree_commands(ours_tree, prefix, base_render), ()),
        ("template target render", git.tree_commands(ours_tree, prefix, theirs_render), (0,)),
        ("project", git.tree_commands(ours_tree), (0,)),
    ], blobs=[record] if record is not None else [], known_blobs=(pending_blobs or {}).values())
    _inherit_settings(repo, shadow, ours, object_format)
    env = {"GIT_DIR": str(shadow), "GIT_OBJECT_DIRECTORY": str(objects)}
    label = _label(theirs_label)
    ref = shadow / "refs" / "heads" / label
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(t + "\n")
    (shadow / "HEAD").write_text(o + "\n")
    if conflict_style is None:
        conflict_style = git.run(["config", "merge.conflictStyle"], repo, check=False).stdout.decode().strip()
    proc = git.run(["-c", f"merge.conflictStyle={conflict_style or 'diff3'}", "merge-tree", "--write-tree", "-z",
                    "--messages", "HEAD", label], shadow, env=env, check=False)
    if proc.returncode not in (0, 1):
        git.version()  # names the real problem when git is too old for merge-tree --write-tree
        raise git.GitError(f"git merge-tree failed: {proc.stderr.decode('utf-8', 'replace').strip()[:300]}")
    tree, stages, messages = _parse_merge_tree(proc.stdout)
    # the merged tree is ours plus its changes (one diff-tree, which the report reads too)
    changes = git.diff_trees(repo, ours_tree, tree)
    entries = _apply_changes(ours, changes)
    empty = sorted(p for p, (_mode, sha) in entries.items() if not sha.strip("0"))
    if empty:  # seen with git 2.39: a folder the template renames, where the user made a subfolder a file
        raise CookiepatcherError(f"git's merge left {printable(empty[0][len(prefix):])} without content (`git merge` "
                                 f"fails on it too); nothing was written: make that part of the template's change by "
                                 f"hand, or update with a newer git")
    if record is not None and prefix + RECORD_FILE in entries:
        theirs_render[RECORD_FILE] = entries[prefix + RECORD_FILE]  # its sha, not the mark
    relabelled = _relabel_base(repo, entries, stages, b, _label(base_label))

    # Policy (issue: user deletions are kept): a path the user deleted that the template
    # changed comes back as modify/delete (no stage 2). Keep it deleted and report it.
    # Only git's modify/delete and rename/delete conflicts qualify: other conflicts also
    # leave a path without stage 2 (e.g. the "path~template" side of a file/symlink clash).
    deleted_by_us = {p for paths, kind, _text in messages if kind in ("CONFLICT (modify/delete)", "CONFLICT (rename/delete)")
                     for p in paths}
    kept_deleted: list[str] = []
    for path, st in list(stages.items()):
        if 2 not in st and 3 in st and 1 in st and path.startswith(prefix) and path in deleted_by_us:
            kept_deleted.append(path)
            del stages[path]
            entries.pop(path, None)
    if kept_deleted or relabelled:
        tree = git.mktree_from_entries(repo, entries, scratch / "index-result")
        changes = git.diff_trees(repo, ours_tree, tree)
    return MergeResult(tree=tree, entries=entries, stages=stages, kept_deleted=sorted(kept_deleted),
                       messages=messages, base_entries=base_render, theirs_entries=theirs_render,
                       ours_entries=project_ours, changes=changes)


def render_entries(repo: Path, render_dir: Path, attributes: RepoAttributes | None = None, *,
                   pending: dict[str, bytes] | None = None, object_format: str = "sha1") -> Entries:
    """Entries of a rendered project folder hashed into ``repo`` (see :func:`tree_from_dir`).

    Args:
        pending: when given, ``repo`` is known to store files as they are (no attributes,
            no ``core.autocrlf``: :func:`cookiepatcher.rendercache.hashes_verbatim`), so
            the folder is hashed here (:func:`verbatim_entries`) and its blobs are added
            to ``pending`` (``{sha: bytes}``) for the caller to write, instead of ``git add``
            writing them; folders this cannot hash as ``git add`` would still go to git.
        object_format: ``repo``'s object format (``"sha1"`` or ``"sha256"``).
    """
    if pending is not None and attributes is None:
        found = verbatim_entries(render_dir, object_format)
        if found is not None:
            entries, blobs = found
            pending.update(blobs)
            return entries
    with tempfile.TemporaryDirectory(prefix="cp-hash-") as tmp:
        return tree_from_dir(repo, render_dir, Path(tmp), attributes)


#: files larger than this are hashed by git, not read into memory (:func:`verbatim_entries`)
VERBATIM_MAX_BYTES = 8 * 1024 * 1024


def _git_special_name(name: str, link: bool) -> bool:
    """Whether git may refuse a path holding the component ``name`` or give it a meaning
    of its own (``verify_path``/``is_ntfs_dotgit`` in git's read-cache.c and path.c, with
    ``core.protectNTFS`` on): ``.git`` in any case, with trailing dots or spaces or an
    NTFS stream (``.git::$INDEX_ALLOCATION``), its short name ``git~1``; for a symbolic
    link, any ``.git*`` name or a short name (``gitmod~1``). Erring towards ``True`` only
    costs a ``git add``."""
    lowered = name.lower()
    trimmed = lowered.split(":", 1)[0].rstrip(". ")
    if trimmed in (".git", "git~1", ".", "..", ""):
        return True
    return link and (lowered.startswith(".git") or "~" in lowered)


def verbatim_entries(folder: Path, object_format: str = "sha1") -> tuple[Entries, dict[str, bytes]] | None:
    """``(entries, {sha: bytes})`` of every file below ``folder`` as ``git add -A -f`` with
    ``core.fileMode`` and ``core.symlinks`` on stores them when no attribute or
    ``core.autocrlf`` applies: the bytes as they are, mode 100755 when the owner may
    execute the file (git's ``create_ce_mode``), else 100644, and 120000 with the target
    for a symbolic link; empty folders leave nothing.

    Returns ``None`` for what only git can decide: a ``.gitattributes`` of the folder's own,
    a name git may refuse or treat as special (:func:`_git_special_name`: ``.git`` in any
    case or NTFS spelling, ``git~1``, a ``.git*`` symbolic link), anything but files,
    links and folders, or a file larger than :data:`VERBATIM_MAX_BYTES` (kept out of
    memory).
    """
    import stat

    from cookiepatcher.rendercache import blob_sha, id_length

    hex_length = id_length(object_format)
    entries: Entries = {}
    blobs: dict[str, bytes] = {}
    todo = [(folder, "")]
    while todo:
        where, rel = todo.pop()
        with os.scandir(where) as listing:
            for item in listing:
                info = item.stat(follow_symlinks=False)
                mode = info.st_mode
                if item.name == ".gitattributes" or _git_special_name(item.name, stat.S_ISLNK(mode)):
                    return None
                path = rel + item.name
                if stat.S_ISLNK(mode):
                    data, kind = os.fsencode(os.readlink(item.path)), "120000"
                elif stat.S_ISDIR(mode):
                    todo.append((Path(item.path), path + "/"))
                    continue
                elif stat.S_ISREG(mode) and info.st_size <= VERBATIM_MAX_BYTES:
                    with open(item.path, "rb") as f:
                        data = f.read()
                    kind = "100755" if mode & stat.S_IXUSR else "100644"
                else:
                    return None
                sha = blob_sha(data, hex_length)
                entries[path] = (kind, sha)
                blobs[sha] = data
    return entries, blobs
