"""The three-way merge of an upgrade, one test per kind of fault other updaters get wrong.

Each test builds a tiny template (v1 -> v2), generates a project at v1, makes the user's
change, commits it, updates to v2 and checks the working tree bytes, modes and the index
(``git ls-files -u`` stages) against what ``git merge`` of "render v2" into the project
(base "render v1") leaves behind. Policy departure: a file the user deleted stays deleted.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest

from conftest import blob, commit_all, generate, git, is_exec, run_cli, status, unmerged, write

from cookiepatcher import update_project

README_V1 = "# {{ cookiecutter.project_name }}\n\nA project generated from the demo template.\n"
README_V2 = README_V1 + "\nSee CHANGELOG.md for release notes.\n"
README_V2_RENDERED = "# Demo Project\n\nA project generated from the demo template.\n\nSee CHANGELOG.md for release notes.\n"


def outcomes(result) -> dict[str, str]:
    return {f.path: f.status for f in result.files}


@pytest.fixture(autouse=True)
def merged_entries_are_the_merged_trees(monkeypatch):
    """Every merge here also checks that the entries the merge derives from its diff
    (ours plus the changes) are exactly the merged tree's, as ``git ls-tree`` lists them."""
    from cookiepatcher import git as git_module
    from cookiepatcher import update

    real = update.merge_renders

    def checked(repo, *args, **kwargs):
        result = real(repo, *args, **kwargs)
        assert result.entries == git_module.ls_tree(repo, result.tree)
        return result

    monkeypatch.setattr(update, "merge_renders", checked)


def test_rename_carries_the_user_edit_to_the_new_name(tmp_path, make_template, generate):
    usage = "# Usage\n\nCall `{{ cookiecutter.project_slug }}` with no arguments.\n"
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "docs/usage.md": usage},
        "v2": {"docs/usage.md": None, "docs/getting-started.md": usage},
    })
    project = generate(tpl, "v1")
    with open(project / "docs/usage.md", "a") as fh:
        fh.write("\nLocal note: pass --verbose.\n")
    commit_all(project, "local note")

    result = update_project(project, checkout="v2")

    assert not (project / "docs/usage.md").exists()
    assert (project / "docs/getting-started.md").read_text() == (
        "# Usage\n\nCall `demo_project` with no arguments.\n\nLocal note: pass --verbose.\n")
    assert unmerged(project) == {}
    assert result.exit_code == 0
    renamed = [f for f in result.files if f.status == "renamed"]
    assert [(f.path, f.old_path) for f in renamed] == [("docs/getting-started.md", "docs/usage.md")]
    # the index holds the merge result, ready to commit
    staged = git(project, "diff", "--cached", "--name-status", "-M", "--", "docs").split()
    assert staged[0].startswith("R") and staged[1:] == ["docs/usage.md", "docs/getting-started.md"]
    assert git(project, "diff", "--name-only") == ""


def test_template_deletes_unmodified_file(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "setup.cfg": "[metadata]\nname = {{ cookiecutter.project_slug }}\n",
               "old/only.txt": "o\n", "docs/a.md": "a\n"},
        "v2": {"setup.cfg": None, "old/only.txt": None, "docs/a.md": None},
    })
    project = generate(tpl, "v1")
    write(project / "docs/notes.md", "untracked notes\n")
    with open(project / "README.md", "a") as fh:
        fh.write("\nMaintained by the platform team.\n")
    commit_all(project, "readme")

    result = update_project(project, checkout="v2")

    assert not (project / "setup.cfg").exists()
    assert (project / "README.md").read_text().endswith("\nMaintained by the platform team.\n")
    assert outcomes(result) == {"setup.cfg": "deleted", "old/only.txt": "deleted", "docs/a.md": "deleted"}
    assert "D  setup.cfg" in status(project).splitlines()
    assert not (project / "old").exists()  # emptied folder removed, as git does
    assert (project / "docs/notes.md").read_text() == "untracked notes\n"
    assert unmerged(project) == {}


