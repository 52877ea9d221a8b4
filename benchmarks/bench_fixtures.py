"""Deterministic benchmark fixtures: one template in two formats, v1 and v2 commits.

A scenario (:class:`Spec`) describes a template of ``n_files`` files and the change
between its v1 and v2 commits. :func:`build_template` writes it twice, as a
Cookiecutter template (``cookiecutter.json`` + ``{{cookiecutter.project_slug}}/``,
driven by cookiepatcher and cruft) and as a Copier template (``copier.yml`` +
``template/`` with ``.jinja`` suffixes), each a git repository with tags ``v1`` and
``v2`` and fixed commit dates, so the shas are the same on every machine.

Every template file is a list of lines written with ``§name§`` placeholders; a line is
rendered three ways (Cookiecutter Jinja, Copier Jinja, final text), so the expected
project at any version is computed here without running Jinja.

The project a user holds is generated at v1 and then edited by the user
(:func:`user_edits`): some edits touch files that v2 also changes, in other lines, so a
correct update must merge them; the ``conflict`` variant also edits a line that v2
changes, so the update must report a conflict.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Answers of the benchmark template (defaults; every tool runs non-interactively).
CONTEXT: dict[str, str] = {
    "project_name": "Bench Service",
    "project_slug": "bench_service",
    "package_name": "bench_pkg",
    "author": "Jane Doe",
    "python_version": "3.11",
}
# Pinned git identity and dates: the template shas depend only on the spec.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
V1_DATE = "2024-01-01T12:00:00+00:00"
V2_DATE = "2024-02-01T12:00:00+00:00"
USER_DATE = "2024-01-15T12:00:00+00:00"
BINARY = "static/logo.png"
VERBATIM = "static/vendor/widget.js"  # listed in _copy_without_render
LINES_PER_FILE = 48
USER_LINE = 2  # the line a user edits (0-based)
V2_LINE = 30  # the line v2 edits; far enough from USER_LINE for a clean merge

_WORDS = (
    "service request handler retry timeout cache worker queue token schema route "
    "metric client server config deploy build image probe health ready limit"
).split()


@dataclass(frozen=True)
class Spec:
    """One scenario's template and change.

    Attributes:
        name: scenario name used in paths and tables (``n60``, ``typical`` ...).
        n_files: number of files in the generated project at v1 (record file excluded).
        n_edit: files whose text v2 changes (one line replaced, one line added).
        n_add: files v2 adds.
        rename: v2 renames one unedited file (pure rename).
        delete: v2 deletes one file.
        binary: v2 changes the bytes of the binary file.
        conflict: the user also edits a line v2 changes in one file (a conflict).
        seed: seed of the content generator.
    """

    name: str
    n_files: int
    n_edit: int
    n_add: int = 0
    rename: bool = True
    delete: bool = True
    binary: bool = True
    conflict: bool = False
    seed: int = 6

    @property
    def n_changed(self) -> int:
        """Files that differ between v1 and v2 (edits, additions, rename, deletion, binary)."""
        return self.n_edit + self.n_add + int(self.rename) + int(self.delete) + int(self.binary)


def churn_spec(n_files: int, *, conflict: bool = False) -> Spec:
    """The "20 % change" scenario of size ``n_files``: edits, additions (a tenth of the
    changes), one rename, one deletion and the binary file."""
    changed = round(n_files * 0.2)
    n_add = max(1, changed // 10)
    name = f"n{n_files}" + ("-conflict" if conflict else "")
    return Spec(name=name, n_files=n_files, n_edit=max(2, changed - n_add - 3), n_add=n_add, conflict=conflict)


def typical_spec(n_files: int = 300) -> Spec:
    """The typical upgrade: 5 text files edited in a ``n_files``-file template."""
    return Spec(name=f"typical{n_files}", n_files=n_files, n_edit=5, rename=False, delete=False, binary=False)


# --------------------------------------------------------------------------- lines
def render(text: str, flavour: str) -> str:
    """Render a ``§name§`` line for ``flavour``: ``cc`` (Cookiecutter), ``copier`` or ``out``."""
    for key, value in CONTEXT.items():
        marker = f"§{key}§"
        if flavour == "cc":
            text = text.replace(marker, "{{ cookiecutter.%s }}" % key)
        elif flavour == "copier":
            text = text.replace(marker, "{{ %s }}" % key)
        else:
            text = text.replace(marker, value)
    return text


@dataclass
class TFile:
    """One template file: ``path`` with ``§name§`` placeholders, text lines or bytes."""

    path: str
    lines: list[str] = field(default_factory=list)
    data: bytes | None = None
    verbatim: bool = False  # copied without rendering (Cookiecutter _copy_without_render)

    def text(self, flavour: str) -> str:
        if self.verbatim:
            return "\n".join(self.lines) + "\n"
        return "\n".join(render(line, flavour) for line in self.lines) + "\n"


def _filler(rng: random.Random, i: int, templated: bool) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 9)))
    if templated and rng.random() < 0.25:
        key = rng.choice(sorted(CONTEXT))
        return f"# {words} for §{key}§ ({i})"
    return f"# {words} ({i})"


def _python_file(rng: random.Random, idx: int) -> list[str]:
    lines = [f'"""Module {idx} of §project_name§."""', "from __future__ import annotations", ""]
    while len(lines) < LINES_PER_FILE:
        n = len(lines)
        lines.append(f"VALUE_{n} = {rng.randint(0, 10**6)}  {_filler(rng, n, True)}")
    return lines


def _doc_file(rng: random.Random, idx: int) -> list[str]:
    lines = [f"# Page {idx} of §project_name§", "", "Maintained by §author§."]
    while len(lines) < LINES_PER_FILE:
        lines.append(_filler(rng, len(lines), True).lstrip("# "))
    return lines


def _yaml_file(rng: random.Random, idx: int) -> list[str]:
    lines = [f"# settings {idx}", "service: §project_slug§", f"replicas: {idx % 5 + 1}"]
    while len(lines) < LINES_PER_FILE:
        n = len(lines)
        lines.append(f"key_{n}: {rng.choice(_WORDS)}-{rng.randint(0, 9999)}  {_filler(rng, n, False)}")
    return lines


def _binary(rng: random.Random, size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.getrandbits(8) for _ in range(size))


def template_v1(spec: Spec) -> dict[str, TFile]:
    """The v1 template files of ``spec`` keyed by (unrendered) path; exactly ``n_files``."""
    rng = random.Random(spec.seed * 1_000_003 + spec.n_files)
    files: dict[str, TFile] = {}

    def add(tf: TFile) -> None:
        files[tf.path] = tf

    add(TFile("README.md", ["# §project_name§", "", "Generated service. Author: §author§.", "", "Python §python_version§."]))
    add(TFile("pyproject.toml", ["[project]", 'name = "§project_slug§"', 'version = "0.1.0"', 'requires-python = ">=§python_version§"']))
    add(TFile(".gitignore", ["__pycache__/", "*.pyc", ".venv/"]))
    add(TFile(BINARY, data=_binary(rng, 2048)))
    add(TFile(VERBATIM, ["// vendored: left unrendered", "const tpl = '{{ value }}';", "export default tpl;"], verbatim=True))
    add(TFile("src/§package_name§/__init__.py", ['"""§project_name§."""', '__version__ = "0.1.0"']))
    kinds = (
        ("src/§package_name§/module_{:04d}.py", _python_file),
        ("docs/page_{:04d}.md", _doc_file),
        ("config/§project_slug§_{:04d}.yaml", _yaml_file),
        ("tests/test_module_{:04d}.py", _python_file),
    )
    idx = 0
    while len(files) < spec.n_files:
        pattern, make = kinds[idx % len(kinds)]
        add(TFile(pattern.format(idx), make(rng, idx)))
        idx += 1
    return files


@dataclass
class Plan:
    """What v2 changes and what the user edits, as sets of (unrendered) template paths."""

    edited: list[str]
    added: list[str]
    renamed: tuple[str, str] | None
    deleted: str | None
    user_only: list[str]  # user edits files v2 does not touch
    user_merge: list[str]  # user edits files v2 edits too (other lines): clean merge
    user_conflict: str | None  # user edits the line v2 edits


def plan(spec: Spec, v1: dict[str, TFile]) -> Plan:
    """Choose the changed and user-edited files of ``spec`` (deterministic)."""
    rng = random.Random(spec.seed * 7919 + spec.n_files)
    numbered = sorted(p for p, f in v1.items() if f.data is None and not f.verbatim and len(f.lines) == LINES_PER_FILE)
    rng.shuffle(numbered)
    pool = iter(numbered)
    renamed = None
    deleted = None
    if spec.rename:
        src = next(p for p in pool if p.startswith("docs/"))
        renamed = (src, src.replace("docs/", "docs/guide/", 1))
    if spec.delete:
        deleted = next(pool)
    edited = [next(pool) for _ in range(spec.n_edit)]
    n_user = max(2, spec.n_files // 30)
    user_only = [next(pool) for _ in range(n_user)]
    user_merge = edited[: max(1, min(len(edited) // 2, n_user))]
    user_conflict = edited[-1] if spec.conflict else None
    if user_conflict in user_merge:
        user_merge.remove(user_conflict)
    added = [f"src/§package_name§/feature_{i:04d}.py" for i in range(spec.n_add)]
    return Plan(edited, added, renamed, deleted, user_only, user_merge, user_conflict)


def v2_edit(lines: list[str]) -> list[str]:
    """v2's change to an edited file: line ``V2_LINE`` replaced, one templated line added after it."""
    out = list(lines)
    out[V2_LINE] = out[V2_LINE] + "  # v2: tuned for §project_slug§"
    out.insert(V2_LINE + 1, "# v2: new setting for §project_name§")
    return out


