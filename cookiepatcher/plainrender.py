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
* a rendered name that is not a plain name (empty, ``.``, ``..``, ``.git`` and its
  kin, which cookiecutter's render drops), an output path cookiecutter would render
  again (it holds Jinja's delimiters or a ``\r``), a folder that already exists
  (cookiecutter refuses it), and any error at all. Nothing is written outside the
  output folder.

:func:`render_blobs` goes one step further for the usual case: the same render made
from the template's blobs in memory and hashed as it is, so nothing is extracted or
written (it gives up, to :func:`render_plain`, where the disk decides something).

``tests/test_plainrender.py`` compares both with cookiecutter's generation byte for byte.
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


def _context(text: str, answers: Mapping[str, Any]) -> OrderedDict[str, Any]:
    """``cookiecutter.json`` (its ``text``, read as a text file) with the recorded
    ``answers`` applied: what ``generate_context`` loads (an ``OrderedDict``) updated with
    what :func:`cookiepatcher.answers.resolve_answers` returns when every question is
    answered and nothing is rendered."""
    obj = json.loads(text, object_pairs_hook=OrderedDict)
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


def _plain_parts(path: str, *, blobs: bool = False) -> list[str]:
    """The components of a rendered path relative to the project, each a plain name, or
    :class:`_GiveUp`: an empty, ``.``/``..`` or NUL-holding name (the file system's to
    resolve), a name git treats specially (``.git``: cookiecutter's render drops it) and,
    for a render from blobs, ``.gitattributes`` (git hashes the render then)."""
    from cookiepatcher.merge import _git_special_name

    parts = path.split("/")
    if any(not p or "\0" in p or _git_special_name(p, False) or (blobs and p == ".gitattributes") for p in parts):
        raise _GiveUp
    return parts


def _render_file(project_dir: str, template_dir: Path, infile: str, context: Mapping[str, Any]) -> None:
    """``cookiecutter.generate.generate_file`` for ``infile`` (relative to ``template_dir``)."""
    from binaryornot.check import is_binary

    rendered = _text(infile, context)
    outfile = os.path.join(project_dir, rendered)
    if os.path.isdir(outfile):  # the name rendered empty (or as a folder's): nothing to write
        return
    _plain_parts(rendered)
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


def _project_dir(output_dir: Path, name: str, context: Mapping[str, Any]) -> str:
    """The project folder's absolute path (the rendered ``name`` must be a plain name, so
    the folder is inside ``output_dir``),
    or :class:`_GiveUp` when cookiecutter would read it as a template again: it renders
    folder names with the project folder's path in front, so a path holding Jinja's
    delimiters or a ``\r`` (Jinja reads it as ``\n``) is its to resolve."""
    rendered = _text(name, context)
    if len(_plain_parts(rendered)) != 1:
        raise _GiveUp
    project_dir = os.path.abspath(Path(output_dir, rendered))
    if render_mod._MARKER_RE.search(project_dir) or "\r" in project_dir:
        raise _GiveUp
    return project_dir


def _generate(template_dir: Path, output_dir: Path, context: Mapping[str, Any]) -> str:
    """``cookiecutter.generate.generate_files`` without hooks; returns the project folder.
    Nothing is written outside ``output_dir``: every rendered name is a plain name."""
    for name in os.listdir(template_dir):  # cookiecutter.find.find_template
        if "cookiecutter" in name and "{{" in name and "}}" in name:
            project_template = template_dir / name
            break
    else:
        raise _GiveUp
    if project_template.is_symlink() or not project_template.is_dir():
        raise _GiveUp
    project_dir = _project_dir(output_dir, name, context)
    Path(project_dir).mkdir(parents=True)  # fails on an existing folder, which cookiecutter refuses too
    for top, dirs, files in os.walk(project_template):
        rel = os.path.relpath(top, project_template)
        root = "." if rel == "." else os.path.join(".", rel)  # as cookiecutter walks it: from '.'
        dirs.sort()
        for d in dirs:
            if _copy_only(os.path.normpath(os.path.join(root, d)), context):
                raise _GiveUp
            folder = _text(os.path.join(project_dir, root, d), context)  # what cookiecutter renders
            inside = folder.removeprefix(project_dir + "/")
            if inside == folder:
                raise _GiveUp
            _plain_parts(os.path.normpath(inside))
            Path(output_dir, folder).mkdir(parents=True)
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
        with open(template_dir / "cookiecutter.json", encoding="utf-8") as handle:
            obj = _context(handle.read(), answers)
    except (_GiveUp, OSError, ValueError):
        return None
    render_mod.check_path_answers(template_dir, obj, "--set " if answer_flag is None else answer_flag)
    render_mod.add_render_values(obj, template=template, checkout=checkout,
                                 output_dir=output_dir_value or str(output_dir.resolve()),
                                 repo_dir=repo_dir_value or str(template_dir))
    context = {"cookiecutter": obj}  # (what a substitution reads)
    try:
        project = Path(_generate(template_dir, output_dir, context))
    except Exception:  # noqa: BLE001 - cookiecutter renders it, or reports the error its own way
        for child in output_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        return None
    render_mod.check_symlinks(project)  # (no VCS folder to drop: such names gave up above)
    return render_mod.Rendered(project=project, context=dict(obj))


# -- renders from the template's blobs ----------------------------------------------------

#: what ``open(..., newline=X)`` accepts besides ``None`` and ``""`` (both keep ``\n``)
_NEWLINES = ("\n", "\r", "\r\n")


def _same_depth(rendered: str, unrendered: str) -> list[str]:
    """:func:`_plain_parts` (for a render from blobs) of a rendered path that has as many
    names as the template's path (an answer holding a ``/`` would make folders no
    template folder stands for: the disk's case)."""
    parts = _plain_parts(rendered, blobs=True)
    if len(parts) != unrendered.count("/") + 1:
        raise _GiveUp
    return parts


def _file_bytes(infile: str, data: bytes, context: Mapping[str, Any]) -> bytes:
    """What :func:`_render_file` writes for template file ``infile`` holding ``data``:
    binaryornot's test as ``binaryornot.check.is_binary`` makes it (extension, then the
    first ``CHUNK_SIZE`` bytes), the text read as Jinja's loader reads it, and the newline
    cookiecutter writes with. A text mixing newline kinds gives up (which kind its first
    line's read reports depends on the reader's chunks)."""
    from binaryornot import helpers

    if helpers.has_binary_extension(infile) or helpers.is_binary_string(data[:helpers.CHUNK_SIZE]):
        return data
    text = data.decode("utf-8")
    rendered = _text(text, context)
    newline = context["cookiecutter"].get("_new_lines", False)
    if newline:
        if newline not in _NEWLINES:
            raise _GiveUp
    else:
        crlf = "\r\n" in text
        rest = text.replace("\r\n", "") if crlf else text
        kinds = [k for k, present in (("\r\n", crlf), ("\r", "\r" in rest), ("\n", "\n" in rest)) if present]
        if len(kinds) > 1:
            raise _GiveUp
        newline = kinds[0] if kinds else os.linesep
    return (rendered.replace("\n", newline) if newline != "\n" else rendered).encode("utf-8")


def render_blobs(source: Any, sha: str, directory: str | None, paths: list[str], answers: Mapping[str, Any], *,
                 template: str, checkout: str | None, output_dir: Path, output_dir_value: str | None = None,
                 repo_dir_value: str | None = None, answer_flag: str | None = None,
                 object_format: str = "sha1") -> tuple[dict[str, Any], dict[str, tuple[str, str]], dict[str, bytes]] | None:
    """An incremental render straight from the template's blobs, without a file written.

    What :func:`cookiepatcher.project.render_at` gets by extracting ``paths`` at ``sha``,
    :func:`render_plain` and hashing the render as it is
    (:func:`cookiepatcher.merge.verbatim_entries`): the same context, entries and blobs.
    It gives up (``None``) wherever :func:`render_plain` does, and also where the disk
    decides something: a template checkout that is not its blobs as they are (attributes,
    ``core.autocrlf``), a file that is not a plain file, a rendered name that is not a
    plain name (empty, ``.``, ``..``, a git-special name, ``.gitattributes``), two names
    rendering to one path, a folder name rendering to an existing file's, a text mixing
    newline kinds, a file larger than :data:`cookiepatcher.merge.VERBATIM_MAX_BYTES`.

    Args:
        source: the :class:`cookiepatcher.source.TemplateSource` holding ``sha``.
        sha / directory / paths: the commit, template subfolder and repository-relative
            paths of the incremental plan (:class:`cookiepatcher.incremental.Plan`).
        answers / template / checkout / output_dir_value / repo_dir_value / answer_flag:
            as for :func:`render_plain`; ``output_dir`` is the folder a render on disk
            would write into (it shows in folder names as cookiecutter renders them).
        object_format: the project repository's object format (``"sha1"``, ``"sha256"``).

    Returns:
        ``(context, entries, blobs)``: the render's context, ``{path: (mode, sha)}``
        relative to the project and ``{sha: bytes}``; or ``None``.

    Raises:
        RefusedError: answers used in names that would write outside the project.
    """
    from cookiepatcher import git, incremental
    from cookiepatcher.merge import VERBATIM_MAX_BYTES
    from cookiepatcher.rendercache import blob_sha, id_length

    if not render_mod.PLAIN_TEXT_SHORTCUT or repo_dir_value is None or not source.checkout_verbatim(sha):
        return None
    prefix = incremental.template_prefix(directory)
    listing = incremental.commit_files(source.repo, sha)
    entries = {p: listing.get(p) for p in paths}
    if any(e is None or e[0] not in ("100644", "100755") for e in entries.values()):
        return None
    blobs = source.blobs([obj for _mode, obj in entries.values()], max_size=VERBATIM_MAX_BYTES)
    if len(blobs) < len({obj for _mode, obj in entries.values()}):  # one is larger: git hashes the render
        return None
    try:
        cc = blobs[entries[prefix + "cookiecutter.json"][1]]
        obj = _context(render_mod._NEWLINE_RE.sub("\n", cc.decode("utf-8")), answers)
    except (_GiveUp, KeyError, ValueError):
        return None
    if any(not p.startswith(prefix) for p in paths):
        return None
    files = {p[len(prefix):]: e for p, e in entries.items() if p != prefix + "cookiecutter.json"}
    if not files or any("/" not in p for p in files):  # each below the project folder
        return None
    top = {p.split("/", 1)[0] for p in files}
    names = {part for p in files for part in p.split("/")}
    render_mod.check_path_answers(Path(), obj, "--set " if answer_flag is None else answer_flag, names=names)
    render_mod.add_render_values(obj, template=template, checkout=checkout,
                                 output_dir=output_dir_value or str(output_dir.resolve()), repo_dir=repo_dir_value)
    context = {"cookiecutter": obj}
    hex_length = id_length(object_format)
    executable = not git.umask() & 0o100  # git checks 100755 files out with mode 0777 & ~umask
    try:
        (project_template,) = top  # the plan's one project folder, as cookiecutter finds it
        if not ("cookiecutter" in project_template and "{{" in project_template and "}}" in project_template):
            return None
        _project_dir(output_dir, project_template, context)
        # the extracted template's folders, walked as os.walk walks them (top-down, sorted)
        children: dict[str, tuple[set[str], list[str]]] = {"": (set(), [])}
        for rel in files:
            parts = rel.split("/")[1:]
            for depth in range(len(parts)):
                folder = "/".join(parts[:depth])
                children.setdefault(folder, (set(), []))
                if depth < len(parts) - 1:
                    children[folder][0].add(parts[depth])
                else:
                    children[folder][1].append(parts[depth])
        made: set[str] = {""}  # rendered folders, relative to the project
        out: dict[str, tuple[str, bytes]] = {}
        todo = [""]
        while todo:
            folder = todo.pop()
            root = os.path.join(".", folder) if folder else "."
            dirs, names_here = children[folder]
            for d in sorted(dirs):
                unrendered = os.path.normpath(os.path.join(root, d))
                if _copy_only(unrendered, context):
                    raise _GiveUp
                rendered = "/".join(_same_depth(_text(unrendered, context), unrendered))
                if rendered in made or rendered in out:
                    raise _GiveUp  # cookiecutter refuses an existing folder
                made.add(rendered)
            todo += [os.path.join(folder, d) if folder else d for d in sorted(dirs, reverse=True)]
            for f in sorted(names_here):
                infile = os.path.normpath(os.path.join(root, f))
                if _copy_only(infile, context):
                    raise _GiveUp
                rendered = _text(infile, context)
                if rendered.rstrip("/") in made:  # the name rendered empty or as a folder's: not written
                    continue
                _same_depth(rendered, infile)
                mode, obj_sha = files[f"{project_template}/{infile}"]
                data = _file_bytes(infile, blobs[obj_sha], context)
                out[rendered] = ("100755" if mode == "100755" and executable else "100644", data)
    except (_GiveUp, ValueError):
        return None
    result_entries = {}
    result_blobs = {}
    for path, (mode, data) in out.items():
        digest = blob_sha(data, hex_length)
        result_entries[path] = (mode, digest)
        result_blobs[digest] = data
    return dict(obj), result_entries, result_blobs
