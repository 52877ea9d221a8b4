"""Incremental renders give byte-identical merges to full renders.

Every scenario below (one per kind of upgrade the engine handles, plus the cases the
incremental planner must refuse) is upgraded twice from identical copies: once with the
planner, the render shortcut and the render cache on, once on the plain path
(``COOKIEPATCHER_FULL_RENDER=1``, every text compiled by Jinja, no render cache). Working tree bytes and modes, the
index (``git ls-files -s``, stages included), the exit code and the reported outcomes
must be identical.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import files_with_modes

from cookiepatcher import incremental, rendercache
from cookiepatcher import render as render_mod
from cookiepatcher.create import create_project
from cookiepatcher.update import update_project

S = "{{cookiecutter.slug}}"
CC = '{"name": "Demo", "slug": "{{ cookiecutter.name.lower() }}"}'
README = "# {{ cookiecutter.name }}\n\nGenerated.\n"
EXEC = object()  # marker: file is executable


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _write(root: Path, files: dict[str, object]) -> None:
    for rel, content in files.items():
        p = root / rel
        if content is None:
            if p.exists():
                p.unlink()
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        mode = 0o644
        if isinstance(content, tuple):
            content, mode = content
        p.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        p.chmod(mode)


# name: (v1 template files, v2 changes, user changes in the project, planner expected to be used)
SCENARIOS: dict[str, tuple[dict, dict, dict, bool]] = {
    "edit-merges": ({f"{S}/a.txt": "1\n2\n3\n4\n5\n"}, {f"{S}/a.txt": "one\n2\n3\n4\n5\n"}, {"a.txt": "1\n2\n3\n4\nfive\n"}, True),
    "edit-conflicts": ({f"{S}/a.txt": "x\n"}, {f"{S}/a.txt": "template\n"}, {"a.txt": "user\n"}, True),
    "rename-follows-edit": ({f"{S}/docs/usage.md": "# Usage\n\nLine.\n" * 3, f"{S}/docs/keep.md": "k\n"},
                            {f"{S}/docs/usage.md": None, f"{S}/docs/start.md": "# Usage\n\nLine.\n" * 3},
                            {"docs/usage.md": "# Usage\n\nLine.\n" * 3 + "user\n"}, True),
    "delete-unmodified": ({f"{S}/setup.cfg": "[m]\n", f"{S}/keep.txt": "k\n"}, {f"{S}/setup.cfg": None}, {}, True),
    "delete-modified": ({f"{S}/tox.ini": "[tox]\n", f"{S}/keep.txt": "k\n"}, {f"{S}/tox.ini": None}, {"tox.ini": "[tox]\nuser\n"}, True),
    "user-deleted-template-changed": ({f"{S}/C.md": "a\n"}, {f"{S}/C.md": "b\n"}, {"C.md": None}, True),
    "binary-both-changed": ({f"{S}/i.bin": b"\0\1\2" * 50}, {f"{S}/i.bin": b"\0\3\4" * 50}, {"i.bin": b"\0\5" * 50}, True),
    "exec-bit": ({f"{S}/run.sh": "#!/bin/sh\n"}, {f"{S}/run.sh": ("#!/bin/sh\nset -e\n", 0o755)}, {}, True),
    "crlf": ({f"{S}/s.bat": "a\r\nb\r\nc\r\nd\r\n"}, {f"{S}/s.bat": "A\r\nb\r\nc\r\nd\r\n"}, {"s.bat": "a\r\nb\r\nc\r\nD\r\n"}, True),
    # the project's attributes turn the render's CRLF into LF when it is hashed: the blob is
    # not the file's bytes (the render cache must store the blob)
    "crlf-normalised-by-the-projects-attributes": ({f"{S}/s.bat": "a\r\nb\r\nc\r\n"}, {f"{S}/s.bat": "A\r\nb\r\nc\r\n"},
                                                   {".gitattributes": "*.bat text eol=crlf\n"}, True),
    # the template's own attributes change what its checkout writes (a render from the
    # blobs would not see them)
    "template-attributes-change-the-checkout": ({".gitattributes": "*.txt text eol=crlf\n", f"{S}/a.txt": "1\n2\n3\n"},
                                                {f"{S}/a.txt": "1\n2\n3\n4\n"}, {"b.txt": "mine\n"}, True),
    "add-add": ({f"{S}/README.md": README}, {f"{S}/.editorconfig": "space\n", f"{S}/.gitattributes": "* text\n"},
                {".editorconfig": "tab\n", ".gitattributes": "* text\n"}, True),
    "empty-files": ({f"{S}/CHANGELOG.md": "x\n"}, {f"{S}/CHANGELOG.md": "", f"{S}/pkg/__init__.py": ""}, {}, True),
    "path-template": ({f"{S}/src/{{{{cookiecutter.slug}}}}/m.py": "V = 1\n"}, {f"{S}/src/{{{{cookiecutter.slug}}}}/m.py": "V = 2\n"},
                      {"src/demo/m.py": "V = 1\n# user\n"}, True),
    # partial renders, then the project side shows a possible rename: full renders take over
    "user-renamed-changed-file-with-twin": ({f"{S}/a.txt": "shared 1\nshared 2\nshared 3\n", f"{S}/b.txt": "shared 1\nshared 2\nshared 3\n"},
                                            {f"{S}/a.txt": "shared 1\nshared 2\nshared 3\ntemplate added\n"},
                                            {"a.txt": None, "c.txt": "shared 1\nshared 2\nshared 3\n"}, True),
    "user-deleted-changed-file-with-twin": ({f"{S}/a.txt": "shared 1\nshared 2\nshared 3\n", f"{S}/b.txt": "shared 1\nshared 2\nshared 3\n"},
                                            {f"{S}/a.txt": "shared 1\nshared 2\nshared 3\ntemplate added\n"}, {"a.txt": None}, True),
    "user-renamed-folder-template-adds-to-it": ({f"{S}/pkg/m{i}.py": f"f{i}\nc{i}\nm{i}\n" for i in (1, 2, 3)},
                                                {f"{S}/pkg/new.py": "new\n"},
                                                {**{f"pkg/m{i}.py": None for i in (1, 2, 3)},
                                                 **{f"src/m{i}.py": f"f{i}\nc{i}\nm{i}\n" for i in (1, 2, 3)}}, True),
    "template-moves-one-file-out-of-a-folder-user-added-there": ({f"{S}/d/a.txt": "a\n" * 5, f"{S}/d/b.txt": "b\n" * 5},
                                                                 {f"{S}/d/a.txt": None, f"{S}/e/a.txt": "a\n" * 5},
                                                                 {"d/mine.txt": "mine\n"}, True),
    # the folder keeps only a subfolder: without a file of it in the renders, the folder
    # looks emptied and git moves the user's file along with the template's
    "template-moves-the-last-direct-file-out-of-a-folder-user-added-there": (
        {f"{S}/d/a.txt": "a\n" * 5, f"{S}/d/sub/b.txt": "b\n" * 5}, {f"{S}/d/a.txt": None, f"{S}/e/a.txt": "a\n" * 5},
        {"d/mine.txt": "mine\n"}, True),
    "template-moves-one-file-out-of-a-big-folder": ({**{f"{S}/d/f{i}.txt": f"f{i}\n" * 5 for i in range(6)},
                                                     f"{S}/d/sub/s.txt": "s\n"},
                                                    {f"{S}/d/f3.txt": None, f"{S}/e/f3.txt": "f3\n" * 5, f"{S}/d/f1.txt": "one\n"},
                                                    {"d/mine.txt": "mine\n", "d/f0.txt": "f0\n" * 5 + "user\n"}, True),
    "template-moves-a-file-into-a-new-folder": ({f"{S}/docs/a.md": "# A\n\nline\n" * 3, f"{S}/docs/b.md": "b\n"},
                                                {f"{S}/docs/a.md": None, f"{S}/docs/guide/a.md": "# A\n\nline\n" * 3},
                                                {"docs/a.md": "# A\n\nline\n" * 3 + "user\n"}, True),
    # the planner must fall back to full renders in these:
    "whole-context-read-while-ref-changes": ({f"{S}/ctx.txt": "{% for k, v in cookiecutter.items() %}{{ k }}\n{% endfor %}"},
                                             {f"{S}/x.txt": "x\n"}, {}, False),
    "include-changed": ({f"{S}/inc.txt": "part 1\n", f"{S}/main.txt": "{% include 'inc.txt' %}\nmain\n"},
                        {f"{S}/inc.txt": "part 2\n"}, {}, False),
    "hook-removes-file": ({f"{S}/Dockerfile": "FROM a\n", "hooks/post_gen_project.py": "import os\nos.remove('Dockerfile')\n"},
                          {f"{S}/Dockerfile": "FROM b\n", f"{S}/README.md": README + "v2\n"}, {"Dockerfile": "FROM user\n"}, False),
    "folder-vanishes": ({f"{S}/old/a.txt": "a\n" * 5, f"{S}/old/b.txt": "b\n" * 5}, {f"{S}/old/a.txt": None, f"{S}/old/b.txt": None,
                         f"{S}/new/a.txt": "a\n" * 5, f"{S}/new/b.txt": "b\n" * 5}, {"old/user.txt": "mine\n"}, False),
    "cookiecutter-json-changed": ({f"{S}/a.txt": "{{ cookiecutter.name }}\n"}, {"cookiecutter.json": CC[:-1] + ', "extra": "x"}',
                                   f"{S}/a.txt": "{{ cookiecutter.name }} {{ cookiecutter.extra }}\n"}, {}, False),
}


def make_two_versions(tmp_path: Path, v1: dict, v2: dict) -> Path:
    """A template repository (``README.md`` plus ``v1``) tagged ``v1``, then ``v2``'s changes tagged ``v2``."""
    tpl = tmp_path / "template"
    _write(tpl, {"cookiecutter.json": CC, f"{S}/README.md": README, **v1})
    _git(tpl, "init", "-q")
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v1")
    _git(tpl, "tag", "v1")
    _write(tpl, v2)
    _git(tpl, "add", "-A")
    _git(tpl, "commit", "-qm", "v2")
    _git(tpl, "tag", "v2")
    return tpl