def template_v2(spec: Spec, v1: dict[str, TFile], p: Plan) -> dict[str, TFile]:
    """The v2 template files: v1 with ``p``'s edits, additions, rename, deletion, binary change."""
    rng = random.Random(spec.seed * 104_729 + spec.n_files)
    files = {k: TFile(v.path, list(v.lines), v.data, v.verbatim) for k, v in v1.items()}
    for path in p.edited:
        files[path].lines = v2_edit(files[path].lines)
    for i, path in enumerate(p.added):
        files[path] = TFile(path, _python_file(rng, 90_000 + i))
    if p.renamed:
        src, dst = p.renamed
        tf = files.pop(src)
        files[dst] = TFile(dst, tf.lines)
    if p.deleted:
        del files[p.deleted]
    if spec.binary:
        files[BINARY] = TFile(BINARY, data=_binary(rng, 2048))
    return files


def user_line(line: str, conflict: bool = False) -> str:
    """The user's local change to one line of a generated file (already rendered)."""
    return line + ("  # local: conflicting tweak" if conflict else "  # local: tweaked by the team")


USER_FILE = "NOTES.local.md"  # a file the user adds; an update must keep it
USER_TEXT = b"Team notes, not from the template.\n"


def apply_user_edits(project: Path, p: Plan) -> None:
    """Make the user's local edits in the generated v1 project folder ``project``."""

    def edit(tpath: str, index: int, conflict: bool) -> None:
        path = project / render(tpath, "out")
        lines = path.read_bytes().decode().split("\n")
        lines[index] = user_line(lines[index], conflict)
        path.write_bytes("\n".join(lines).encode())

    for tpath in p.user_only + p.user_merge:
        edit(tpath, USER_LINE, False)
    if p.user_conflict:
        edit(p.user_conflict, V2_LINE, True)
    (project / USER_FILE).write_bytes(USER_TEXT)