def test_template_deletes_user_modified_file_is_a_modify_delete_conflict(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "tox.ini": "[tox]\nenvlist = py311\n"},
        "v2": {"tox.ini": None, "README.md": README_V2},
    })
    project = generate(tpl, "v1")
    user_tox = b"[tox]\nenvlist = py311\n\n[testenv:lint]\ncommands = ruff check .\n"
    write(project / "tox.ini", user_tox)
    commit_all(project, "lint env")

    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)

    assert proc.returncode == 1, proc.stderr
    assert "tox.ini" in proc.stderr
    assert (project / "tox.ini").read_bytes() == user_tox
    stages = unmerged(project)
    assert set(stages) == {"tox.ini"}
    # base (1) and ours (2) only: the template side deleted it
    assert stages["tox.ini"] == {1: blob(project, b"[tox]\nenvlist = py311\n"), 2: blob(project, user_tox)}
    assert (project / "README.md").read_text() == README_V2_RENDERED
    assert "<<<<<<<" not in (project / "README.md").read_text()


def test_user_deleted_file_changed_by_template_stays_deleted(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "CONTRIBUTING.md": "# Contributing\n\nOpen an issue first.\n"},
        "v2": {"CONTRIBUTING.md": "# Contributing\n\nOpen an issue, then a pull request.\n", "README.md": README_V2},
    })
    project = generate(tpl, "v1")
    git(project, "rm", "-q", "CONTRIBUTING.md")
    commit_all(project, "no contributing guide")

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--json", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert not (project / "CONTRIBUTING.md").exists()
    assert (project / "README.md").read_text() == README_V2_RENDERED
    assert unmerged(project) == {}
    data = json.loads(proc.stdout)
    assert {"path": "CONTRIBUTING.md", "status": "kept-deleted"} in data["files"]
    assert data["conflicts"] == []
    assert "CONTRIBUTING.md" not in status(project)


PNG_V1 = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PNG_V2 = b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 8 + b"\x00v2"
ICO_V1 = b"\x00\x00\x01\x00" + bytes(range(255, -1, -1)) * 4
ICO_V2 = b"\x00\x00\x01\x00" + bytes(range(256)) * 4 + b"\x00template-v2"
ICO_USER = b"\x00\x00\x01\x00" + b"\xfe\x00user" * 64


def test_binary_files_land_exactly_or_conflict_without_markers(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "assets/logo.png": PNG_V1, "assets/favicon.ico": ICO_V1},
        "v2": {"assets/logo.png": PNG_V2, "assets/favicon.ico": ICO_V2},
    })
    project = generate(tpl, "v1")
    assert (project / "assets/logo.png").read_bytes() == PNG_V1
    write(project / "assets/favicon.ico", ICO_USER)
    commit_all(project, "own favicon")

    result = update_project(project, checkout="v2")

    logo = (project / "assets/logo.png").read_bytes()
    assert hashlib.sha256(logo).hexdigest() == hashlib.sha256(PNG_V2).hexdigest()
    assert (project / "assets/favicon.ico").read_bytes() == ICO_USER  # user's bytes, no markers
    assert unmerged(project) == {"assets/favicon.ico": {1: blob(project, ICO_V1), 2: blob(project, ICO_USER),
                                                        3: blob(project, ICO_V2)}}
    assert outcomes(result) == {"assets/favicon.ico": "conflicted", "assets/logo.png": "updated"}
    assert result.exit_code == 1


def test_exec_bit_lands_with_and_without_content_change(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1,
               "scripts/run.sh": ("#!/bin/sh\necho running {{ cookiecutter.project_slug }}\n", 0o644),
               "scripts/build.sh": ("#!/bin/sh\npython -m build\n", 0o644)},
        "v2": {"scripts/run.sh": ("#!/bin/sh\necho running {{ cookiecutter.project_slug }}\n", 0o755),
               "scripts/build.sh": ("#!/bin/sh\nset -e\npython -m build\n", 0o755)},
    })
    project = generate(tpl, "v1")
    assert not is_exec(project / "scripts/run.sh")
    with open(project / "README.md", "a") as fh:
        fh.write("\nlocal line\n")
    commit_all(project, "readme")

    result = update_project(project, checkout="v2")

    assert is_exec(project / "scripts/run.sh")
    assert is_exec(project / "scripts/build.sh")
    assert (project / "scripts/run.sh").read_text() == "#!/bin/sh\necho running demo_project\n"
    assert (project / "scripts/build.sh").read_text() == "#!/bin/sh\nset -e\npython -m build\n"
    staged = git(project, "ls-files", "-s", "scripts").split("\n")
    assert all(line.startswith("100755 ") for line in staged if line), staged
    assert set(outcomes(result)) == {"scripts/run.sh", "scripts/build.sh"}
    assert unmerged(project) == {}