def generate_at_v1(tmp_path: Path, tpl: Path, user: dict) -> Path:
    """The project generated from ``tpl`` at ``v1`` and committed, then ``user``'s changes committed."""
    proj = create_project(str(tpl), checkout="v1", no_input=True, output_dir=tmp_path / "out")
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "generated")
    if user:
        _write(proj, user)
        _git(proj, "add", "-A")
        _git(proj, "commit", "-qm", "user")
    return proj


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_incremental_equals_full_render(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v1, v2, user, planned = SCENARIOS[name]
    tpl = make_two_versions(tmp_path, v1, v2)
    v1_sha, v2_sha = _git(tpl, "rev-parse", "v1").strip(), _git(tpl, "rev-parse", "v2").strip()
    # the projects below are created at "v1" and updated to "v2": the followed ref changes
    assert (incremental.plan(tpl, v1_sha, v2_sha, None, same_answers=True, checkout_changed=True) is not None) == planned

    proj = generate_at_v1(tmp_path, tpl, user)
    copies = {}
    for mode in ("incremental", "full"):
        copy = tmp_path / mode
        shutil.copytree(proj, copy, symlinks=True)
        if mode == "full":  # the plain path: full renders, every text compiled by Jinja, no render cache
            monkeypatch.setenv("COOKIEPATCHER_FULL_RENDER", "1")
            monkeypatch.setenv(rendercache.ENV, "0")
            monkeypatch.setattr(render_mod, "PLAIN_TEXT_SHORTCUT", False)
        else:
            monkeypatch.delenv("COOKIEPATCHER_FULL_RENDER", raising=False)
        result = update_project(copy, checkout="v2", no_input=True)
        copies[mode] = (result.exit_code, [(f.path, f.status, f.old_path) for f in result.files],
                        files_with_modes(copy), _git(copy, "ls-files", "-s"), _git(copy, "status", "--porcelain"))
    assert copies["incremental"] == copies["full"]
    assert copies["full"][1], "the scenario must change something"


def test_a_hooks_symlink_means_full_renders(tmp_path: Path) -> None:
    """Both templates of this repository share their hooks through ``hooks -> ../hooks``.
    The planner must see that as hooks: a partial render would skip them and merge
    sides the hook never touched (here: a spurious conflict)."""
    repo = tmp_path / "templates"
    _write(repo, {"shared/post_gen_project.py": "from pathlib import Path\n"
                                                 "p = Path('README.md')\np.write_text(p.read_text().upper())\n",
                  "tpl/cookiecutter.json": CC, f"tpl/{S}/README.md": "# {{ cookiecutter.name }}\n\nline one\nline two\n"})
    (repo / "tpl" / "hooks").symlink_to("../shared")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    _git(repo, "tag", "v1")
    v1 = _git(repo, "rev-parse", "HEAD").strip()
    _write(repo, {f"tpl/{S}/README.md": "# {{ cookiecutter.name }}\n\nline one\nline 2\n"})
    _git(repo, "commit", "-qam", "v2")
    _git(repo, "tag", "v2")
    assert incremental.plan(repo, v1, _git(repo, "rev-parse", "HEAD").strip(), "tpl", same_answers=True) is None

    proj = create_project(str(repo), checkout="v1", directory="tpl", no_input=True, output_dir=tmp_path / "out")
    assert (proj / "README.md").read_text() == "# DEMO\n\nLINE ONE\nLINE TWO\n"
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "generated")
    result = update_project(proj, checkout="v2", no_input=True)
    assert (result.exit_code, [(f.path, f.status) for f in result.files]) == (0, [("README.md", "updated")])
    assert (proj / "README.md").read_text() == "# DEMO\n\nLINE ONE\nLINE 2\n"


