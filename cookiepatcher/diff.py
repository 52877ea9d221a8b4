"""``cookiepatcher diff``: the project's local changes against the template it came from."""
from __future__ import annotations

import tempfile
from pathlib import Path

from cookiepatcher import git
from cookiepatcher.errors import RefusedError
from cookiepatcher.merge import graft, repo_attributes
from cookiepatcher.project import locate, render_at, worktree_tree
from cookiepatcher.record import RECORD_FILE, load_record
from cookiepatcher.source import open_template


def diff_project(project_dir: Path, *, offline: bool = False, stat: bool = False) -> str:
    """Unified diff from the render at the recorded commit to the project's working tree.

    Paths are relative to the project folder; the record file is left out. ``stat``
    gives ``git diff --stat`` output instead of the patch.

    Raises:
        RefusedError: the recorded commit is gone from the template.
        RecordError, TemplateError: as for update.
    """
    record = load_record(Path(project_dir))
    project = locate(project_dir, need_commit=False)
    source = open_template(record.template, offline=offline)
    if not source.has_commit(record.commit):
        raise RefusedError(f"recorded template commit {record.commit[:12]} is no longer in {record.template}; re-link with `cookiepatcher link {record.template} --commit SHA`")
    with tempfile.TemporaryDirectory(prefix="cookiepatcher-") as tmp:
        outer = git.ls_tree(project.root, project.head) if project.head else {}
        _rendered, entries = render_at(project.root, source, record.commit, record.directory, dict(record.context),
                                       Path(tmp), checkout=record.checkout, what="recorded commit",
                                       output_dir_value=str(project.folder.parent),
                                       attributes=repo_attributes(project.root, project.prefix, outer))
        entries.pop(RECORD_FILE, None)
        full = graft(outer, project.prefix, entries)
        if project.prefix + RECORD_FILE in outer:
            full[project.prefix + RECORD_FILE] = outer[project.prefix + RECORD_FILE]
        tree = git.mktree_from_entries(project.root, full, Path(tmp) / "index-diff")
        work_tree = worktree_tree(project, Path(tmp), also=list(entries))
        args = ["diff", "--no-color", "-M", "--stat" if stat else "--patch",
                f"--relative={project.prefix}" if project.prefix else "--relative", tree, work_tree,
                "--", f":(exclude){project.prefix}{RECORD_FILE}"]
        return git.out(args, project.root)