def rendered(files: dict[str, TFile]) -> dict[str, bytes]:
    """The generated project ``{path: bytes}`` of a template version (record file excluded)."""
    out: dict[str, bytes] = {}
    for tf in files.values():
        out[render(tf.path, "out")] = tf.data if tf.data is not None else tf.text("out").encode()
    return out


def expected_after_update(spec: Spec, v2: dict[str, TFile], p: Plan) -> dict[str, bytes]:
    """The project a correct update produces: v2 rendered, with the user's edits merged.

    Conflict-free files only: for the ``conflict`` file the merged result is not
    defined, so it is left out (the check only asks that the conflict is reported).
    """
    out = rendered(v2)
    for tpath in p.user_only + p.user_merge:
        path = render(tpath, "out")
        lines = out[path].decode().split("\n")
        lines[USER_LINE] = user_line(lines[USER_LINE])
        out[path] = "\n".join(lines).encode()
    if p.user_conflict:
        out.pop(render(p.user_conflict, "out"))
    out[USER_FILE] = USER_TEXT
    return out


# --------------------------------------------------------------------------- git repos
def git(cwd: Path, *args: str, date: str | None = None) -> str:
    """Run git in ``cwd`` with the pinned identity (and ``date`` for commits); return stdout."""
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    res = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {res.stderr.strip()}")
    return res.stdout.strip()


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts):
        path.unlink()
    for rel, data in files.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def cookiecutter_tree(files: dict[str, TFile]) -> dict[str, bytes]:
    """The files of the Cookiecutter-format template repository."""
    meta = {
        "project_name": CONTEXT["project_name"],
        "project_slug": "{{ cookiecutter.project_name.lower().replace(' ', '_') }}",
        "package_name": "bench_pkg",
        "author": CONTEXT["author"],
        "python_version": CONTEXT["python_version"],
        "_copy_without_render": ["static/vendor/*"],
    }
    out = {"cookiecutter.json": (json.dumps(meta, indent=2) + "\n").encode()}
    for tf in files.values():
        path = "{{cookiecutter.project_slug}}/" + render(tf.path, "cc").replace(" ", "")
        out[path] = tf.data if tf.data is not None else tf.text("cc").encode()
    return out