def test_crlf_file_merges_keeping_crlf_on_every_line(tmp_path, make_template, generate):
    lines_v1 = ["@echo off", "rem Setup for {{ cookiecutter.project_name }}", "set PYTHON=python", "set VENV=.venv",
                "%PYTHON% -m venv %VENV%", "echo done"]
    lines_v2 = list(lines_v1)
    lines_v2[2] = "set PYTHON=py -3.12"
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "scripts/setup.bat": "".join(ln + "\r\n" for ln in lines_v1)},
        "v2": {"scripts/setup.bat": "".join(ln + "\r\n" for ln in lines_v2)},
    })
    project = generate(tpl, "v1")
    bat = project / "scripts/setup.bat"
    bat.write_bytes(bat.read_bytes().replace(b"-m venv %VENV%", b"-m venv --upgrade-deps %VENV%"))
    commit_all(project, "upgrade deps")

    result = update_project(project, checkout="v2")

    data = bat.read_bytes()
    assert data == (b"@echo off\r\nrem Setup for Demo Project\r\nset PYTHON=py -3.12\r\nset VENV=.venv\r\n"
                    b"%PYTHON% -m venv --upgrade-deps %VENV%\r\necho done\r\n")
    assert data.count(b"\n") == data.count(b"\r\n") == 6
    assert result.exit_code == 0 and unmerged(project) == {}


def test_empty_files_added_and_file_emptied(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "CHANGELOG.md": "# Changelog\n\n- 0.1.0: first release\n"},
        "v2": {"src/{{cookiecutter.project_slug}}/__init__.py": "", "src/{{cookiecutter.project_slug}}/py.typed": "",
               "CHANGELOG.md": ""},
    })
    project = generate(tpl, "v1")
    with open(project / "README.md", "a") as fh:
        fh.write("\nlocal line\n")
    commit_all(project, "readme")

    result = update_project(project, checkout="v2")

    for rel in ("src/demo_project/__init__.py", "src/demo_project/py.typed", "CHANGELOG.md"):
        assert (project / rel).is_file(), rel
        assert (project / rel).read_bytes() == b"", rel
    assert outcomes(result) == {"CHANGELOG.md": "updated", "src/demo_project/__init__.py": "added",
                                "src/demo_project/py.typed": "added"}
    assert unmerged(project) == {}


CI_V1 = """name: ci
jobs:
  test:
    strategy:
      matrix:
        python-version: ["3.11"]
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      - run: pytest
"""


def test_copy_without_render_and_user_braces_survive_verbatim(tmp_path, make_template, generate):
    ctx = {"project_name": "Demo Project",
           "project_slug": "{{ cookiecutter.project_name.lower().replace(' ', '_') }}",
           "_copy_without_render": [".github/workflows/*.yml"]}
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, ".github/workflows/ci.yml": CI_V1},
        "v2": {".github/workflows/ci.yml": CI_V1.replace('["3.11"]', '["3.11", "3.12"]'),
               "README.md": README_V1.replace("{{ cookiecutter.project_name }}\n", "{{ cookiecutter.project_name }} (demo)\n", 1)},
    }, cookiecutter_json=ctx)
    project = generate(tpl, "v1")
    ci = project / ".github/workflows/ci.yml"
    assert ci.read_text() == CI_V1
    publish = "      - run: ./publish.sh\n        env:\n          TOKEN: ${{ secrets.PUBLISH_TOKEN }}\n"
    with open(ci, "a") as fh:
        fh.write(publish)
    user_para = "\nConfig values use `{{ name }}` placeholders, e.g. {{ env.HOME }} and {% raw %}.\n"
    with open(project / "README.md", "a") as fh:
        fh.write(user_para)
    commit_all(project, "publish step")

    result = update_project(project, checkout="v2")

    assert ci.read_text() == CI_V1.replace('["3.11"]', '["3.11", "3.12"]') + publish
    assert (project / "README.md").read_text() == (
        "# Demo Project (demo)\n\nA project generated from the demo template.\n" + user_para)
    assert result.exit_code == 0 and unmerged(project) == {}