@pytest.mark.parametrize(("files", "reads"), [
    ({f"{S}/a.txt": "{{ cookiecutter.name }}\n"}, False),
    ({f"{S}/a.txt": "{{ cookiecutter._output_dir }}\n"}, True),
    ({f"{S}/{{{{ cookiecutter._output_dir | length }}}}.txt": "x\n"}, True),  # in a path only
    ({f"{S}/ctx.json": "{{ cookiecutter | jsonify }}\n"}, True),  # the whole context
    ({f"{S}/{{{{ cookiecutter.values() | list | length }}}}.txt": "x\n"}, True),
])
def test_scan_finds_what_reads_output_dir(files: dict, reads: bool, tmp_path: Path) -> None:
    tpl = make_two_versions(tmp_path, files, {f"{S}/later.txt": "{{ cookiecutter._output_dir }}\n"})
    v1, v2 = _git(tpl, "rev-parse", "v1").strip(), _git(tpl, "rev-parse", "v2").strip()
    found = incremental.scan(tpl, [v1, v2], None)
    assert rendercache.reads_output_dir(found[v1]) is reads
    assert rendercache.reads_output_dir(found[v2])


def test_scan_names_each_kind_per_commit(tmp_path: Path) -> None:
    tpl = make_two_versions(tmp_path, {f"{S}/a.txt": "{%- include 'b.txt' %}\n", f"{S}/b.txt": "b\n"},
                            {f"{S}/a.txt": "plain\n", f"{S}/c.txt": "{{ cookiecutter._checkout }} {{ cookiecutter|jsonify }}\n"})
    v1, v2 = _git(tpl, "rev-parse", "v1").strip(), _git(tpl, "rev-parse", "v2").strip()
    assert incremental.scan(tpl, [v1, v2], None) == {v1: {"include"}, v2: {"_checkout", "context"}}


