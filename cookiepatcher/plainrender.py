"""Render an incremental upgrade's files without loading cookiecutter or Jinja.

An incremental render (:mod:`cookiepatcher.incremental`) extracts only the changed
files of a template without hooks. Most of them are plain text or only substitute
answers (``{{ cookiecutter.NAME }}``); for those cookiecutter's generation already
skips Jinja's compile (:class:`cookiepatcher.render._Substitution`), yet an update
from an empty cache still pays about 0.1 s to import cookiecutter, Jinja, rich and
arrow. :func:`render_plain` does the same generation itself when every text of the
extracted template (file contents, file and folder names) is such a text, and gives
up (returns ``None``, the caller renders with cookiecutter) in every other case.

What it follows, step by step, is ``cookiecutter.generate.generate_files`` and
``generate_file`` (cookiecutter 2.6/2.7) on a template without hooks: the context as
``generate_context`` loads it with the recorded answers applied as
:func:`cookiepatcher.answers.resolve_answers` applies them, the project folder found as
``cookiecutter.find.find_template`` finds it, folders created in ``os.walk`` order,
binary files (``binaryornot``) copied, texts read as Jinja's ``FileSystemLoader`` reads
them and written with the newline of their first line (or ``_new_lines``), modes
copied. It gives up, leaving the errors and unusual cases to cookiecutter, on:

* a template environment that is not cookiecutter's stock one (``_extensions``,
  ``_jinja2_env_vars``), ``__``-variables (rendered by Jinja), a question the record
  does not answer (its default is rendered), a ``_copy_without_render`` match;
* any other Jinja syntax, a name missing from the context or that is also an
  attribute of it (Jinja looks attributes up first), a text that is not UTF-8;
* a folder that already exists (cookiecutter refuses it), and any error at all.

``tests/test_plainrender.py`` compares it with cookiecutter's generation byte for byte.
"""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cookiepatcher import render as render_mod
from cookiepatcher.errors import RefusedError

#: cookiecutter.json settings that change how texts render: with them, cookiecutter renders
_ENVIRONMENT_SETTINGS = ("_extensions", "_jinja2_env_vars")


class _GiveUp(Exception):
    """This render needs cookiecutter (or Jinja): the caller renders the usual way."""


def _give_up() -> Any:
    raise _GiveUp


def _text(source: str, context: Mapping[str, Any]) -> str:
    """``source`` rendered as cookiecutter's environment renders it (``from_string`` or
    ``get_template``), or :class:`_GiveUp` where that takes Jinja."""
    split = render_mod._split_substitutions(source)
    if split is None:
        raise _GiveUp
    return render_mod._Substitution(*split, compile_real=_give_up).render(**context)


def _context(template_dir: Path, answers: Mapping[str, Any]) -> OrderedDict[str, Any]:
    """``cookiecutter.json`` with the recorded ``answers`` applied: what
    ``generate_context`` loads (an ``OrderedDict``) updated with what
    :func:`cookiepatcher.answers.resolve_answers` returns when every question is
    answered and nothing is rendered."""
    with open(template_dir / "cookiecutter.json", encoding="utf-8") as handle:
        obj = json.load(handle, object_pairs_hook=OrderedDict)
    if not isinstance(obj, OrderedDict) or any(k in obj for k in _ENVIRONMENT_SETTINGS):
        raise _GiveUp
    for key in obj:
        if key == "__prompts__" or (key.startswith("_") and not key.startswith("__")):
            continue  # kept as they are
        if key.startswith("__") or key not in answers:
            raise _GiveUp  # rendered by Jinja (a __ variable, a new question's default)
        obj[key] = answers[key]
    return obj


def _copy_only(path: str, context: Mapping[str, Any]) -> bool:
    """``cookiecutter.generate.is_copy_only_path``."""
    try:
        return any(fnmatch.fnmatch(path, pattern) for pattern in context["cookiecutter"]["_copy_without_render"])
    except KeyError:
        return False


def preload() -> None:
    """Import what :func:`render_plain` needs (binaryornot, and the text codecs it tries
    on every file), for :class:`cookiepatcher.render.Preloader`."""
    import binaryornot.check  # noqa: F401
    from binaryornot.helpers import is_binary_string

    is_binary_string("text, then bytes no codec takes: \u00e9\u4e2d".encode() + bytes(range(128, 256)))


