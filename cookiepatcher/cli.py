"""Command line: parses flags, calls the engine, maps results and errors to exit codes.

Exit codes (every command): 0 done or up to date; 1 done with conflicts (listed on
stderr) or, for ``check``, out of date; 2 refused or failed with nothing changed.
"""
from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from cookiepatcher.errors import CookiepatcherError
from cookiepatcher.record import find_project_dir


class _Group(click.Group):
    """Maps :class:`CookiepatcherError` to one stderr line and exit code 2, and loads
    the bot's commands (``pr``, ``fleet``: :mod:`cookiepatcher.cli_bot`) only when one
    of them is asked for or listed, so ``check`` and ``update`` start faster."""

    _BOT_COMMANDS = ("pr", "fleet")

    def _load_bot(self) -> None:
        if "pr" not in self.commands:
            from cookiepatcher import cli_bot

            cli_bot.register(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._BOT_COMMANDS:
            self._load_bot()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_bot()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CookiepatcherError as exc:
            click.echo(f"cookiepatcher: error: {exc}", err=True)
            ctx.exit(exc.exit_code)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """click's ``main``, with a usage error (unknown option, bad value) printed as one
        line naming the problem and ``--help``, exit code 2, like every other refusal."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "cookiepatcher"
            click.echo(f"cookiepatcher: error: {exc.format_message()} (see `{where} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"cookiepatcher: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except SystemExit as exc:
            # click ends with 1 when stdout is a closed pipe (`cookiepatcher check | true`),
            # wrapping the streams first: 1 means "out of date" or "conflicts" here, so
            # end as for lost output instead (Python's 120, see run)
            # (by name: click 8.3 renamed the class _PacifyFlushWrapper, deprecating the public one)
            if exc.code == 1 and type(sys.stdout).__name__.lstrip("_") == "PacifyFlushWrapper":
                sys.exit(120)
            raise
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
                raise
            # writing the output failed (a full disk): as Python, 120 for lost output
            click.echo(f"cookiepatcher: error: cannot write the output ({exc.strerror})", err=True)
            sys.exit(120)
        except click.Abort as exc:  # Ctrl-C, or end of input at a prompt: not 1, which means conflicts
            from cookiepatcher.apply import WriteInterrupted

            if isinstance(exc.__cause__, WriteInterrupted):
                click.echo("cookiepatcher: interrupted while writing files: some are written, the index is not; "
                           "`git checkout -- .` restores them", err=True)
            click.echo("Aborted!", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


def run() -> None:
    """The ``cookiepatcher`` program (console script and ``python -m cookiepatcher``):
    :data:`main`, then the process exits.

    Once main has finished (returned or raised ``SystemExit``), the exit skips the
    interpreter's teardown (freeing every object of the render stack: Jinja,
    cookiecutter, arrow; 15 to 35 ms). A handler registered here, when the program
    starts, runs last of the ``atexit`` handlers registered since (they run in reverse
    order), after non-daemon threads were joined: the handlers of what the command
    loaded (``weakref.finalize``'s, logging's, ...) have run. It shuts logging down (its
    handler may be older, from a module a ``sitecustomize`` imported), flushes stdout and
    stderr and ends the process with the exit code (``os._exit``; 120 if output is lost,
    as Python does). Any other exception (a bug) gets Python's usual exit. SIGTERM is
    taken as Ctrl-C (:mod:`cookiepatcher.signals`: "Aborted!", exit code 130).
    """
    import atexit

    exit_code: list[int] = []

    def leave() -> None:
        if not exit_code:
            return
        code = exit_code[0]
        if "logging" in sys.modules:  # its handler may have been registered before this one
            sys.modules["logging"].shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:  # as Python: output lost at exit (full disk, closed pipe) is exit code 120
                code = code or 120
            except (ValueError, AttributeError):  # closed or replaced stream
                pass
        os._exit(code)

    atexit.register(leave)
    from cookiepatcher import git, signals

    signals.stop_on_sigterm()  # a cancelled CI job stops the command as Ctrl-C does
    # the project is the one found from the folder, for every git process this one starts
    # and for template hooks too (see git.REPO_ENV_VARS)
    git.scrub_repo_env(os.environ)
    try:
        main()
        exit_code.append(0)
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)  # what Python does with a message
        exit_code.append(0 if code is None else code if isinstance(code, int) else 1)
        raise SystemExit(exit_code[0]) from None
    finally:
        signals.ignore_sigterm()


def _ask(name: str, default: Any, choices: list[Any] | None) -> Any:
    """Prompt for one new question with cookiecutter's own prompts."""
    from cookiecutter.prompt import read_user_choice, read_user_variable, read_user_yes_no

    if choices:
        return read_user_choice(name, choices)
    if isinstance(default, bool):
        return read_user_yes_no(name, default)
    return read_user_variable(name, default)