COPIER_YML = """\
_subdirectory: template
_templates_suffix: .jinja
_answers_file: .copier-answers.yml
project_name:
  type: str
  default: Bench Service
project_slug:
  type: str
  default: "{{ project_name.lower().replace(' ', '_') }}"
package_name:
  type: str
  default: bench_pkg
author:
  type: str
  default: Jane Doe
python_version:
  type: str
  default: "3.11"
"""


def copier_tree(files: dict[str, TFile]) -> dict[str, bytes]:
    """The files of the Copier-format template repository (rendered files end in ``.jinja``)."""
    out = {
        "copier.yml": COPIER_YML.encode(),
        "template/{{_copier_conf.answers_file}}.jinja": b"# Changes here will be overwritten by Copier\n{{ _copier_answers|to_nice_yaml -}}\n",
    }
    for tf in files.values():
        path = "template/" + render(tf.path, "copier").replace(" ", "")
        if tf.data is not None or tf.verbatim:
            out[path] = tf.data if tf.data is not None else tf.text("copier").encode()
        else:
            out[path + ".jinja"] = tf.text("copier").encode()
    return out


def commit_versions(repo: Path, v1: dict[str, bytes], v2: dict[str, bytes]) -> dict[str, str]:
    """Create git repo ``repo`` with commits tagged v1 and v2; return ``{"v1": sha, "v2": sha}``."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    shas = {}
    for tag, files, date in (("v1", v1, V1_DATE), ("v2", v2, V2_DATE)):
        _write_tree(repo, files)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"template {tag}", date=date)
        git(repo, "tag", tag)
        shas[tag] = git(repo, "rev-parse", "HEAD")
    return shas
