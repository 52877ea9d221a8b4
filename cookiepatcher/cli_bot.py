"""CLI commands of the upgrade bot: ``pr`` and ``fleet`` (with ``fleet plan``).

A thin layer: parse flags, find the forge and repository from flags, CI variables or
the git remote, call :func:`cookiepatcher.pr.run_pr` / :mod:`cookiepatcher.fleet`, print,
and map :class:`CookiepatcherError` to one stderr line and exit code 2. Every line
printed passes through the forge's redaction, so the token never reaches the output.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cookiepatcher.errors import CookiepatcherError

_Fn = Callable[..., Any]


def _fail(exc: CookiepatcherError, redact: Callable[[str], str] = lambda s: s) -> None:
    click.echo(f"cookiepatcher: error: {redact(str(exc))}", err=True)
    raise SystemExit(exc.exit_code)


def _forge_options(fn: _Fn) -> _Fn:
    fn = click.option("--token-env", metavar="VAR",
                      help="Environment variable holding the token (default GITHUB_TOKEN / GITLAB_TOKEN).")(fn)
    fn = click.option("--base-url", metavar="URL",
                      help="GitHub Enterprise API root (https://ghe.example.com/api/v3) or self-managed GitLab URL.")(fn)
    fn = click.option("--forge", "forge_kind", type=click.Choice(["github", "gitlab"]),
                      help="Forge (default: gitlab in GitLab CI or for gitlab remotes, else github).")(fn)
    return fn


def _detect_repo(remote_url: str | None) -> str | None:
    """``owner/name`` from CI variables (GitHub Actions, GitLab CI, CircleCI) or the remote URL."""
    from cookiepatcher.forge import repo_from_remote

    env = os.environ
    if env.get("GITHUB_REPOSITORY"):
        return env["GITHUB_REPOSITORY"]
    if env.get("CI_PROJECT_PATH"):
        return env["CI_PROJECT_PATH"]
    if env.get("CIRCLE_PROJECT_USERNAME") and env.get("CIRCLE_PROJECT_REPONAME"):
        return f"{env['CIRCLE_PROJECT_USERNAME']}/{env['CIRCLE_PROJECT_REPONAME']}"
    return repo_from_remote(remote_url) if remote_url else None


def _remote_url(project_dir: Path, remote: str) -> str | None:
    from cookiepatcher import git

    proc = git.run(["remote", "get-url", remote], project_dir, check=False)
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def _open(forge_kind: str | None, base_url: str | None, token_env: str | None, remote_url: str | None, required: bool) -> Any:
    from cookiepatcher.forge import detect_kind, open_forge

    return open_forge(forge_kind or detect_kind(remote_url), base_url=base_url, token_env=token_env, require_token=required)


def _label_options(fn: _Fn) -> _Fn:
    """``--label`` (repeatable) and ``--conflict-label``, shared by ``pr`` and ``fleet``."""
    fn = click.option("--conflict-label", default="cookiepatcher:conflicts", show_default=True, callback=_check_labels,
                      help="Label added while there are conflicts.")(fn)
    return click.option("--label", "labels", multiple=True, callback=_check_labels,
                        help="Label for the request (repeatable; default: cookiepatcher).")(fn)


def _check_labels(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Refuse a label name the forges cannot keep as given: an empty one, or one holding a
    comma (GitLab's API takes labels as one comma-separated text, so ``needs,merge``
    would become two labels, and the bot would never find its conflict label to remove)."""
    for label in value if isinstance(value, tuple) else (value,):
        if not label.strip():
            raise click.BadParameter("a label name cannot be empty")
        if "," in label:
            raise click.BadParameter(f"label {label!r} holds a comma, which GitLab reads as two labels; choose a name without one")
        if label != label.strip():
            raise click.BadParameter(f"label {label!r} starts or ends with a space, which the forges drop; write it without")
    return value


def _check_conflict_label(labels: tuple[str, ...], conflict_label: str) -> None:
    """The conflict label is removed once the conflicts are resolved: one of ``--label``
    would be removed with it."""
    if conflict_label in labels:
        raise click.BadParameter(f"{conflict_label!r} is both a --label and the --conflict-label, which is removed once "
                                 f"the conflicts are resolved; choose another", param_hint="'--conflict-label'")


@click.command("pr")
@click.option("--project-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."), show_default=True,
              help="The service folder (holds cookiepatcher.json) inside a clone.")
