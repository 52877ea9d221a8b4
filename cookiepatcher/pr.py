"""``cookiepatcher pr``: one upgrade pull request per template, kept current.

Run in a clone of a service repository (locally or in CI). When the template ref the
service follows has moved past the commit recorded on the base branch, the upgrade of the
base branch's commit is computed in git's object database alone
(:func:`cookiepatcher.update.upgrade_tree`: no working tree, no checkout), committed with
``git commit-tree`` on the bot's branch (one stable name per repository, default
``cookiepatcher/update``), pushed with ``--force-with-lease`` and opened as (or updated
into) the pull/merge request. The user's own checkout and index are never touched.

Idempotence rules (each a :data:`STATUSES` value):

- ``up-to-date``: the base branch already records the latest template commit;
- ``current``: the open request already carries the latest template commit: no push,
  no API write;
- ``opened`` / ``updated``: a new request, or the same branch and request moved to the
  newer commit;
- ``blocked``: the bot's branch holds commits without the bot's trailer (someone
  pushed to it); nothing is pushed, the request gets one comment per template commit;
- ``declined``: a request for this very template commit was closed without merging;
  it is not reopened, a newer template commit opens a new one;
- ``dry-run``: ``--dry-run`` computed the request it would open or update.

Bot commits are recognised by the trailer ``Cookiepatcher-Template-Commit: <sha>``;
the request body carries a hidden marker ``<!-- cookiepatcher:pr {json} -->``.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cookiepatcher import git
from cookiepatcher.errors import CookiepatcherError
from cookiepatcher.forge.base import ChangeRequest, Forge
from cookiepatcher.forge.body import MARKER, marker_data, render_body, render_title
from cookiepatcher.record import RECORD_FILE, parse_record
from cookiepatcher.source import open_template
from cookiepatcher.update import upgrade_tree

DEFAULT_BRANCH = "cookiepatcher/update"
DEFAULT_LABELS = ("cookiepatcher",)
CONFLICT_LABEL = "cookiepatcher:conflicts"
TRAILER = "Cookiepatcher-Template-Commit"
STATUSES = ("up-to-date", "current", "opened", "updated", "blocked", "declined", "dry-run")
_BOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "cookiepatcher",
    "GIT_AUTHOR_EMAIL": "cookiepatcher@users.noreply.invalid",
    "GIT_COMMITTER_NAME": "cookiepatcher",
    "GIT_COMMITTER_EMAIL": "cookiepatcher@users.noreply.invalid",
}


@dataclass
class PrOutcome:
    """What one ``pr`` run did.

    Attributes:
        status: one of :data:`STATUSES`.
        message: one line for people.
        repo: ``owner/name`` on the forge, when known.
        url, number: the pull/merge request, when there is one.
        from_commit, to_commit: template shas (recorded on the base branch, latest).
        conflicts: paths committed with conflict markers.
        title, body: the request text (set when it was written or, with ``--dry-run``,
            would be).
    """

    status: str
    message: str
    repo: str | None = None
    url: str | None = None
    number: int | None = None
    from_commit: str | None = None
    to_commit: str | None = None
    conflicts: list[str] = field(default_factory=list)
    title: str | None = None
    body: str | None = None

    @property
    def exit_code(self) -> int:
        """0 done; 1 the request carries conflicts or the bot was blocked (a person must act)."""
        return 1 if self.conflicts or self.status == "blocked" else 0

    def to_json(self) -> dict[str, Any]:
        """Machine-readable form (``--json``; read by ``cookiepatcher fleet``)."""
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return data


def _ls_remote(root: Path, remote: str, ref: str, env: dict[str, str]) -> str | None:
    text = git.out(["ls-remote", "--quiet", remote, ref], root, env=env)
    for line in text.splitlines():
        sha, name = line.split("\t", 1)
        if name == ref:
            return sha
    return None


def _remote_default_branch(root: Path, remote: str, env: dict[str, str]) -> str:
    text = git.out(["ls-remote", "--symref", remote, "HEAD"], root, env=env)
    m = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", text, re.M)
    if not m:
        raise CookiepatcherError(f"cannot tell the default branch of remote '{remote}'; pass --base BRANCH")
    return m.group(1)


def _branch_commits(root: Path, base_sha: str, head_sha: str) -> tuple[list[str], str | None]:
    """(commits on ``head`` not on base without the bot trailer, target sha of the newest bot commit)."""
    text = git.out(["log", "--format=%H%x00%(trailers:key=" + TRAILER + ",valueonly,separator=)%x00%s%x1e",
                    f"{base_sha}..{head_sha}"], root)
    foreign: list[str] = []
    newest_target: str | None = None
    for rec in text.split("\x1e"):
        rec = rec.strip("\n")
        if not rec:
            continue
        sha, target, subject = rec.split("\0", 2)
        if target.strip():
            newest_target = newest_target or target.strip()
        else:
            foreign.append(f"{sha[:10]} {subject}")
    return foreign, newest_target


def _without_markers(root: Path, tree: str, prefix: str, conflicts: list[str]) -> list[str]:
    """The conflicted paths whose committed file holds no conflict marker line: git
    keeps the service's side of a binary file, and the changed side of a file the
    other side deleted (one ``git cat-file`` for all)."""
    answers = git.batch(root, [("contents", f"{tree}:{prefix}{p}") for p in conflicts])
    marker = re.compile(rb"^<{7} ", re.M)
    return [p for p, (_sha, kind, data) in zip(conflicts, answers) if kind != "blob" or not marker.search(data or b"")]


def _push_refusal(stderr: str, branch: str, forge: Forge | None) -> str:
    """The message for a refused push: git's reason for the ref (`` ! [rejected] ...
    (reason)``) and what the server said (``remote:`` lines: a hook, branch protection,
    a token without the scope), never the token."""
    lines = stderr.splitlines()
    said = [ln.removeprefix("remote:").strip() for ln in lines if ln.startswith("remote:")]
    said = [ln for ln in said if ln][:3]
    ref_line = next((ln.strip() for ln in lines if ln.strip().startswith("! [")), "")
    reason = m.group(1) if (m := re.search(r"\(([^()]*)\)$", ref_line)) else (lines[-1].strip() if lines else "no detail")
    moved = reason in ("stale info", "fetch first", "non-fast-forward")
    text = (f"push to {branch} refused ({reason}{': ' + ' / '.join(said) if said else ''}); "
            + ("someone else pushed meanwhile? re-run" if moved else
               "the server refused it: check the branch's protection rules, the repository's hooks and the token's scopes"))
    return forge.redact(text) if forge is not None else text


def _commit_message(template: str, result: Any, unmarked: list[str]) -> str:
    ref = f" ({result.to_ref})" if result.to_ref else ""
    lines = [f"Update template to {result.to_commit[:12]}{ref}", "",
             f"Template: {template}", f"From: {result.from_commit}", f"To: {result.to_commit}"]
    marked = [p for p in result.conflicts if p not in unmarked]
    if marked:
        lines += ["", "Conflicted files, committed with conflict markers:"] + [f"  {p}" for p in marked]
    if unmarked:
        lines += ["", "Conflicted files, committed as the service has them (no markers: a binary file, or one "
                  "side deleted it):"] + [f"  {p}" for p in unmarked]
    lines += ["", f"{TRAILER}: {result.to_commit}"]
    return "\n".join(lines) + "\n"


def _commit(root: Path, tree: str, parent: str, message: str) -> str:
    """Commit ``tree`` on top of ``parent`` (no working tree, no hooks: ``git commit-tree``);
    the repository's identity, else the bot's. Returns the new commit's sha."""
    env = {} if git.run(["config", "user.email"], root, check=False).stdout.strip() else _BOT_IDENTITY
    return git.out(["commit-tree", tree, "-p", parent, "-F", "-"], root, env=env, input=message.encode())