def _assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    from cookiepatcher.answers import parse_assignments

    try:
        return parse_assignments(list(pairs))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty()


@click.group(cls=_Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cookiepatcher-engine", prog_name="cookiepatcher")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Generate services from Cookiecutter templates and keep them up to date.

    Run without a command inside a generated project to update it.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(update)


@main.command()
@click.argument("template")
@click.argument("extra_context", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--checkout", "-c", help="Branch, tag or commit of the template to use (and follow).")
@click.option("--directory", help="Template subfolder holding cookiecutter.json.")
@click.option("--no-input", is_flag=True, help="Do not prompt; use defaults and KEY=VALUE answers.")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--config-file", type=click.Path(dir_okay=False), help="cookiecutter user config file.")
@click.option("--offline", is_flag=True, help="Never fetch a remote template (use the cache).")
def create(template: str, extra_context: tuple[str, ...], checkout: str | None, directory: str | None, no_input: bool,
           output_dir: Path, config_file: str | None, offline: bool) -> None:
    """Generate a project from TEMPLATE (path, git URL or gh:org/repo) and record it."""
    from cookiepatcher.create import create_project

    project = create_project(template, checkout=checkout, directory=directory, no_input=no_input, output_dir=output_dir,
                             config_file=config_file, extra_context=_assignments(extra_context), offline=offline)
    click.echo(f"created {project} (recorded in {project.name}/cookiepatcher.json)")


@main.command()
@click.option("--checkout", "-c", help="Branch, tag or commit to update to (becomes the followed ref).")
@click.option("--directory", help="New template subfolder, when the template moved it.")
@click.option("--no-input", is_flag=True, help="New questions take their defaults (reported).")
@click.option("--set", "set_", multiple=True, metavar="KEY=VALUE", help="Change an answer as part of the update.")
@click.option("--dry-run", is_flag=True, help="Compute the merge; print outcomes and diff; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result on stdout.")
@click.option("--offline", is_flag=True, help="Never fetch the template (use the cache).")
@click.option("--project-dir", "-p", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="Project folder (default: the current folder or the nearest parent holding cookiepatcher.json).")
@click.option("--verbose", "-v", is_flag=True, help="Print each phase on stderr.")
def update(checkout: str | None = None, directory: str | None = None, no_input: bool = False, set_: tuple[str, ...] = (),
           dry_run: bool = False, as_json: bool = False, offline: bool = False, project_dir: Path = Path("."),
           verbose: bool = False) -> None:
    """Merge the template's changes since the recorded commit into this project."""
    from cookiepatcher.update import update_project

    def phase(name: str) -> None:
        if verbose:
            click.echo(f"cookiepatcher: {name}", err=True)

    interactive = _interactive(no_input)
    result = update_project(find_project_dir(project_dir), checkout=checkout, directory=directory, no_input=not interactive,
                            set_answers=_assignments(set_), dry_run=dry_run, offline=offline,
                            ask=_ask if interactive else None, on_phase=phase)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        if result.up_to_date:
            click.echo(f"already up to date with template commit {result.to_commit[:12]}")
        else:
            verb = "would update" if dry_run else "updated"
            if result.from_commit == result.to_commit:  # (new answers or a new followed ref only)
                click.echo(f"{verb} at template commit {result.to_commit[:12]}")
            else:
                click.echo(f"{verb} template {result.from_commit[:12]} -> {result.to_commit[:12]}")
            for f in result.files:
                extra = f" (from {f.old_path})" if f.old_path else ""
                click.echo(f"  {f.status:<13} {f.path}{extra}")
            for name, value in result.defaulted.items():
                click.echo(f"  new question {name} took its default: {value!r}")
            if dry_run and result.diff:
                click.echo(result.diff)
    if result.conflicts:
        n = len(result.conflicts)
        click.echo(f"cookiepatcher: the update would leave {n} conflict(s):" if dry_run else
                   f"cookiepatcher: {n} conflict(s); resolve them, then `git add` and commit "
                   "(or `git reset --merge` to drop the update):", err=True)
        for path in result.conflicts:
            click.echo(f"  {path}", err=True)
    sys.exit(result.exit_code)


@main.command()
@click.option("--checkout", "-c", help="Compare with this ref instead of the followed one.")
@click.option("--offline", is_flag=True, help="Never fetch the template (use the cache).")
@click.option("--project-dir", "-p", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def check(checkout: str | None, offline: bool, project_dir: Path) -> None:
    """Exit 1 when the followed template ref has moved past the recorded commit."""
    from cookiepatcher.check import check_project

    result = check_project(find_project_dir(project_dir), checkout=checkout, offline=offline)
    if result.up_to_date:
        click.echo(f"up to date with template commit {result.latest_commit[:12]}")
        sys.exit(0)
    click.echo(f"out of date: recorded {result.recorded_commit[:12]}, template at {result.latest_commit[:12]}; run `cookiepatcher update`")
    sys.exit(1)


@main.command()
@click.option("--stat", is_flag=True, help="Summary per file instead of the patch.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are local changes.")
@click.option("--offline", is_flag=True, help="Never fetch the template (use the cache).")
@click.option("--project-dir", "-p", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def diff(stat: bool, exit_code: bool, offline: bool, project_dir: Path) -> None:
    """Show the project's local changes against the template at the recorded commit."""
    from cookiepatcher.diff import diff_project

    text = diff_project(find_project_dir(project_dir), offline=offline, stat=stat)
    if text:
        click.echo(text)
    sys.exit(1 if exit_code and text else 0)


@main.command()
@click.argument("template", required=False)
@click.argument("answers", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--checkout", "-c", help="Template ref the project follows.")
@click.option("--directory", help="Template subfolder holding cookiecutter.json.")
@click.option("--commit", help="Template commit the project matches (default: detected).")
@click.option("--no-input", is_flag=True, help="Unanswered questions take their defaults.")
@click.option("--offline", is_flag=True, help="Never fetch the template (use the cache).")
@click.option("--project-dir", "-p", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def link(template: str | None, answers: tuple[str, ...], checkout: str | None, directory: str | None, commit: str | None,
         no_input: bool, offline: bool, project_dir: Path) -> None:
    """Adopt an existing project: write cookiepatcher.json for TEMPLATE.

    Answers come from KEY=VALUE, an existing .cruft.json or old-format record, then
    defaults (--no-input) or prompts; the commit from --commit or detected.
    """
    from cookiepatcher.link import link_project

    interactive = _interactive(no_input)
    record, distance = link_project(project_dir, template, checkout=checkout, directory=directory, commit=commit,
                                    answers=_assignments(answers), ask=_ask if interactive else None, offline=offline)
    how = f" (detected: {distance} differing lines)" if distance is not None else ""
    click.echo(f"linked to {record.template} at {record.commit[:12]}{how}; commit cookiepatcher.json")