def test_conflict_without_base_blob_in_project_history_has_diff3_markers(tmp_path, make_template, generate):
    pyproject = '[project]\nname = "{{ cookiecutter.project_slug }}"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n'
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1, "pyproject.toml": pyproject},
        "v2": {"pyproject.toml": pyproject.replace(">=3.9", ">=3.10"),
               "README.md": README_V1.replace("template.\n", "template (v2).\n")},
    })
    project = generate(tpl, "v1")
    v1_blob = blob(project, (project / "pyproject.toml").read_bytes())
    py = project / "pyproject.toml"
    py.write_text(py.read_text().replace(">=3.9", ">=3.11"))
    git(project, "add", "-A")
    git(project, "commit", "-q", "--amend", "--no-edit")
    git(project, "reflog", "expire", "--expire=now", "--all")
    git(project, "gc", "-q", "--prune=now")
    gone = subprocess.run(["git", "cat-file", "-e", v1_blob], cwd=project, capture_output=True)
    assert gone.returncode != 0  # no object holds the v1 render of pyproject.toml any more

    result = update_project(project, checkout="v2")

    text = py.read_text()
    assert re.search(r"^<<<<<<< .*\nrequires-python = \">=3.11\"\n\|\|\|\|\|\|\| .*\nrequires-python = \">=3.9\"\n"
                     r"=======\nrequires-python = \">=3.10\"\n>>>>>>> .*\n", text, re.M), text
    assert text.startswith('[project]\nname = "demo_project"\nversion = "0.1.0"\n')
    assert text.endswith("dependencies = []\n")
    assert set(unmerged(project)) == {"pyproject.toml"}
    assert set(unmerged(project)["pyproject.toml"]) == {1, 2, 3}
    assert (project / "README.md").read_text() == "# Demo Project\n\nA project generated from the demo template (v2).\n"
    assert result.conflicts == ["pyproject.toml"]
    leftovers = [p for p in project.rglob("*") if p.suffix in (".rej", ".orig")]
    assert leftovers == []


def test_add_add_different_content_conflicts_identical_is_clean(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README_V1},
        "v2": {".editorconfig": "root = true\n\n[*]\nindent_style = space\nindent_size = 4\n",
               ".gitattributes": "* text=auto eol=lf\n"},
    })
    project = generate(tpl, "v1")
    user_ec = "root = true\n\n[*]\nindent_style = tab\n"
    write(project / ".editorconfig", user_ec)
    write(project / ".gitattributes", "* text=auto eol=lf\n")
    commit_all(project, "own editorconfig")

    result = update_project(project, checkout="v2")

    ec = (project / ".editorconfig").read_text()
    ours, _base, theirs = re.fullmatch(r"<<<<<<< HEAD\n(.*)\|\|\|\|\|\|\| \S+\n(.*)=======\n(.*)>>>>>>> template-v2\n",
                                       ec, re.S).groups()
    assert ours == user_ec
    assert theirs == "root = true\n\n[*]\nindent_style = space\nindent_size = 4\n"
    assert (project / ".gitattributes").read_bytes() == b"* text=auto eol=lf\n"
    stages = unmerged(project)
    assert set(stages) == {".editorconfig"}
    assert set(stages[".editorconfig"]) == {2, 3}  # add/add: no base
    assert outcomes(result) == {".editorconfig": "conflicted"}


def test_conflict_markers_name_both_sides(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {"v1": {"a.txt": "one\n"}, "v2": {"a.txt": "template\n"}})
    project = generate(tpl, "v1")
    write(project / "a.txt", "user\n")
    commit_all(project, "user")

    update_project(project, checkout="v2")

    text = (project / "a.txt").read_text()
    assert re.fullmatch(r"<<<<<<< HEAD\nuser\n\|\|\|\|\|\|\| .*\none\n=======\ntemplate\n>>>>>>> template-v2\n", text), text


def test_user_rename_receives_the_template_change(tmp_path, make_template, generate):
    body = "".join(f"line {i}\n" for i in range(20))
    tpl = make_template(tmp_path, {"v1": {"a.txt": body}, "v2": {"a.txt": body + "more\n"}})
    project = generate(tpl, "v1")
    git(project, "mv", "a.txt", "b.txt")
    commit_all(project, "user rename")

    result = update_project(project, checkout="v2")

    assert not (project / "a.txt").exists()
    assert (project / "b.txt").read_text() == body + "more\n"
    assert unmerged(project) == {} and result.exit_code == 0