@click.option("--repo", metavar="OWNER/NAME", help="Repository on the forge (default: from CI variables or the remote URL).")
@_forge_options
@click.option("--branch", default="cookiepatcher/update", show_default=True, help="The bot's branch.")
@click.option("--base", metavar="BRANCH", help="Branch to target (default: the repository's default branch).")
@click.option("--remote", default="origin", show_default=True, help="Git remote of the forge repository.")
@_label_options
@click.option("--dry-run", is_flag=True, help="Print the request that would be opened or updated; push and write nothing.")
@click.option("--offline", is_flag=True, help="Never fetch the template (use the cache).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout.")
# set by `cookiepatcher fleet`, which has just cloned the repository: its remote-tracking
# refs are current, so the remote need not be asked again
@click.option("--fresh-clone", is_flag=True, hidden=True)
def pr_command(project_dir: Path, repo: str | None, forge_kind: str | None, base_url: str | None, token_env: str | None,
               branch: str, base: str | None, remote: str, labels: tuple[str, ...], conflict_label: str,
               dry_run: bool, offline: bool, as_json: bool, fresh_clone: bool) -> None:
    """Open or update the template-upgrade pull request of this repository.

    Exit code: 0 done (or nothing to do), 1 the request carries conflicts or the bot's
    branch has someone else's commits, 2 failed.
    """
    from cookiepatcher.pr import DEFAULT_LABELS, run_pr

    _check_conflict_label(labels or DEFAULT_LABELS, conflict_label)
    forge = None
    try:
        remote_url = _remote_url(project_dir, remote)
        forge = _open(forge_kind, base_url, token_env, remote_url, required=not dry_run)
        use_forge = forge if (forge.has_token or not dry_run) else None
        outcome = run_pr(project_dir, forge=use_forge, repo=repo or _detect_repo(remote_url), branch=branch, base=base,
                         remote=remote, labels=labels or DEFAULT_LABELS, conflict_label=conflict_label,
                         dry_run=dry_run, offline=offline, fresh_clone=fresh_clone, remote_url=remote_url or "")
    except CookiepatcherError as exc:
        _fail(exc, forge.redact if forge else (lambda s: s))
    redact = forge.redact if forge else (lambda s: s)
    if as_json:
        click.echo(redact(json.dumps(outcome.to_json(), indent=2, sort_keys=True)))
    else:
        click.echo(redact(outcome.message))
        if outcome.status == "dry-run":
            click.echo(redact(f"\n# {outcome.title}\n\n{outcome.body}"))
        if outcome.conflicts:
            click.echo(f"cookiepatcher: {len(outcome.conflicts)} conflicted file(s) committed with markers:", err=True)
            for path in outcome.conflicts:
                click.echo(f"  {path}", err=True)
    raise SystemExit(outcome.exit_code)


def _source_options(fn: _Fn) -> _Fn:
    fn = click.option("--org", "owner", metavar="NAME", help="All repositories of this GitHub organisation / GitLab group.")(fn)
    fn = click.option("--repos", "repos_file", type=click.Path(dir_okay=False, path_type=Path),
                      help="File listing repositories, one 'owner/name [clone-url]' a line.")(fn)
    return _forge_options(fn)


def _entries(repos_file: Path | None, owner: str | None, forge_kind: str | None, base_url: str | None,
             token_env: str | None, required: bool) -> tuple[list[Any], Any]:
    from cookiepatcher.fleet import FleetEntry, read_repo_list

    if (repos_file is None) == (owner is None):
        raise CookiepatcherError("give exactly one of --repos FILE or --org NAME")
    forge = _open(forge_kind, base_url, token_env, None, required=required or owner is not None)
    if repos_file is not None:
        return read_repo_list(repos_file), forge
    return [FleetEntry(r.full_name, r.clone_url) for r in forge.list_repos(owner) if not r.archived], forge


class _FleetGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CookiepatcherError as exc:
            _fail(exc)