# Found by an adversarial review: each of these once made the scan miss a read, so an
# incremental upgrade (or a render shared between folders) differed from full renders.
def test_scan_ignores_the_users_colour_setting(tmp_path: Path, isolated_git: Path) -> None:
    with open(isolated_git / ".gitconfig", "a") as f:
        f.write("[color]\n\tui = always\n")
    tpl = make_two_versions(tmp_path, {f"{S}/inc.txt": "part 1\n", f"{S}/main.txt": "{% include 'inc.txt' %}\n"},
                            {f"{S}/inc.txt": "part 2\n"})
    v1, v2 = _git(tpl, "rev-parse", "v1").strip(), _git(tpl, "rev-parse", "v2").strip()
    assert "include" in incremental.scan(tpl, [v1, v2], None)[v1]
    assert incremental.plan(tpl, v1, v2, None, same_answers=True) is None


@pytest.mark.parametrize("name", ["ma\nin.txt", "main.txt"])
@pytest.mark.parametrize("prefix", ["", "x" * 1500 + "\n\0\n"])  # a NUL after 1024 bytes: binary to git, text to cookiecutter
def test_scan_reads_every_file_cookiecutter_renders(name: str, prefix: str, tmp_path: Path) -> None:
    tpl = make_two_versions(tmp_path, {f"{S}/inc.txt": "part 1\n", f"{S}/{name}": prefix + "{% include 'inc.txt' %}\n"},
                            {f"{S}/inc.txt": "part 2\n"})
    v1, v2 = _git(tpl, "rev-parse", "v1").strip(), _git(tpl, "rev-parse", "v2").strip()
    assert incremental.scan(tpl, [v1, v2], None) == {v1: {"include"}, v2: {"include"}}