def test_template_renames_a_file_the_user_deleted_stays_deleted(tmp_path, make_template, generate):
    body = "".join(f"line {i}\n" for i in range(20))
    tpl = make_template(tmp_path, {"v1": {"a.txt": body, "keep.txt": "k\n"}, "v2": {"a.txt": None, "b.txt": body}})
    project = generate(tpl, "v1")
    git(project, "rm", "-q", "a.txt")
    commit_all(project, "user deletes")

    result = update_project(project, checkout="v2")

    assert not (project / "a.txt").exists() and not (project / "b.txt").exists()
    assert unmerged(project) == {} and result.exit_code == 0


def test_user_deleted_folder_stays_deleted_new_template_files_still_arrive(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {"v1": {"docs/a.md": "a\n", "docs/b.md": "b\n", "r.txt": "r\n"},
                                   "v2": {"docs/a.md": "a2\n", "docs/c.md": "c\n"}})
    project = generate(tpl, "v1")
    git(project, "rm", "-rq", "docs")
    commit_all(project, "no docs")

    result = update_project(project, checkout="v2")

    assert not (project / "docs/a.md").exists() and not (project / "docs/b.md").exists()
    assert (project / "docs/c.md").read_text() == "c\n"  # new in the template: git merge adds it too
    assert outcomes(result) == {"docs/a.md": "kept-deleted", "docs/c.md": "added"}


def test_same_change_on_both_sides_is_clean_and_silent(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {"v1": {"a.txt": "1\n"}, "v2": {"a.txt": "2\n"}})
    project = generate(tpl, "v1")
    write(project / "a.txt", "2\n")
    commit_all(project, "user got there first")

    result = update_project(project, checkout="v2")

    assert result.files == [] and unmerged(project) == {}
    assert status(project) == "M  cookiepatcher.json\n"


def test_non_ascii_paths(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {"v1": {"naïve.txt": "a\n"}, "v2": {"naïve.txt": "b\n", "docs/café ü.md": "c\n"}})
    project = generate(tpl, "v1")

    result = update_project(project, checkout="v2")

    assert (project / "docs/café ü.md").read_text() == "c\n"
    assert (project / "naïve.txt").read_text() == "b\n"
    assert outcomes(result) == {"docs/café ü.md": "added", "naïve.txt": "updated"}


@pytest.mark.parametrize("direction", ["file-to-folder", "folder-to-file"])
def test_template_turns_a_file_into_a_folder_and_back(tmp_path, make_template, generate, direction):
    if direction == "file-to-folder":
        versions = {"v1": {"conf": "file\n", "r.txt": "r\n"}, "v2": {"conf": None, "conf/a.txt": "a\n"}}
    else:
        versions = {"v1": {"conf/a.txt": "a\n", "r.txt": "r\n"}, "v2": {"conf/a.txt": None, "conf": "file\n"}}
    tpl = make_template(tmp_path, versions)
    project = generate(tpl, "v1")

    result = update_project(project, checkout="v2")

    if direction == "file-to-folder":
        assert (project / "conf/a.txt").read_text() == "a\n"
    else:
        assert (project / "conf").read_text() == "file\n"
    assert result.exit_code == 0 and unmerged(project) == {}


def test_project_gitattributes_merge_driver_is_honoured(tmp_path, make_template, generate):
    tpl = make_template(tmp_path, {
        "v1": {"CHANGES.md": "# Changes\n\n- one\n", ".gitattributes": "CHANGES.md merge=union\n"},
        "v2": {"CHANGES.md": "# Changes\n\n- one\n- template\n"},
    })
    project = generate(tpl, "v1")
    write(project / "CHANGES.md", "# Changes\n\n- one\n- user\n")
    commit_all(project, "user entry")

    update_project(project, checkout="v2")

    assert (project / "CHANGES.md").read_text() == "# Changes\n\n- one\n- user\n- template\n"
    assert unmerged(project) == {}