def _render_file(project_dir: str, template_dir: Path, infile: str, context: Mapping[str, Any]) -> None:
    """``cookiecutter.generate.generate_file`` for ``infile`` (relative to ``template_dir``)."""
    from binaryornot.check import is_binary

    outfile = os.path.join(project_dir, _text(infile, context))
    if os.path.isdir(outfile):  # the name rendered empty: nothing to write
        return
    source_path = template_dir / infile
    if is_binary(str(source_path)):
        shutil.copyfile(source_path, outfile)
        shutil.copymode(source_path, outfile)
        return
    with open(source_path, encoding="utf-8") as handle:  # as jinja2.FileSystemLoader.get_source
        rendered = _text(handle.read(), context)
    if context["cookiecutter"].get("_new_lines", False):
        newline = context["cookiecutter"]["_new_lines"]
    else:
        with open(source_path, encoding="utf-8") as rd:
            rd.readline()
        newline = rd.newlines[0] if isinstance(rd.newlines, tuple) else rd.newlines
    with open(outfile, "w", encoding="utf-8", newline=newline) as fh:
        fh.write(rendered)
    shutil.copymode(source_path, outfile)


def _generate(template_dir: Path, output_dir: Path, context: Mapping[str, Any]) -> str:
    """``cookiecutter.generate.generate_files`` without hooks; returns the project folder."""
    for name in os.listdir(template_dir):  # cookiecutter.find.find_template
        if "cookiecutter" in name and "{{" in name and "}}" in name:
            project_template = template_dir / name
            break
    else:
        raise _GiveUp
    project = Path(output_dir, _text(os.path.split(project_template)[1], context))
    project.mkdir(parents=True)  # fails on an existing folder, which cookiecutter refuses too
    project_dir = os.path.abspath(project)
    for top, dirs, files in os.walk(project_template):
        rel = os.path.relpath(top, project_template)
        root = "." if rel == "." else os.path.join(".", rel)  # as cookiecutter walks it: from '.'
        dirs.sort()
        for d in dirs:
            if _copy_only(os.path.normpath(os.path.join(root, d)), context):
                raise _GiveUp
            Path(output_dir, _text(os.path.join(project_dir, root, d), context)).mkdir(parents=True)
        for f in sorted(files):
            infile = os.path.normpath(os.path.join(root, f))
            if _copy_only(infile, context):
                raise _GiveUp
            _render_file(project_dir, project_template, infile, context)
    return project_dir


def render_plain(template_dir: Path, output_dir: Path, answers: Mapping[str, Any], *, template: str,
                 checkout: str | None, output_dir_value: str | None = None,
                 repo_dir_value: str | None = None, answer_flag: str | None = None) -> render_mod.Rendered | None:
    """Render an incremental upgrade's extracted template without cookiecutter, or say it cannot.

    Args:
        template_dir: folder holding ``cookiecutter.json`` and the extracted files
            (:func:`cookiepatcher.project.template_folder`); it must have no hooks.
        output_dir: an empty folder that receives the project folder.
        answers: the recorded answers (plus ``--set`` values), kept verbatim.
        template / checkout / output_dir_value / repo_dir_value / answer_flag: as for
            :func:`cookiepatcher.render.render` in ``"upgrade"`` mode (``_template``,
            ``_checkout``, ``_output_dir``, ``_repo_dir``; the flag named in errors).

    Returns:
        The :class:`cookiepatcher.render.Rendered` that :func:`cookiepatcher.render.render`
        would return (same files, bytes, modes and context), or ``None`` with
        ``output_dir`` empty again when this render needs cookiecutter.

    Raises:
        RefusedError: answers used in names that would write outside the project, or
            symlinks in the render (as :func:`cookiepatcher.render.render`).
    """
    if not render_mod.PLAIN_TEXT_SHORTCUT or (template_dir / "hooks").exists():
        return None
    try:
        obj = _context(template_dir, answers)
    except (_GiveUp, OSError, ValueError):
        return None
    render_mod.check_path_answers(template_dir, obj, "--set " if answer_flag is None else answer_flag)
    obj["_template"] = template
    obj["_output_dir"] = str(output_dir_value or output_dir.resolve())
    obj["_repo_dir"] = repo_dir_value or str(template_dir)
    obj["_checkout"] = checkout
    context = {"cookiecutter": obj}  # (what a substitution reads)
    try:
        project = Path(_generate(template_dir, output_dir, context))
    except Exception:  # noqa: BLE001 - cookiecutter renders it, or reports the error its own way
        for child in output_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        return None
    if not project.resolve().is_relative_to(output_dir.resolve()):
        raise RefusedError("template renders its project folder outside the output folder; check answers used in its name")
    render_mod.check_symlinks(project)  # (no hook ran: there is no VCS folder to drop)
    return render_mod.Rendered(project=project, context=dict(obj))