@pytest.mark.parametrize("text", ["{% for k, v in cookiecutter.copy().items() %}{{ v }}{% endfor %}\n",
                                  "{% for k, v in cookiecutter .items() %}{{ v }}{% endfor %}\n",
                                  "{% for k, v in cookiecutter\n.items() %}{{ v }}{% endfor %}\n",
                                  "{{ cookiecutter.__getitem__('_output' ~ '_dir') }}\n",
                                  "{{ cookiecutter['_output' ~ '_dir'] }}\n"])
def test_scan_sees_whole_context_reads(text: str, tmp_path: Path) -> None:
    tpl = make_two_versions(tmp_path, {f"{S}/ctx.txt": text, f"{S}/plain.txt": "{{ cookiecutter . name }}\n"},
                            {f"{S}/x.txt": "x\n"})
    v1 = _git(tpl, "rev-parse", "v1").strip()
    assert incremental.scan(tpl, [v1], None)[v1] == {"context"}


def test_changed_paths_are_what_diff_tree_lists_in_its_order(tmp_path: Path) -> None:
    """:func:`incremental._changed` (from the two listings) against ``git diff-tree -r
    --no-renames --name-only``: order of names around ``/``, ``-`` and ``.``, mode and type
    changes, a submodule, a name that is not UTF-8, additions and deletions."""
    import os

    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    names = {"a-b": "1", "a/b": "1", "a.txt": "1", "a/c/d": "1", "ab": "1", "z": "1", "exe": "1", "link": "1", "same": "1"}
    for name, text in names.items():
        _write(repo, {name: text})
    os.makedirs(repo, exist_ok=True)
    (repo / os.fsdecode(b"caf\xe9")).write_text("1")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    base = _git(repo, "rev-parse", "HEAD").strip()
    for name in ("a-b", "a/c/d", "ab"):
        (repo / name).write_text("2")
    (repo / "exe").chmod(0o755)
    (repo / "link").unlink()
    (repo / "link").symlink_to("z")
    (repo / "z").unlink()
    (repo / os.fsdecode(b"caf\xe9")).write_text("2")
    _write(repo, {"a/new": "3", "a0": "3"})
    _git(repo, "add", "-A")
    _git(repo, "update-index", "--add", "--cacheinfo", f"160000,{base},sub")
    _git(repo, "commit", "-qm", "two")
    target = _git(repo, "rev-parse", "HEAD").strip()
    raw = subprocess.run(["git", "diff-tree", "-r", "-z", "--no-renames", "--name-only", base, target], cwd=repo,
                         check=True, capture_output=True).stdout
    expected = [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p]

    assert incremental._changed(repo, base, target) == expected
    assert len(expected) == 10 and "same" not in expected