def _blocked_comment(branch: str, foreign: list[str], template: str, target: str, noun: str) -> str:
    shown = "\n".join(f"- `{c.split(' ', 1)[0]}` {c.split(' ', 1)[1] if ' ' in c else ''}" for c in foreign[:10])
    return (
        f"<!-- cookiepatcher:blocked {target} -->\n"
        f"cookiepatcher did not update this {noun}: branch `{branch}` has commits it did not make, "
        f"and it never overwrites them:\n\n{shown}\n\n"
        f"The template `{template}` has moved to `{target[:12]}`. To take it, merge this {noun} "
        f"(the next run starts from the new record), or close it (the next run replaces the branch), "
        f"or run `cookiepatcher update` on the branch yourself."
    )


def _run_pr(
    project_dir: Path,
    *,
    forge: Forge | None,
    repo: str | None,
    branch: str = DEFAULT_BRANCH,
    base: str | None = None,
    remote: str = "origin",
    labels: tuple[str, ...] = DEFAULT_LABELS,
    conflict_label: str = CONFLICT_LABEL,
    dry_run: bool = False,
    offline: bool = False,
    fresh_clone: bool = False,
    remote_url: str | None = None,
) -> PrOutcome:
    """:func:`run_pr` without the environment bookkeeping."""
    if forge is None and not dry_run:
        raise CookiepatcherError("a forge is needed to open pull requests; set the token or use --dry-run")
    project_dir = Path(project_dir).resolve()
    found = git.locate_repo(project_dir)
    if found is None:
        raise CookiepatcherError(f"{project_dir} is not in a git clone; run `cookiepatcher pr` in a clone of the service repository")
    root = found[0].resolve()
    rel = project_dir.relative_to(root).as_posix()
    record_path = RECORD_FILE if rel == "." else f"{rel}/{RECORD_FILE}"
    if remote_url is None:
        remote_url = git.run(["remote", "get-url", remote], root, check=False).stdout.decode().strip()
    if not remote_url:
        raise CookiepatcherError(f"the clone has no remote '{remote}'; pass --remote NAME")
    if forge is not None and not repo:
        raise CookiepatcherError("cannot tell the repository on the forge; pass --repo OWNER/NAME")
    https = forge.push_url(remote_url, repo) if forge and repo else None
    # ssh checkout (read-only deploy key in CI): fetch and push over HTTPS with the token
    where = https or remote  # what git fetches from / pushes to; tracking refs keep the remote's name
    auth = forge.git_auth_env(https or remote_url) if forge else {}
    os.environ.update(auth)  # restored by run_pr; lets the template fetch (same forge host) authenticate too
    noun = forge.noun if forge else "pull request"

    if fresh_clone:
        # just cloned (full history, every branch): the remote-tracking refs are the remote's state
        head_ref = git.run(["symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD"], root, check=False).stdout.decode().strip()
        base = base or head_ref.removeprefix(f"refs/remotes/{remote}/") or None
    if base is None:
        base = forge.repo_info(repo).default_branch if forge and repo else _remote_default_branch(root, where, auth)
    tracking = f"refs/remotes/{remote}/{base}"
    if not fresh_clone:
        # a shallow clone (CI checkouts) would make base..branch list base history as foreign commits
        shallow = git.out(["rev-parse", "--is-shallow-repository"], root) == "true"
        unshallow = ["--unshallow"] if shallow else []
        git.run(["fetch", "--quiet", "--no-tags", *unshallow, where, f"+refs/heads/{base}:{tracking}"], root, env=auth)
    # one cat-file reads the base commit (its tree is in it) and its record; each request
    # resolves the ref again, so it is resolved once more after the record: if it moved
    # meanwhile, the record is read again from the commit
    (base_sha, base_kind, base_commit), (_sha, record_kind, record_text), (base_again, _, _), (fresh_branch_sha, _, _) = git.batch(
        root, [("contents", tracking), ("contents", f"{tracking}:{record_path}"), ("info", tracking),
               ("info", f"refs/remotes/{remote}/{branch}")])
    if base_sha is None or base_kind != "commit" or base_commit is None:
        raise CookiepatcherError(f"remote '{remote}' has no branch {base}; pass --base BRANCH")
    base_tree = base_commit.split(b"\n", 1)[0].removeprefix(b"tree ").decode()
    if base_again != base_sha:
        ((_sha, record_kind, record_text),) = git.batch(root, [("contents", f"{base_sha}:{record_path}")])
    if record_text is None or record_kind != "blob":
        raise CookiepatcherError(f"branch {base} has no {record_path}; is this a generated service? (see `cookiepatcher link`)")
    record = parse_record(record_text.decode("utf-8"), f"{record_path} on {base}")
    source = open_template(record.template, offline=offline)
    # the upgrade's other lookups in the template ride on the resolve's git process
    source.preload([record.commit], [(record.commit, record.directory)])
    target = source.resolve(record.checkout, [record.directory])
    common: dict[str, Any] = {"repo": repo, "from_commit": record.commit, "to_commit": target}
    if target == record.commit:
        return PrOutcome("up-to-date", f"{base} records the latest template commit {target[:12]}", **common)

    remote_sha = fresh_branch_sha if fresh_clone else _ls_remote(root, where, f"refs/heads/{branch}", auth)
    if remote_sha and not fresh_clone:
        git.run(["fetch", "--quiet", "--no-tags", where, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"], root, env=auth)
    crs = forge.find_change_requests(repo, branch) if forge and repo and (forge.has_token or not dry_run) else []
    open_cr = next((c for c in crs if c.state == "open"), None)
    if remote_sha:
        foreign, bot_target = _branch_commits(root, base_sha, remote_sha)
        if foreign and (open_cr is not None or not crs):
            outcome = PrOutcome("blocked", f"branch {branch} has {len(foreign)} commit(s) not made by cookiepatcher; left alone",
                                url=open_cr.url if open_cr else None, number=open_cr.number if open_cr else None, **common)
            if open_cr and forge and repo and not dry_run:
                tag = f"<!-- cookiepatcher:blocked {target} -->"
                if not any(tag in c for c in forge.comments(repo, open_cr.number)):
                    forge.add_comment(repo, open_cr.number, _blocked_comment(branch, foreign, record.template, target, noun))
            return outcome
        if open_cr is not None and bot_target == target:
            data = marker_data(open_cr.body)
            return PrOutcome("current", f"{noun} #{open_cr.number} already carries template commit {target[:12]}",
                             url=open_cr.url, number=open_cr.number, conflicts=list(data.get("conflicts", [])), **common)
    if open_cr is None:
        declined = next((c for c in crs if marker_data(c.body).get("to") == target), None)
        if declined is not None:
            return PrOutcome("declined", f"{noun} #{declined.number} for template commit {target[:12]} was {declined.state}; not reopened",
                             url=declined.url, number=declined.number, **common)

    if not source.has_commit(record.commit):  # fetches once if it is missing
        raise CookiepatcherError(f"recorded template commit {record.commit[:12]} is no longer in {record.template} "
                                 f"(history rewritten?); re-link with `cookiepatcher link {record.template} --commit SHA`")
    # the template was fetched above: the upgrade uses that state (offline), so the
    # title, body and content all name the same target commit
    result, tree = upgrade_tree(root, base_sha, "" if rel == "." else rel + "/", record, offline=True, source=source,
                                head_tree=base_tree)
    if tree is None:
        return PrOutcome("up-to-date", "the upgrade changes nothing", **common)
    unmarked = _without_markers(root, tree, "" if rel == "." else rel + "/", list(result.conflicts))
    commit_sha = _commit(root, tree, base_sha, _commit_message(record.template, result, unmarked))
    commits = [(sha, subject, source.browse_url(sha)) for sha, subject in source.log(result.from_commit, result.to_commit)]
    title = render_title(record.template, result.to_commit, result.to_ref)
    body = render_body(result, template=record.template, commits=commits, browse=source.browse_url,
                       branch=branch, base=base, noun=noun, unmarked=unmarked)
    common.update(to_commit=result.to_commit, conflicts=list(result.conflicts), title=title, body=body)
    if dry_run:
        verb = f"update {noun} #{open_cr.number}" if open_cr else f"open a {noun}"
        return PrOutcome("dry-run", f"would {verb}: {title}", url=open_cr.url if open_cr else None, **common)
    lease = f"--force-with-lease=refs/heads/{branch}:{remote_sha or ''}"
    push = git.run(["push", "--quiet", "--no-verify", lease, where, f"{commit_sha}:refs/heads/{branch}"],
                   root, env=auth, check=False)
    if push.returncode != 0:
        raise CookiepatcherError(_push_refusal(push.stderr.decode("utf-8", "replace"), branch, forge))

    assert forge is not None and repo is not None
    conflicted = bool(result.conflicts)
    wanted = set(labels) | ({conflict_label} if conflicted else set())
    if open_cr is None:
        cr = forge.open_change_request(repo, head=branch, base=base, title=title, body=body, draft=conflicted, labels=sorted(wanted))
        status, verb = "opened", "opened"
    else:
        was_conflicted = bool(marker_data(open_cr.body).get("conflicts"))
        draft = conflicted or (open_cr.draft and not was_conflicted)
        cr = forge.edit_change_request(
            repo, open_cr, title=title, body=body, draft=draft,
            add_labels=sorted(wanted - set(open_cr.labels)),
            remove_labels=[conflict_label] if not conflicted and conflict_label in open_cr.labels else [],
        )
        status, verb = "updated", "updated"
    suffix = f" with {len(result.conflicts)} conflicted file(s)" if conflicted else ""
    return PrOutcome(status, f"{verb} {noun} #{cr.number}{suffix}: {cr.url}", url=cr.url, number=cr.number, **common)


def run_pr(project_dir: Path, *, forge: Forge | None, repo: str | None, **options: Any) -> PrOutcome:
    """Open or update the template-upgrade pull/merge request of one repository.

    Args:
        project_dir: the service folder (holds ``cookiepatcher.json``) inside a clone.
        forge: the forge holding ``repo``; ``None`` only with ``dry_run`` (no lookups).
        repo: ``owner/name`` on the forge.
        options: ``branch`` (the bot's branch, default ``cookiepatcher/update``), ``base``
            (target branch, default the repository's default branch), ``remote``
            (default ``origin``), ``labels`` (put on every request), ``conflict_label``
            (added while there are conflicts; the request is then a draft), ``dry_run``
            (compute the request, return it; no push, no API write), ``offline`` (never
            fetch the template), ``fresh_clone`` (the clone was just made: its
            remote-tracking refs are the remote's state), ``remote_url`` (the remote's
            URL, when the caller has read it).

    Returns:
        :class:`PrOutcome`.

    Raises:
        CookiepatcherError: not a git clone, no such remote, no record on the base
            branch, the template or forge unreachable, or the branch moved during the run.

    While it runs, git commands of this process (the template fetch included) send the
    forge token as an HTTP header to the forge's host only, through ``GIT_CONFIG_*``
    environment variables that are removed afterwards.
    """
    saved = {k: v for k, v in os.environ.items() if k.startswith("GIT_CONFIG_")}
    try:
        return _run_pr(project_dir, forge=forge, repo=repo, **options)
    finally:
        for key in [k for k in os.environ if k.startswith("GIT_CONFIG_")]:
            del os.environ[key]
        os.environ.update(saved)


__all__ = ["PrOutcome", "run_pr", "STATUSES", "DEFAULT_BRANCH", "CONFLICT_LABEL", "MARKER", "ChangeRequest"]