@pytest.mark.parametrize("folder", ["plain", "we#ird;x \\ \"q\"", "caf\udce9"])  # (the last: a Latin-1 byte)
def test_project_config_merge_driver_is_honoured_whatever_the_folder_name(tmp_path, make_template, generate, folder):
    """The shadow repository includes the project's config by path: a path with `#`,
    `;`, quotes, backslashes or bytes that are not UTF-8 must still be read by git."""
    tpl = make_template(tmp_path, {
        "v1": {"CHANGES.md": "# Changes\n\n- one\n", ".gitattributes": "CHANGES.md merge=keepmine\n"},
        "v2": {"CHANGES.md": "# Changes\n\n- one\n- template\n"},
    })
    project = generate(tpl, "v1", output_dir=tmp_path / folder)
    git(project, "config", "merge.keepmine.driver", "true")  # keeps the user's side, as a clean merge
    write(project / "CHANGES.md", "# Changes\n\n- one\n- user\n")
    commit_all(project, "user entry")

    result = update_project(project, checkout="v2")

    assert (project / "CHANGES.md").read_text() == "# Changes\n\n- one\n- user\n"
    assert result.exit_code == 0 and unmerged(project) == {}


def test_user_replaced_a_file_by_a_symlink_template_change_is_kept_beside_it(tmp_path, make_template):
    """git's distinct-types conflict: the template's version goes to ``path~<label>`` with
    stages 1 and 3; it must not be dropped as if the user had deleted the file."""
    tpl = make_template(tmp_path, {"v1": {"Dockerfile": "FROM a\n"}, "v2": {"Dockerfile": "# tmpl\nFROM a\n"}})
    project = generate(tpl, "v1")
    (project / "Dockerfile").unlink()
    (project / "Dockerfile").symlink_to("README.md")
    commit_all(project, "symlink")
    result = update_project(project, checkout="v2", no_input=True)
    assert result.exit_code == 1
    stages = unmerged(project)
    sidecar = [p for p in stages if p.startswith("Dockerfile~")]
    assert sidecar and set(stages[sidecar[0]]) == {1, 3}
    assert stages["Dockerfile"].keys() == {2}
    assert (project / sidecar[0]).read_text() == "# tmpl\nFROM a\n"
    assert not any(f.status == "kept-deleted" for f in result.files)


@pytest.mark.parametrize("ignore", ["none", "all"])
def test_a_submodule_moved_with_its_folder_leaves_once_whatever_its_ignore_setting(ignore, tmp_path, make_template, generate):
    """``submodule.<name>.ignore=all`` hides a gitlink's changes from ``git diff``; the
    merged tree's entries must still have it moved, not at both places."""
    files = {f"src/f{i}.txt": "".join(f"c{i} {j}\n" for j in range(20)) for i in range(3)}
    moved = {k.replace("src/", "lib/"): v for k, v in files.items()}
    tpl = make_template(tmp_path, {"v1": files, "v2": {**{k: None for k in files}, **moved}})
    project = generate(tpl, "v1")
    sub = tmp_path / "sub"
    git(tmp_path, "init", "-q", str(sub))
    git(sub, "commit", "-q", "--allow-empty", "-m", "s")
    write(project / ".gitmodules", f'[submodule "vendor"]\n\tpath = src/vendor\n\turl = ../sub\n\tignore = {ignore}\n')
    git(project, "add", ".gitmodules")
    git(project, "update-index", "--add", "--cacheinfo", f"160000,{git(sub, 'rev-parse', 'HEAD').strip()},src/vendor")
    (project / "src/vendor").mkdir()
    git(project, "commit", "-q", "-m", "submodule")
    update_project(project, checkout="v2")
    index = git(project, "ls-files", "-s", "--", "src/vendor", "lib/vendor")
    assert "lib/vendor" in index and "src/vendor" not in index, index


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_a_render_hashed_without_git_gets_the_entries_git_add_gives(object_format, tmp_path):
    """Where a repository stores files as they are, renders are hashed in Python: the
    entries (paths, modes, ids) must be those of ``git add -A -f``."""
    import os

    from cookiepatcher import merge

    folder = tmp_path / "render"
    files = {"README.md": b"# x\n", "run.sh": b"#!/bin/sh\n", "empty.txt": b"", "bin.dat": bytes(range(256)),
             "crlf.bat": b"a\r\nb\r\n", "deep/er/f.py": b"x = 1\n", "\u00fcn\u00efcode/\u30d5.txt": b"u\n",
             "with space.txt": b"s\n", "new\nline.txt": b"n\n"}
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    (folder / "run.sh").chmod(0o755)
    (folder / "group-exec-only.sh").write_bytes(b"g\n")
    (folder / "group-exec-only.sh").chmod(0o654)
    (folder / "empty-folder").mkdir()
    os.symlink("README.md", folder / "link")
    os.symlink("deep", folder / "folder-link")
    os.symlink("nowhere", folder / "dangling")
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", f"--object-format={object_format}", str(repo))
    git(repo, "config", "core.autocrlf", "false")
    by_git = merge.tree_from_dir(repo, folder, tmp_path)
    found = merge.verbatim_entries(folder, object_format)
    assert found is not None
    entries, blobs = found
    assert entries == by_git
    assert {sha: blobs[sha] for _mode, sha in entries.values()} == {
        sha: subprocess.run(["git", "cat-file", "-p", sha], cwd=repo, capture_output=True, check=True).stdout
        for _mode, sha in by_git.values()}
    (folder / "deep" / ".gitattributes").write_text("* text\n")
    assert merge.verbatim_entries(folder, object_format) is None  # git's attribute rules decide