def _scan_every_file(repo: Path, shas: list[str], prefix: str) -> dict[str, set[str]]:
    """The scan's reference: one grep reading every file of every commit."""
    raw = subprocess.run(["git", "grep", "--no-color", "-a", "-o", "-z", "-E", incremental._SCAN_RE, *shas, "--", prefix or "."],
                         cwd=repo, capture_output=True).stdout
    found: dict[str, set[str]] = {sha: set() for sha in shas}
    for rec in raw.split(b"\n"):
        if b"\0" in rec:
            where, text = rec.split(b"\0", 1)
            sha = where.split(b":", 1)[0].decode()
            found[sha] |= {next(k for k, pattern in incremental._KINDS if pattern.search(text.decode("utf-8", "replace")))}
    for sha in shas:
        for path in incremental._listing(repo, sha, prefix):
            m = incremental._PATH_RE.search(path)
            if m:
                found[sha].add(m.group(1) or "context")
    return found


@pytest.mark.parametrize("directory", [None, "tpl"])
def test_scan_reads_each_content_once_and_finds_what_reading_every_file_finds(directory, tmp_path: Path) -> None:
    """Files the last commit has with the same content are not read again for the other
    commits; whatever each commit's files read is still found, per commit: reads only in
    an unchanged file, only in the older version of a changed file, in a file the newer
    commit deleted or moved, and names git would read as glob patterns."""
    import os

    repo = tmp_path / "r"
    base = f"{directory}/" if directory else ""
    files = {f"{base}cookiecutter.json": CC, f"{base}{S}/same.txt": "{% include 'x' %}\n",
             f"{base}{S}/changed.txt": "{{ cookiecutter._checkout }}\n", f"{base}{S}/gone.txt": "{{ cookiecutter | jsonify }}\n",
             f"{base}{S}/[ab]*.txt": "{{ cookiecutter._output_dir }}\n", f"{base}{S}/b.txt": "plain\n",
             "outside.txt": "{% include 'y' %}\n"}
    _write(repo, files)
    (repo / base / S / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"{{ cookiecutter.items() }}\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    one = _git(repo, "rev-parse", "HEAD").strip()
    _write(repo, {f"{base}{S}/changed.txt": "plain now\n", f"{base}{S}/gone.txt": None, f"{base}{S}/[ab]*.txt": "plain\n",
                  f"{base}{S}/new.txt": "{{ cookiecutter._checkout }}\n"})
    (repo / base / S / os.fsdecode(b"caf\xe9.txt")).unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "two")
    two = _git(repo, "rev-parse", "HEAD").strip()

    for shas in ([one, two], [two, one], [one], [one, two, one]):
        expected = _scan_every_file(repo, list(dict.fromkeys(shas)), base)
        assert incremental.scan(repo, shas, directory) == expected
    assert incremental.scan(repo, [one, two], directory)[one] == {"include", "_checkout", "context", "_output_dir"}
    assert incremental.scan(repo, [one, two], directory)[two] == {"include", "_checkout"}


