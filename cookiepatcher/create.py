"""``cookiepatcher create``: generate a project with cookiecutter and record it.

The template is rendered from a clean checkout of the resolved commit (so the recorded
commit is exactly what was rendered), with cookiecutter's own prompting, user config
(``--config-file``: ``default_context`` and ``abbreviations``) and hooks; hooks see
``COOKIEPATCHER_RENDER=create``. Then ``cookiepatcher.json`` is written into the project.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from cookiepatcher.answers import printable
from cookiepatcher.errors import RefusedError, TemplateError
from cookiepatcher.project import template_folder
from cookiepatcher.record import Record, check_recordable, public_context, strip_credentials, write_record
from cookiepatcher.render import load_context, render
from cookiepatcher.source import is_remote, expand_abbreviation, open_template


def user_config(config_file: str | None) -> dict[str, Any]:
    """cookiecutter's user config (``cookiecutter.config.get_user_config``)."""
    from cookiecutter.config import get_user_config
    from cookiecutter.exceptions import ConfigDoesNotExistException, InvalidConfiguration

    # (the file cookiecutter reads when none is given)
    where = printable(config_file or os.environ.get("COOKIECUTTER_CONFIG") or "~/.cookiecutterrc")
    try:
        config = get_user_config(config_file=config_file)
    except (ConfigDoesNotExistException, InvalidConfiguration) as exc:
        raise RefusedError(f"cannot use config file {where}: {exc}") from None
    except UnicodeDecodeError:
        raise RefusedError(f"cannot use config file {where}: it is not UTF-8 text; save it as UTF-8") from None
    except TypeError:  # (cookiecutter expands its two folder settings as paths)
        raise RefusedError(f"cannot use config file {where}: 'cookiecutters_dir' and 'replay_dir' must be "
                           f"paths; fix it") from None
    # (cookiecutter merges the file over its defaults without looking at the kinds)
    for key, kind, what in (("default_context", dict, "a mapping of answers"), ("abbreviations", dict, "a mapping"),
                            ("cookiecutters_dir", str, "a path"), ("replay_dir", str, "a path")):
        if config.get(key) is not None and not isinstance(config[key], kind):
            raise RefusedError(f"cannot use config file {where}: '{key}' must be {what}; fix it")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in (config.get("abbreviations") or {}).items()):
        raise RefusedError(f"cannot use config file {where}: 'abbreviations' must map names to URL "
                           f"patterns; fix it")
    return config


def recorded_location(template: str, abbreviations: dict[str, str]) -> str:
    """The template location to record: credentials removed, local paths made absolute.

    cookiecutter's built-in abbreviations (``gh:``, ``gl:``, ``bb:``) are kept as given;
    one from the user's own config is recorded expanded, since teammates and CI
    running the update do not share that config.

    Raises:
        RefusedError: the location is not UTF-8 text (a folder named in another
            encoding): ``cookiepatcher.json`` could not hold it.
    """
    builtin = expand_abbreviation(template)
    expanded = expand_abbreviation(template, abbreviations)
    if expanded != builtin:
        location = strip_credentials(expanded)
    elif is_remote(expanded) or expanded != template:
        location = strip_credentials(template)
    else:
        location = str(Path(template).expanduser().resolve())
    check_recordable("the template location", location)
    return location


def check_known_answers(template_dir: Path, answers: dict[str, Any]) -> None:
    """Refuse ``KEY=VALUE`` answers the template has no question for (cookiecutter would
    silently ignore a typo such as ``reponame=``).

    Raises:
        RefusedError: naming the first unknown key.
    """
    known = set(load_context(template_dir))
    unknown = sorted(k for k in answers if k not in known)
    if unknown:
        raise RefusedError(f"the template has no question '{unknown[0]}'; check the name against its cookiecutter.json")


def _remove_new(output_dir: Path, before: set[Path], created: list[Path]) -> None:
    """Remove what a failed render left in ``output_dir`` (nothing that was there before),
    and the folders ``created`` for it (deepest first) once they are empty."""
    import shutil

    for path in set(output_dir.iterdir()) - before:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else wrote there) or already gone
            break


def create_project(
    template: str,
    *,
    checkout: str | None = None,
    directory: str | None = None,
    no_input: bool = False,
    output_dir: Path = Path("."),
    config_file: str | None = None,
    extra_context: dict[str, Any] | None = None,
    offline: bool = False,
) -> Path:
    """Generate a project from ``template`` and write its ``cookiepatcher.json``.

    Args:
        template: local path, git URL or abbreviation (``gh:org/repo``).
        checkout: branch, tag or commit (``None`` = default branch); recorded as followed ref.
        directory: template subfolder holding ``cookiecutter.json``.
        no_input: no prompts: defaults, user config and ``extra_context`` only.
        output_dir: folder receiving the project folder.
        config_file: cookiecutter user config file.
        extra_context: answers given as ``KEY=VALUE`` (cookiecutter's ``extra_context``).

    Returns:
        The generated project folder.

    Raises:
        TemplateError, RefusedError: nothing is left behind.
    """
    check_recordable("--checkout", checkout)
    check_recordable("--directory", directory)
    config = user_config(config_file)
    abbreviations = config.get("abbreviations") or {}
    source = open_template(template, offline=offline, abbreviations=abbreviations)
    sha = source.resolve(checkout)
    output_dir = Path(output_dir)
    with tempfile.TemporaryDirectory(prefix="cookiepatcher-") as tmp:
        folder = template_folder(source, sha, directory, Path(tmp), checkout or "default branch",
                                 way_out="check --directory (the template's folder that holds cookiecutter.json)")
        location = recorded_location(template, abbreviations)
        check_known_answers(folder, extra_context or {})
        created = [p for p in (output_dir, *output_dir.parents) if not p.exists()]  # deepest first
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            before = set(output_dir.iterdir())
        except OSError as exc:  # a file, a dangling symlink or a loop in the way, no permission
            broken = next((p for p in (output_dir, *output_dir.parents) if p.is_symlink() and not p.exists()), None)
            why = f"{printable(str(broken))} is a symlink to nothing" if broken else exc.strerror
            raise RefusedError(f"cannot use the output folder {printable(str(output_dir))} ({why}); choose "
                               f"another --output-dir") from None
        try:
            rendered = render(folder, output_dir, extra_context or {}, template=location, checkout=checkout,
                              mode="create", no_input=no_input, default_context=config.get("default_context") or {})
        except TemplateError as exc:
            if "already exists" in str(exc):  # (cookiecutter's words: 'Error: "PATH" directory already exists')
                what = str(exc).removeprefix("template render failed: ").removeprefix("Error: ")
                _remove_new(output_dir, before, created)  # (nothing, when it was the project folder)
                raise RefusedError(f"{what}; choose another --output-dir or remove it") from None
            _remove_new(output_dir, before, created)
            raise
        except BaseException:
            _remove_new(output_dir, before, created)
            raise
    record = Record(template=location, commit=sha, context=public_context(rendered.context),
                    directory=directory, checkout=checkout)
    write_record(rendered.project, record)
    return rendered.project