def test_renders_go_to_git_wherever_attributes_or_autocrlf_apply(tmp_path, monkeypatch):
    from cookiepatcher import rendercache

    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("GIT_ATTR_NOSYSTEM", "1")
    assert rendercache.hashes_verbatim(repo, [])
    assert rendercache.hashes_verbatim(repo, [("core.autocrlf", "false")])
    for value in ("true", "input", ""):
        assert not rendercache.hashes_verbatim(repo, [("core.autocrlf", value)])
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("* text=auto\n")
    assert not rendercache.hashes_verbatim(repo, [])
    (repo / ".git" / "info" / "attributes").unlink()
    (tmp_path / "xdg" / "git").mkdir(parents=True)
    (tmp_path / "xdg" / "git" / "attributes").write_text("*.bat eol=crlf\n")
    assert not rendercache.hashes_verbatim(repo, [])
    (tmp_path / "xdg" / "git" / "attributes").unlink()
    for key in ("core.ignorecase", "core.precomposeunicode", "core.protecthfs"):
        assert not rendercache.hashes_verbatim(repo, [(key, "true")])
        assert rendercache.hashes_verbatim(repo, [(key, "false")])
    system = tmp_path / "etc" / "gitattributes"
    system.parent.mkdir()
    system.write_text("* text=auto\n")
    monkeypatch.setattr(rendercache, "_system_attribute_files", lambda: [system])
    assert rendercache.hashes_verbatim(repo, [])  # GIT_ATTR_NOSYSTEM=1
    for value in ("0", "false", "no"):  # git reads the variable as a boolean
        monkeypatch.setenv("GIT_ATTR_NOSYSTEM", value)
        assert not rendercache.hashes_verbatim(repo, [])
    monkeypatch.delenv("GIT_ATTR_NOSYSTEM")
    assert not rendercache.hashes_verbatim(repo, [])


@pytest.mark.parametrize("name", [".GIT", ".Git", "git~1", "GIT~1", ".git.", ".git ", ".git::$INDEX_ALLOCATION"])
def test_names_git_refuses_are_left_to_git(name, tmp_path):
    """``git add`` refuses these (``.git`` in any case or NTFS spelling); hashing them in
    Python would put into a tree what git never would."""
    from cookiepatcher import merge

    folder = tmp_path / "render"
    (folder / "sub" / name).mkdir(parents=True)
    (folder / "sub" / name / "config").write_text("x\n")
    assert merge.verbatim_entries(folder) is None


def test_special_symlinks_are_left_to_git_and_ordinary_dotfiles_are_not(tmp_path):
    import os

    from cookiepatcher import merge

    folder = tmp_path / "render"
    (folder / ".github" / "workflows").mkdir(parents=True)
    (folder / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (folder / ".gitignore").write_text("*.pyc\n")
    (folder / ".gitkeep").write_text("")
    assert merge.verbatim_entries(folder) is not None
    os.symlink(".gitignore", folder / ".gitmodules")
    assert merge.verbatim_entries(folder) is None


def test_large_files_are_left_to_git(tmp_path, monkeypatch):
    from cookiepatcher import merge

    folder = tmp_path / "render"
    folder.mkdir()
    (folder / "big.bin").write_bytes(b"x" * 100)
    monkeypatch.setattr(merge, "VERBATIM_MAX_BYTES", 99)
    assert merge.verbatim_entries(folder) is None