# Found by a review of the scan that reads each content once: each once lost a read.
def _repo_with(tmp_path: Path, *trees) -> tuple[Path, list[str]]:
    """A repository with one commit per ``trees`` entry: ``{path: bytes, or ("link", target)}``."""
    import os

    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    shas = []
    for tree in trees:
        for p in [p for p in repo.rglob("*") if ".git" not in p.parts and (p.is_file() or p.is_symlink())]:
            p.unlink()
        for rel, content in tree.items():
            path = repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, tuple):
                os.symlink(content[1], path)
            else:
                path.write_bytes(content)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "c", "--allow-empty")
        shas.append(_git(repo, "rev-parse", "HEAD").strip())
    return repo, shas


def test_scan_does_not_take_a_symlinks_result_for_a_file_with_the_same_blob(tmp_path: Path) -> None:
    """git grep reads no symlink; a symlink's target can be the same blob as a file's text."""
    repo, (one, two) = _repo_with(tmp_path, {"f": b"{{ cookiecutter._output_dir }}"}, {"f": ("link", "{{ cookiecutter._output_dir }}")})
    assert _git(repo, "rev-parse", f"{one}:f") == _git(repo, "rev-parse", f"{two}:f")
    assert incremental.scan(repo, [one, two], None) == _scan_every_file(repo, [one, two], "") == {one: {"_output_dir"}, two: set()}


@pytest.mark.parametrize("directory", ["./tpl", ".//tpl", "./tpl/", "tpl/"])
def test_scan_and_plan_take_a_directory_however_it_is_spelled(directory: str, tmp_path: Path) -> None:
    repo, (one,) = _repo_with(tmp_path, {"tpl/cookiecutter.json": b'{"slug": "x"}',
                                         "tpl/{{cookiecutter.slug}}/f.txt": b"{{ cookiecutter._output_dir }}\n"})
    assert incremental.scan(repo, [one], directory)[one] == incremental.scan(repo, [one], "tpl")[one] == {"_output_dir"}
    assert incremental.template_prefix(directory) == "tpl/" and incremental.template_prefix(".") == incremental.template_prefix(None) == ""


@pytest.mark.parametrize("var", ["GIT_GLOB_PATHSPECS", "GIT_ICASE_PATHSPECS", "GIT_LITERAL_PATHSPECS"])
def test_scan_ignores_the_users_pathspec_settings(var: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, (one, two) = _repo_with(tmp_path, {"f": b"{{ cookiecutter._checkout }}\n", "[g]*": b"{% include 'x' %}\n"},
                                  {"f": b"plain now\n", "[g]*": b"plain\n"})
    expected = _scan_every_file(repo, [one, two], "")
    monkeypatch.setenv(var, "1")
    assert incremental.scan(repo, [one, two], None) == expected and expected[one] == {"_checkout", "include"}


def test_scan_with_more_differing_path_bytes_than_a_command_line_holds(tmp_path: Path) -> None:
    import os

    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    deep = "/".join(c * 200 for c in "abcdefghijklmno")

    def commit(text: bytes) -> str:
        obj = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, capture_output=True,
                             check=True).stdout.decode().strip()
        env = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "idx")}
        subprocess.run(["git", "read-tree", "--empty"], cwd=repo, env=env, check=True)
        lines = "".join(f"100644 {obj}\t{deep}/{i:04d}\n" for i in range(1000))
        subprocess.run(["git", "update-index", "--index-info"], cwd=repo, input=lines.encode(), env=env, check=True)
        tree = subprocess.run(["git", "write-tree"], cwd=repo, env=env, capture_output=True, check=True).stdout.decode().strip()
        return _git(repo, "commit-tree", tree, "-m", "x").strip()

    one, two = commit(b"{{ cookiecutter._checkout }}\n"), commit(b"plain\n")
    assert incremental.scan(repo, [one, two], None) == {one: {"_checkout"}, two: set()}
    assert incremental.scan(repo, [], None) == {}