@click.group("fleet", cls=_FleetGroup, invoke_without_command=True)
@_source_options
@click.option("--jobs", "-j", type=click.IntRange(1, 32), default=2, show_default=True, help="Repositories processed at once.")
@click.option("--shard", metavar="I/N", help="Process only slice I of N (see `fleet plan --shards`).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write a JSON report here.")
@click.option("--branch", default="cookiepatcher/update", show_default=True, help="The bot's branch in every repository.")
@_label_options
@click.option("--dry-run", is_flag=True, help="Compute every request; push and write nothing.")
@click.option("--timeout", type=float, default=900.0, show_default=True, help="Seconds per repository before it counts as failed.")
@click.pass_context
def fleet_group(ctx: click.Context, repos_file: Path | None, owner: str | None, forge_kind: str | None, base_url: str | None,
                token_env: str | None, jobs: int, shard: str | None, report: Path | None, branch: str,
                labels: tuple[str, ...], conflict_label: str, dry_run: bool, timeout: float) -> None:
    """Run `cookiepatcher pr` for many repositories and summarise.

    Exit code: 0 all fine, 1 some requests carry conflicts (or the bot was blocked),
    2 some repositories failed.
    """
    if ctx.invoked_subcommand is not None:
        return
    from cookiepatcher.pr import DEFAULT_LABELS

    _check_conflict_label(labels or DEFAULT_LABELS, conflict_label)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from cookiepatcher import fleet

    entries, forge = _entries(repos_file, owner, forge_kind, base_url, token_env, required=not dry_run)
    if shard:
        entries = fleet.shard(entries, *fleet.parse_shard(shard))
    # --name=value: a value starting with "-" stays a value
    pr_args = ["--forge", forge.name, "--branch", branch, f"--conflict-label={conflict_label}",
               *(f"--label={label}" for label in labels)]
    if base_url:
        pr_args += ["--base-url", base_url]
    if token_env:
        pr_args += ["--token-env", token_env]
    if dry_run:
        pr_args.append("--dry-run")
    err = Console(stderr=True)
    finished = 0
    try:  # SIGTERM stops the run as Ctrl-C does (only the main thread may set handlers)
        previous_term = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:
        previous_term = None
    try:
        with tempfile.TemporaryDirectory(prefix="cookiepatcher-fleet-") as tmp:
            runner = fleet.ProcessRunner(forge, pr_args, Path(tmp), timeout=timeout)
            with Progress(TextColumn("[bold]fleet"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.description}"), console=err, transient=False) as progress:
                task = progress.add_task("", total=len(entries))

                def done(result: fleet.RepoResult, n: int, total: int) -> None:
                    nonlocal finished
                    finished = n
                    progress.update(task, completed=n, description=f"{result.repo}: {result.category}")

                result = fleet.run_fleet(entries, runner, jobs=jobs, on_done=done, redact=forge.redact)
    except (KeyboardInterrupt, fleet.Interrupted):
        click.echo(f"cookiepatcher: error: fleet stopped after {finished} of {len(entries)} repositories; "
                   "the running ones were killed, nothing else was started", err=True)
        raise SystemExit(130) from None
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    table = Table(title="cookiepatcher fleet")
    for col in ("repository", "outcome", "detail"):
        table.add_column(col, overflow="fold")
    for r in result.results:
        detail = r.url or r.reason if r.category not in ("failed", "blocked", "declined") else r.reason
        if r.conflicts:
            detail = f"{detail} ({len(r.conflicts)} conflicted: {', '.join(r.conflicts[:3])}{'…' if len(r.conflicts) > 3 else ''})"
        table.add_row(r.repo, r.category, forge.redact(detail or ""))
    out = Console(width=max(100, Console().width))
    out.print(table)
    out.print(" · ".join(f"{name}: {count}" for name, count in result.counts().items() if count or name in fleet.CATEGORIES[:5]))
    if report is not None:
        report.write_text(forge.redact(json.dumps(result.to_json(), indent=2)) + "\n", encoding="utf-8")
    raise SystemExit(result.exit_code)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@fleet_group.command("plan")
@_source_options
@click.option("--format", "fmt", type=click.Choice(["github", "circleci"]), default="github", show_default=True,
              help="github: JSON for strategy.matrix; circleci: a matrix: block for a job.")
@click.option("--shards", type=click.IntRange(1, 256), help="One job per shard (runs `fleet --shard I/N`) instead of per repository.")
def fleet_plan(repos_file: Path | None, owner: str | None, forge_kind: str | None, base_url: str | None,
               token_env: str | None, fmt: str, shards: int | None) -> None:
    """Print the repositories (or shards) as a CI matrix."""
    from cookiepatcher import fleet

    entries, _forge = _entries(repos_file, owner, forge_kind, base_url, token_env, required=False)
    click.echo(fleet.plan(entries, fmt=fmt, shards=shards))


def register(group: click.Group) -> None:
    """Add the bot's commands (``pr``, ``fleet``) to the top-level ``cookiepatcher`` group."""
    group.add_command(pr_command, "pr")
    group.add_command(fleet_group, "fleet")
