"""Refusals: exit 2, one stderr line naming the problem and the way out, nothing changed.

"Nothing changed" is checked on everything an update could touch: every file below the
repository (tracked, untracked, ignored) with its mode, ``git status --porcelain``, the
bytes of ``.git/index`` and HEAD.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, generate, git, run_cli, snapshot, write

README = "# {{ cookiecutter.project_name }}\n"


def assert_refused(project: Path, args: list[str], *words: str, root: Path | None = None) -> str:
    """Run ``cookiepatcher ARGS`` in ``project``; check exit 2, one stderr line holding ``words``
    and an unchanged repository. Returns the message."""
    before = snapshot(root or project)
    proc = run_cli(*args, cwd=project)
    after = snapshot(root or project)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cookiepatcher: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert after == before
    return lines[0]


@pytest.fixture()
def two_versions(tmp_path, make_template):
    return make_template(tmp_path, {
        "v1": {"README.md": README, "app.txt": "a\n"},
        "v2": {"README.md": README + "\nv2\n", "app.txt": "a\nb\n", "NEW.md": "new\n", "pkg/mod.py": "x = 1\n"},
    })


def test_tracked_file_with_uncommitted_changes(two_versions):
    project = generate(two_versions, "v1")
    write(project / "README.md", "# draft, not committed\n")
    write(project / "scratch.txt", "untracked\n")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "uncommitted changes", "README.md",
                   "commit or stash")


def test_staged_change_also_refused(two_versions):
    project = generate(two_versions, "v1")
    write(project / "app.txt", "staged\n")
    git(project, "add", "app.txt")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "app.txt")


def test_unresolved_conflicts_from_a_previous_update(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"a.txt": "1\n"}, "v2": {"a.txt": "2\n"}, "v3": {"a.txt": "3\n"}})
    project = generate(tpl, "v1")
    write(project / "a.txt", "user\n")
    commit_all(project, "user")
    assert run_cli("update", "--checkout", "v2", "--no-input", cwd=project).returncode == 1

    assert_refused(project, ["update", "--checkout", "v3", "--no-input"], "a.txt", "resolve")


@pytest.mark.parametrize("where", ["NEW.md", "pkg/mod.py", "pkg"])
def test_untracked_file_at_a_path_the_update_creates(two_versions, where):
    project = generate(two_versions, "v1")
    if where == "pkg":  # a file where the update needs a folder
        write(project / "pkg", "a file, not a folder\n")
    else:
        write(project / where, "user's own, untracked\n")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "untracked", where)


def test_recorded_commit_gone_after_force_push(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README + "v2\n"}})
    project = generate(tpl, "v1")
    old = tpl.sha("v1")
    # rewrite the template's history: a new root commit, tags moved, old objects pruned
    git(tpl.path, "checkout", "-q", "--orphan", "rewritten")
    commit_all(tpl.path, "rewritten history", date="2025-01-01T00:00:00Z")
    git(tpl.path, "branch", "-M", "rewritten", "main")
    for tag in ("v1", "v2"):
        git(tpl.path, "tag", "-f", tag)
    git(tpl.path, "reflog", "expire", "--expire=now", "--all")
    git(tpl.path, "gc", "-q", "--prune=now")
    assert git(tpl.path, "cat-file", "-t", old, check=False) == ""

    msg = assert_refused(project, ["update", "--no-input"], old[:12], "link", "--commit")
    assert "no longer" in msg


@pytest.mark.parametrize("text, key", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"template": "x", "context": {}}), "'commit'"),
    (json.dumps({"commit": "0" * 40, "context": {}}), "'template'"),
    (json.dumps({"template": "x", "commit": "abc123", "context": {}}), "'commit'"),
    (json.dumps({"template": "x", "commit": "0" * 40, "context": []}), "'context'"),
    (json.dumps({"template": "x", "commit": "0" * 40, "context": {}, "skip": "docs"}), "'skip'"),
])
def test_malformed_record_names_the_key(two_versions, text, key):
    project = generate(two_versions, "v1")
    write(project / "cookiepatcher.json", text)
    commit_all(project, "broken record")

    msg = assert_refused(project, ["update", "--no-input"], key, "cookiepatcher.json")
    assert "link" in msg or "remove" in msg or "must" in msg


def test_no_record_points_to_link(tmp_path):
    project = tmp_path / "plain"
    write(project / "README.md", "plain\n")
    git(project, "init", "-q")
    commit_all(project)

    assert_refused(project, ["update"], "cookiepatcher.json", "cookiepatcher link")


@pytest.mark.parametrize("location", ["file:///nonexistent.invalid/template.git", "/nonexistent.invalid/template"])
def test_unreachable_template(two_versions, location):
    project = generate(two_versions, "v1")
    rec = json.loads((project / "cookiepatcher.json").read_text())
    rec["template"] = location
    write(project / "cookiepatcher.json", json.dumps(rec, indent=2, sort_keys=True) + "\n")
    commit_all(project, "moved template")

    assert_refused(project, ["update", "--no-input"], location)


def test_template_subfolder_gone_at_target(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}}, directory="tpl")
    project = generate(tpl, "v1")
    (tpl.path / "templates").mkdir()
    git(tpl.path, "mv", "tpl", "templates/python")
    tpl.directory = "templates/python"
    tpl.add_version("v2", {"README.md": README + "moved\n"})

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "tpl", "--directory")


PATH_CTX = {"project_name": "Demo Project",
            "project_slug": "{{ cookiecutter.project_name.lower().replace(' ', '_') }}",
            "module": "app"}


@pytest.mark.parametrize("value", ["../../escaped", "/tmp/absolute-escape", "..", "a/../../b"])
def test_path_answer_escaping_the_project_is_refused_on_update(tmp_path, make_template, value):
    tpl = make_template(tmp_path, {"v1": {"src/{{cookiecutter.module}}/__init__.py": ""},
                                   "v2": {"src/{{cookiecutter.module}}/core.py": "x = 1\n"}},
                        cookiecutter_json=PATH_CTX)
    project = generate(tpl, "v1")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input", "--set", f"module={value}"], "module")
    assert not list(tmp_path.rglob("escaped")) and not Path("/tmp/absolute-escape").exists()


@pytest.mark.parametrize("value", ["../escaped", "/tmp/absolute-escape-create"])
def test_path_answer_escaping_the_output_is_refused_on_create(tmp_path, make_template, value):
    tpl = make_template(tmp_path, {"v1": {"src/{{cookiecutter.module}}/__init__.py": ""}}, cookiecutter_json=PATH_CTX)
    out = tmp_path / "out"

    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", out, f"module={value}", cwd=tmp_path)

    assert proc.returncode == 2, proc.stderr
    assert "module" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not list(tmp_path.rglob("escaped")) and not Path(value).exists()
    assert not (out / "demo_project").exists()


def test_recorded_path_answer_escaping_is_refused(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"src/{{cookiecutter.module}}/__init__.py": ""},
                                   "v2": {"src/{{cookiecutter.module}}/core.py": "x = 1\n"}},
                        cookiecutter_json=PATH_CTX)
    project = generate(tpl, "v1")
    rec = json.loads((project / "cookiepatcher.json").read_text())
    rec["context"]["module"] = "../../escaped"
    write(project / "cookiepatcher.json", json.dumps(rec, indent=2, sort_keys=True) + "\n")
    commit_all(project, "tampered record")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "module")
    assert not list(tmp_path.rglob("escaped"))


@pytest.mark.parametrize("target", ["absolute", "relative", "dangling"])
def test_template_symlink_pointing_outside_the_project(tmp_path, make_template, target):
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("host secret\n")
    # relative: from <extracted template>/{{cookiecutter.project_slug}}/ up to tmp_path and beyond
    link = {"absolute": str(outside), "relative": "../" * 12 + str(outside).lstrip("/"),
            "dangling": "../../../does-not-exist.txt"}[target]
    tpl = make_template(tmp_path, {"v1": {"README.md": README},
                                   "v2": {"README.md": README + "v2\n", "secret.txt": f"symlink:{link}"}})
    project = generate(tpl, "v1")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "secret.txt", "outside")
    assert not (project / "secret.txt").exists()


def test_hook_made_symlink_pointing_outside_the_project(tmp_path, make_template):
    hook = ("import os\nif os.environ.get('COOKIEPATCHER_RENDER') == 'upgrade':\n"
            "    os.symlink('/etc/passwd', 'passwd')\n")
    tpl = make_template(tmp_path, {"v1": {"README.md": README},
                                   "v2": {"README.md": README + "v2\n", "/hooks/post_gen_project.py": hook}})
    project = generate(tpl, "v1")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "passwd", "outside")


def test_merge_in_progress(two_versions):
    project = generate(two_versions, "v1")
    head = git(project, "rev-parse", "HEAD").strip()
    (Path(git(project, "rev-parse", "--absolute-git-dir").strip()) / "MERGE_HEAD").write_text(head + "\n")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "merge")


def _revert_in_progress(project: Path) -> None:
    write(project / "app.txt", "a\nmine\n")
    commit_all(project, "mine")
    write(project / "app.txt", "a\nmine\nmore\n")
    commit_all(project, "more")
    git(project, "revert", "--no-edit", "HEAD~1", check=False)  # conflicts: REVERT_HEAD stays
    git(project, "checkout", "HEAD", "--", "app.txt")  # a clean tree, the revert still in progress


def _bisect(project: Path) -> None:
    write(project / "other.txt", "1\n")
    commit_all(project, "one")
    git(project, "bisect", "start", "HEAD", "HEAD~1")


@pytest.mark.parametrize("state", [_revert_in_progress, _bisect])
def test_a_revert_or_bisect_in_progress_is_refused(two_versions, state):
    """The update would be committed with the revert (as 'Revert ...'), dropped by its
    --abort, or computed on the bisect's commit and carried to the branch by its reset."""
    project = generate(two_versions, "v1")
    state(project)
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "revert or bisect is in progress",
                   "finish or abort it")


def test_a_paused_sequence_of_cherry_picks_is_refused(two_versions):
    project = generate(two_versions, "v1")
    gd = Path(git(project, "rev-parse", "--absolute-git-dir").strip())
    (gd / "sequencer").mkdir()  # what a multi-commit cherry-pick or revert leaves between its stops
    (gd / "sequencer" / "todo").write_text("pick 0000000 two\n")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "in progress")


def test_files_left_out_by_a_sparse_checkout_get_sparse_advice(two_versions):
    """Clearing skip-worktree by hand (the advice for hand-set flags) would show the files a
    sparse checkout left off disk as deleted, and a commit would delete them."""
    project = generate(two_versions, "v1")
    write(project / "docs" / "guide.md", "guide\n")
    commit_all(project, "docs")
    git(project, "sparse-checkout", "set", "--no-cone", "/*", "!/docs/")
    message = assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "outside the sparse checkout",
                             "docs/guide.md", "git sparse-checkout disable")
    assert "no-skip-worktree" not in message


def test_record_not_committed(two_versions, tmp_path):
    project = generate(two_versions, "v1", init_git=False)
    git(project, "init", "-q")
    git(project, "add", "README.md", "app.txt")
    git(project, "commit", "-q", "-m", "without record")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "cookiepatcher.json", "commit")


def test_not_a_git_repository(two_versions):
    project = generate(two_versions, "v1", init_git=False)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}

    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)

    assert proc.returncode == 2
    assert "git" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_ignored_user_file_at_a_path_the_update_creates(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {".gitignore": ".env\n"}, "v2": {".env": "TEMPLATE=1\n"}})
    project = generate(tpl, "v1")
    write(project / ".env", "SECRET=mine\n")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], ".env")


def _failing_hook_project(tmp_path, make_template):
    hook = "import sys\nsys.exit(3)\n"
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"/hooks/post_gen_project.py": hook}})
    return generate(tpl, "v1")


def test_failing_hook_at_target_changes_nothing(tmp_path, make_template):
    project = _failing_hook_project(tmp_path, make_template)
    before = snapshot(project)

    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)

    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith("cookiepatcher: error: template hook failed")
    assert snapshot(project) == before


def test_failing_hook_at_target_is_one_line(tmp_path, make_template):
    project = _failing_hook_project(tmp_path, make_template)

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "hook")


def test_invalid_cookiecutter_json_at_target(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"/cookiecutter.json": "{broken"}})
    project = generate(tpl, "v1")

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "cookiecutter.json")


def test_unknown_target_ref(two_versions):
    project = generate(two_versions, "v1")

    assert_refused(project, ["update", "--checkout", "v9", "--no-input"], "v9", "--checkout")


def test_offline_with_cold_cache(two_versions, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run_cli("create", two_versions.url, "--checkout", "v1", "--no-input", "--output-dir", out).returncode == 0
    project = out / "demo_project"
    git(project, "init", "-q")
    commit_all(project, "generated")
    monkeypatch.setenv("COOKIEPATCHER_CACHE_DIR", str(tmp_path / "cold"))

    assert_refused(project, ["update", "--checkout", "v2", "--offline"], "cache", "--offline")


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_edits_hidden_by_index_flags_are_refused_not_overwritten(two_versions, flag):
    project = generate(two_versions, "v1")
    write(project / "app.txt", "a\nlocal edit\n")
    git(project, "update-index", flag, "app.txt")
    message = assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "app.txt", "--no-skip-worktree")
    assert (project / "app.txt").read_text() == "a\nlocal edit\n"
    # the way out the message gives clears either flag (one flag a command: git keeps only the last)
    for command in re.findall(r"`(git update-index [^`]*)`", message):
        git(project, *command.replace("FILE", "app.txt").split()[1:])
    assert git(project, "ls-files", "-v", "app.txt").startswith("H ")


def test_index_lock_held_by_another_git_process(two_versions):
    project = generate(two_versions, "v1")
    (project / ".git" / "index.lock").write_text("")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "index.lock")


def test_record_that_is_a_folder(two_versions):
    project = generate(two_versions, "v1")
    (project / "cookiepatcher.json").unlink()
    write(project / "cookiepatcher.json" / "x", "")
    commit_all(project, "record is a folder")
    for command in ("update", "check", "diff"):
        assert_refused(project, [command], "cookiepatcher.json", "link")


def test_template_syntax_error_is_one_line_and_create_leaves_nothing(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README + "{{ cookiecutter.project_name \n"}})
    project = generate(tpl, "v1")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "README.md", "fix the template")
    out = tmp_path / "out2"
    out.mkdir()
    proc = run_cli("create", tpl.location, "--checkout", "v2", "--no-input", "--output-dir", out)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("how", ["template error", "unknown answer"])
def test_a_failed_create_removes_the_output_folders_it_made(how, tmp_path, make_template):
    """"Nothing changed": an --output-dir that did not exist is gone again after a failure."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README + "{{ cookiecutter.project_name \n"}})
    out = tmp_path / "new" / "deeper"
    answers = ["projectname=Typo"] if how == "unknown answer" else []
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", out, *answers)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not (tmp_path / "new").exists()


def test_check_refuses_a_recorded_commit_that_is_gone(two_versions):
    project = generate(two_versions, "v1")
    data = json.loads((project / "cookiepatcher.json").read_text())
    data["commit"] = "ab" * 20
    (project / "cookiepatcher.json").write_text(json.dumps(data, indent=2) + "\n")
    commit_all(project, "bad commit")
    assert_refused(project, ["check"], "no longer in", "link")


def test_create_refuses_an_answer_the_template_does_not_ask(two_versions, tmp_path):
    out = tmp_path / "out2"
    out.mkdir()
    proc = run_cli("create", two_versions.location, "--no-input", "--output-dir", out, "projectname=Typo")
    assert proc.returncode == 2, proc.stderr
    assert "no question 'projectname'" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert list(out.iterdir()) == []


def test_second_update_at_the_same_time_is_refused(two_versions):
    import fcntl
    import os

    project = generate(two_versions, "v1")
    fd = os.open(project / ".git", os.O_RDONLY)  # what a running update holds
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "another cookiepatcher update")
    finally:
        os.close(fd)


def test_set_value_outside_a_choice_questions_options(tmp_path, make_template):
    """cookiecutter refuses such extra context at create; an upgrade refuses it too."""
    ctx = {"project_name": "Demo Project", "project_slug": "{{ cookiecutter.project_name.lower().replace(' ', '_') }}",
           "database": ["postgres", "sqlite"]}
    tpl = make_template(tmp_path, {"v1": {"db.txt": "{{ cookiecutter.database }}\n"},
                                   "v2": {"db.txt": "db={{ cookiecutter.database }}\n"}},
                        cookiecutter_json=ctx)
    project = generate(tpl, "v1")
    line = assert_refused(project, ["update", "--checkout", "v2", "--no-input", "--set", "database=oracle"],
                          "--set database=oracle", "postgres, sqlite")
    assert "pick one of them" in line
    assert run_cli("update", "--checkout", "v2", "--no-input", "--set", "database=sqlite", cwd=project).returncode == 0
    assert (project / "db.txt").read_text() == "db=sqlite\n"


def test_create_with_an_answer_outside_a_choice_points_to_key_value_not_set(tmp_path, make_template):
    """`create` takes answers as KEY=VALUE; it has no --set (found by a new-user trial)."""
    tpl = make_template(tmp_path, {"v1": {"db.txt": "{{ cookiecutter.database }}\n"}},
                        cookiecutter_json={"project_name": "Demo Project", "project_slug": "demo",
                                           "database": ["postgres", "sqlite"]})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", "database=oracle", cwd=tmp_path)
    assert proc.returncode == 2
    assert "change it with KEY=VALUE" in proc.stderr and "--set" not in proc.stderr and ".;" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("answer", "why"), [
    ("note=x{{y", "unexpected end of template, expected 'end of print statement'"),
    ("note={{ cookiecutter.nope }}", "'collections.OrderedDict object' has no attribute 'nope'"),
    ("note={{ x|nosuchfilter }}", "No filter named 'nosuchfilter'"),  # an error of compiling, not parsing
    ("note={{ 1/0 }}", "division by zero"),  # an error in Python (was a traceback and exit 1)
    ('note={{ "{:d}".format("x") }}', "Unknown format code 'd' for object of type 'str'"),  # a ValueError
    ("note={% if true %}{{ 1|nofilter }}{% endif %}", "No filter named 'nofilter' found"),  # at run time
    ('note={{ {}|dictsort(by="x") }}', 'You can only sort by either "key" or "value"'),  # a filter's own error
])
def test_create_blames_an_answer_that_does_not_render_not_the_template(tmp_path, make_template, answer, why):
    """cookiecutter renders every answer as a Jinja template; an answer that fails is the
    answer's fault, and the message says how to write a literal {{."""
    tpl = make_template(tmp_path, {"v1": {"README.md": "{{ cookiecutter.note }}\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "note": "n"})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", answer, cwd=tmp_path)
    key, value = answer.split("=", 1)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"cookiepatcher: error: answer {key}={value!r} does not render ({why}): "
                                        "cookiecutter renders answers as Jinja templates, so a literal {{ is written "
                                        "{{ '{{' }}; change it with note=NEW"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("note", ["x{{y", "{{ 1/0 }}"])
def test_create_still_blames_the_template_for_a_default_that_does_not_render(tmp_path, make_template, note):
    """Even when the user gave Jinja that does not render to a question cookiecutter does
    not render (a private _x one), or in the user config to a question the template does
    not have."""
    tpl = make_template(tmp_path, {"v1": {"README.md": "{{ cookiecutter.note }}\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "note": note, "_x": "raw"})
    config = tmp_path / "config.yaml"
    config.write_text("default_context:\n  unrelated: '{{.Name}}'\n")
    proc = run_cli("create", tpl.location, "--no-input", "--config-file", config, "--output-dir", tmp_path / "out",
                   "project_name=Fine", "_x=a{{b", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.endswith("; fix the template") and "answer" not in line, line


def test_create_blames_an_answer_in_the_templates_own_delimiters(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": "[[ cookiecutter.note ]]\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "note": "n",
                                           "_jinja2_env_vars": {"variable_start_string": "[[", "variable_end_string": "]]"}})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", "note=[[ cookiecutter.nope ]]",
                   cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "answer note='[[ cookiecutter.nope ]]' does not render" in line
    assert "so a literal [[ is written [[ '[[' ]]; change it with note=NEW" in line


def test_create_blames_a_user_config_default_that_does_not_render(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": "{{ cookiecutter.note }}\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "note": "n"})
    config = tmp_path / "config.yaml"
    config.write_text("default_context:\n  note: 'x{%y'\n")
    proc = run_cli("create", tpl.location, "--no-input", "--config-file", config, "--output-dir", tmp_path / "out",
                   cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert "answer note='x{%y' does not render" in proc.stderr
    assert proc.stderr.rstrip().endswith("change it with note=NEW or in your user config")
    assert not (tmp_path / "out").exists()


def test_set_value_that_is_not_utf8_is_refused(two_versions):
    """A command-line byte that is not UTF-8 reaches Python as a lone surrogate (PEP 383);
    cookiecutter would fail writing it (a traceback), so it is refused up front."""
    project = generate(two_versions, "v1")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input", "--set", "project_name=a\udcff"],
                   "project_name=a\\xff", "not UTF-8", "--help")


def _commit_edited_record(project: Path, edit) -> None:
    """Apply ``edit`` (a function changing the record's JSON object in place) to the
    project's committed record, as a user editing the file would, and commit it (the
    record is written with json.dumps: text no file can hold becomes a \\u escape)."""
    record = json.loads((project / "cookiepatcher.json").read_text())
    edit(record)
    write(project / "cookiepatcher.json", json.dumps(record))
    commit_all(project, "edit the record")


def test_record_answer_that_is_no_character_is_refused(two_versions):
    project = generate(two_versions, "v1")
    _commit_edited_record(project, lambda record: record["context"].update(project_name="Demo \ud800"))
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "key 'context'", "lone surrogate")


def test_create_from_a_template_default_that_is_no_character_fails_cleanly(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}},
                        cookiecutter_json={"project_name": "Demo \ud800", "project_slug": "demo"})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["cookiepatcher: error: the answer to 'project_name' is not UTF-8 text (it holds "
                                        "a lone surrogate: bytes in another encoding, or a \\udXXX escape); change it "
                                        "with project_name=NEW"]
    assert not (tmp_path / "out").exists()


def test_create_into_a_folder_path_that_is_not_utf8_seen_by_the_template_fails_cleanly(tmp_path, make_template):
    """A path is bytes: one that is not UTF-8 is fine until the template writes it into a file."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "where.txt": "{{ cookiecutter._output_dir }}\n"}})
    out = tmp_path / "caf\udce9"  # the Latin-1 byte 0xE9, as Python names it
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "it writes \\xe9, which is no character" in proc.stderr
    assert "use a UTF-8 folder" in proc.stderr and not out.exists()


def test_set_of_a_json_answer_holding_an_escape_that_is_no_character(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README + "v2\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "opts": {"k": "v"}})
    project = generate(tpl, "v1")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input", "--set", 'opts={"k": "\\udc80"}'],
                   "--set opts: the answer is not UTF-8 text")


def test_create_with_a_dict_answer_naming_a_missing_folder_fails_cleanly(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "{{ cookiecutter.paths.f }}": "x\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "paths": {"f": "nope/f.txt"}})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["cookiepatcher: error: template render failed: cannot write demo/nope/f.txt "
                                        "(No such file or directory); check the answers used in file and folder names"]
    assert not (tmp_path / "out").exists()


def test_create_through_a_symlink_and_dotdot_writes_where_the_system_does(tmp_path, make_template):
    """`-o link/../out`: the system follows the link before `..`; cookiecutter alone
    would create the project folder there and write its files where the text points."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "sub/f.txt": "f\n"}})
    (tmp_path / "deep/a/b").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "deep/a/b")
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", "link/../out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "deep/a/out/demo_project/sub/f.txt").read_text() == "f\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["{{ cookiecutter.paths.up }}/evil.txt", "{{ cookiecutter.paths.up }}/sub/evil.txt",
                                  "{{ cookiecutter.paths.root }}tmp-evil.txt",
                                  # climbs out and back: cookiecutter creates the path part by part, as written
                                  "{{ cookiecutter.paths.sib ~ cookiecutter.project_slug }}/g.txt"])
def test_create_refuses_a_name_that_a_dict_answer_renders_outside_the_project(tmp_path, make_template, name):
    """The answer checks see only text answers; every rendered name is checked too (a
    file, a folder, an absolute name), before cookiecutter writes it."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, name: "x\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo",
                                           "paths": {"up": "../../escaped", "root": "/", "sib": "../sibling-evil/../"}})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out" / "services", cwd=tmp_path)

    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "outside the project" in proc.stderr
    assert not (tmp_path / "out").exists() and not Path("/tmp-evil.txt").exists()
    assert [p for p in tmp_path.rglob("*evil*") if tpl.path not in p.parents] == []


def test_update_refuses_a_name_that_a_recorded_list_answer_renders_outside(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README},
                                   "v2": {"README.md": README, "{{ cookiecutter.dirs[0] }}/evil.txt": "x\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "dirs": {"a": "b"}})
    project = generate(tpl, "v1")
    # an edited record: the name checks of text answers miss a list
    _commit_edited_record(project, lambda record: record["context"].update(dirs=["..", "docs"]))
    outside = sorted(p.name for p in project.parent.iterdir())

    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "'{{ cookiecutter.dirs[0] }}' renders to '..'",
                   "outside the project")
    assert sorted(p.name for p in project.parent.iterdir()) == outside


def test_create_from_a_template_folder_named_in_another_encoding_is_refused(tmp_path, make_template):
    """git prints such a path as bytes; the record, UTF-8 JSON, could not hold it."""
    tpl = make_template(tmp_path / "caf\udce9", {"v1": {"README.md": README}})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"cookiepatcher: error: the template location {tmp_path}/caf\\xe9/template is not "
                                        "UTF-8 text, and cookiepatcher.json records it as UTF-8; use a UTF-8 name"]
    assert not (tmp_path / "out").exists()


def test_refs_and_folders_that_are_not_utf8_are_refused_before_anything_is_read(tmp_path, two_versions):
    proc = run_cli("create", two_versions.location, "--checkout", "v\udce9", "--no-input", "--output-dir", tmp_path / "out",
                   cwd=tmp_path)
    assert proc.returncode == 2 and "--checkout v\\xe9 is not UTF-8 text" in proc.stderr
    assert not (tmp_path / "out").exists()
    project = generate(two_versions, "v1")
    assert_refused(project, ["update", "--directory", "t\udce9", "--no-input"], "--directory t\\xe9 is not UTF-8 text")
    assert_refused(project, ["link", two_versions.location, "--checkout", "v\udce9", "--no-input"],
                   "--checkout v\\xe9 is not UTF-8 text")


def test_create_with_a_user_config_that_is_not_utf8_is_refused(tmp_path, two_versions):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"default_context:\n  project_name: caf\xe9\n")
    proc = run_cli("create", two_versions.location, "--no-input", "--config-file", config, "--output-dir", tmp_path / "out",
                   cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"cookiepatcher: error: cannot use config file {config}: it is not UTF-8 text; "
                                        "save it as UTF-8"]
    assert not (tmp_path / "out").exists()


def _create(tpl, tmp_path, *args):
    return run_cli("create", tpl.location, "--no-input", *args, cwd=tmp_path)


def test_create_refuses_a_question_name_that_is_no_character_but_not_a_private_value(tmp_path, make_template):
    """A private value is not recorded: it matters only if the template writes it."""
    bad_name = make_template(tmp_path / "a", {"v1": {"README.md": README}},
                             cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "k\ud800": "x"})
    proc = _create(bad_name, tmp_path, "--output-dir", tmp_path / "out")
    assert proc.returncode == 2 and "the answer to 'k\\ud800' is not UTF-8 text" in proc.stderr
    assert not (tmp_path / "out").exists()
    private = make_template(tmp_path / "b", {"v1": {"README.md": README}},
                            cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "_priv": "\ud800"})
    assert _create(private, tmp_path, "--output-dir", tmp_path / "out").returncode == 0
    assert (tmp_path / "out/demo/README.md").read_text() == "# Demo\n"


def test_names_that_no_file_can_have_or_that_collide_are_refused(tmp_path, make_template):
    files = {"README.md": README, "{{ cookiecutter.d.a }}/x.txt": "x\n", "{{ cookiecutter.d.b }}/y.txt": "y\n"}
    for n, (d, words) in enumerate([({"a": "n\u0000l", "b": "b"}, "renders to 'n\\x00l', which no file can have"),
                                    ({"a": "same", "b": "same"}, "render to the same folder ('same')"),
                                    ({"a": "", "b": "b"}, "renders to an empty name, which cookiecutter cannot generate")]):
        tpl = make_template(tmp_path / f"t{n}", {"v1": files},
                            cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "d": d})
        proc = _create(tpl, tmp_path, "--output-dir", tmp_path / "out")
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and words in proc.stderr, proc.stderr
        assert not (tmp_path / "out").exists()


def test_a_copy_only_name_naming_a_missing_folder_says_so(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "cp{{ cookiecutter.d.a }}": "x\n"}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "d": {"a": "/"},
                                           "_copy_without_render": ["cp*"]})
    proc = _create(tpl, tmp_path, "--output-dir", tmp_path / "out")
    assert proc.returncode == 2 and "template render failed: " in proc.stderr and "(None)" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_output_folder_holding_jinja_syntax_is_refused_when_a_folder_path_is_rendered(tmp_path, two_versions,
                                                                                       make_template):
    """cookiecutter renders a folder's whole path; without subfolders it renders none."""
    flat = make_template(tmp_path / "flat", {"v1": {"README.md": README, "a.txt": "a\n"}})
    assert _create(flat, tmp_path, "--output-dir", tmp_path / "o{{x}}").returncode == 0
    assert (tmp_path / "o{{x}}/demo_project/a.txt").read_text() == "a\n"
    proc = _create(two_versions, tmp_path, "--output-dir", tmp_path / "p{{x}}")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"cookiepatcher: error: the folder {tmp_path}/p{{{{x}}}}/demo_project holds Jinja "
                                        "syntax, which cookiecutter renders in the path of every folder it writes; "
                                        "choose another --output-dir"]
    assert not (tmp_path / "p{{x}}").exists()
    project = generate(two_versions, "v1")
    (tmp_path / "t{#").mkdir()
    before = snapshot(project)
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project, env={"TMPDIR": str(tmp_path / "t{#"),
                                                                               "COOKIEPATCHER_FULL_RENDER": "1"})
    assert proc.returncode == 2 and "set TMPDIR to a folder without it" in proc.stderr and snapshot(project) == before


def test_an_output_folder_that_is_a_dangling_symlink_is_refused(tmp_path, two_versions):
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    proc = _create(two_versions, tmp_path, "--output-dir", tmp_path / "out/sub")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"cookiepatcher: error: cannot use the output folder {tmp_path}/out/sub "
                                        f"({tmp_path}/out is a symlink to nothing); choose another --output-dir"]
    assert not (tmp_path / "gone").exists()


def test_create_through_a_symlinked_output_folder_names_it_as_given(tmp_path, two_versions):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    proc = _create(two_versions, tmp_path, "--output-dir", "link")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"created {tmp_path}/link/demo_project ") and (tmp_path / "real/demo_project/README.md").exists()


def test_template_text_files_and_hooks_that_are_not_utf8_fail_cleanly(tmp_path, make_template):
    text = make_template(tmp_path / "a", {"v1": {"README.md": README, "latin1.txt": "caf\xe9 {{ cookiecutter.project_name }}\n".encode("latin-1")}})
    proc = _create(text, tmp_path, "--output-dir", tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["cookiepatcher: error: template render failed: latin1.txt is not UTF-8 text; save it as UTF-8"]
    hook = make_template(tmp_path / "b", {"v1": {"README.md": README, "/hooks/post_gen_project.py": "# caf\xe9\n".encode("latin-1")}})
    proc = _create(hook, tmp_path, "--output-dir", tmp_path / "out")
    assert proc.returncode == 2 and "a text file or hook of the template is not UTF-8" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_record_fields_holding_a_nul_are_refused(two_versions):
    project = generate(two_versions, "v1")
    _commit_edited_record(project, lambda record: record.update(directory="sub\u0000"))
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "key 'directory' holds a NUL character")


def test_a_project_folder_name_rendering_empty_is_refused(tmp_path, two_versions):
    proc = _create(two_versions, tmp_path, "--output-dir", tmp_path / "out", "project_slug=")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["cookiepatcher: error: the template's project folder name "
                                        "'{{cookiecutter.project_slug}}' renders to '', which names no folder; check "
                                        "the answers used in its name"]
    assert not (tmp_path / "out").exists()


def test_create_and_update_with_a_symlinked_temporary_folder(tmp_path, two_versions):
    """As on macOS, where /var (holding TMPDIR) is a symlink to /private/var."""
    (tmp_path / "real").mkdir()
    (tmp_path / "tmp").symlink_to(tmp_path / "real")
    env = {"TMPDIR": str(tmp_path / "tmp")}
    proc = run_cli("create", two_versions.location, "--checkout", "v1", "--no-input", "--output-dir", tmp_path / "out",
                   cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "out/demo_project"
    git(project, "init", "-q")
    commit_all(project, "generated")
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project, env={**env, "COOKIEPATCHER_FULL_RENDER": "1"})
    assert proc.returncode == 0, proc.stderr
    assert (project / "pkg/mod.py").read_text() == "x = 1\n"


def test_check_names_a_ref_that_is_not_utf8_as_typed(two_versions):
    project = generate(two_versions, "v1")
    proc = run_cli("check", "--checkout", "v\udcff", cwd=project)
    assert proc.returncode == 2 and "has no ref 'v\\xff'" in proc.stderr


@pytest.mark.parametrize("cruft, key", [
    ([], None), ({"template": 123}, "template"), ({"template": "t", "context": "x"}, "context"),
    ({"template": "t", "context": {"cookiecutter": "x"}}, "context.cookiecutter"), ({"template": "t", "directory": 5}, "directory"),
    ({"template": "t", "checkout": "ma\u0000ster"}, "checkout"), ({"template": "t", "skip": "abc"}, "skip"),
])
def test_link_refuses_a_cruft_record_of_the_wrong_shape(tmp_path, two_versions, cruft, key):
    project = generate(two_versions, "v1")
    (project / "cookiepatcher.json").unlink()
    write(project / ".cruft.json", json.dumps(cruft))
    commit_all(project, "cruft record")
    line = assert_refused(project, ["link", "--no-input"], ".cruft.json", "fix or delete it, then link again")
    assert key is None or f"key '{key}'" in line


@pytest.mark.parametrize("config, key", [("default_context: [1, 2]\n", "default_context"),
                                         ("abbreviations: [1]\n", "abbreviations"),
                                         ("abbreviations:\n  gh: 1\n", "abbreviations"),
                                         ("cookiecutters_dir: 5\n", "cookiecutters_dir")])
def test_create_refuses_a_user_config_of_the_wrong_shape(tmp_path, two_versions, config, key):
    (tmp_path / "config.yaml").write_text(config)
    proc = _create(two_versions, tmp_path, "--config-file", tmp_path / "config.yaml", "--output-dir", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and f"'{key}'" in proc.stderr and "must" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_record_holding_credentials_is_refused_without_showing_them(two_versions):
    """They must not be committed; shown in messages, pull requests or a new record, they would leak."""
    project = generate(two_versions, "v1")
    _commit_edited_record(project, lambda record: record.update(template="https://user:SECRETTOK@example.com/o/t.git"))
    for args in (["update", "--no-input"], ["check"], ["diff"]):
        line = assert_refused(project, args, "key 'template' holds credentials",
                              "cookiepatcher link https://example.com/o/t.git")
        assert "SECRETTOK" not in line


@pytest.mark.parametrize("url", ["htps://user:SECRETTOK@example.com/t.git", "HTTP://user:SECRETTOK@example.com/t.git"])
def test_create_never_shows_credentials_of_a_template_it_cannot_reach(tmp_path, url):
    proc = run_cli("create", url, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path,
                   env={"GIT_TERMINAL_PROMPT": "0"})
    assert proc.returncode == 2 and "SECRETTOK" not in proc.stderr + proc.stdout, proc.stderr


def test_jinja_syntax_from_an_answer_in_the_project_folder_name_blames_the_answer(tmp_path, two_versions):
    proc = _create(two_versions, tmp_path, "--output-dir", tmp_path / "out",
                   "project_slug=x{% raw %}{{{% endraw %}y")  # (cookiecutter renders an answer as Jinja too)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["cookiepatcher: error: the project folder name 'x{{y' holds Jinja syntax, "
                                        "which cookiecutter renders in the path of every folder it writes; it comes "
                                        "from the answer project_slug='x{{y': change it with project_slug=NEW"]


def test_jinja_syntax_in_a_project_folder_name_blames_the_answer_in_an_update_too(tmp_path, make_template):
    """A template without folders creates such a project; every update of a template that
    gained a folder is refused, naming the answer and --set (it named a temporary folder)."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README, "src/a.py": "A = 1\n"}})
    project = generate(tpl, "v1", {"project_slug": "x{% raw %}{{{% endraw %}y"})
    assert project.name == "x{{y"
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"],
                   "the project folder name 'x{{y' holds Jinja syntax", "change it with --set project_slug=NEW")
    proc = run_cli("update", "--checkout", "v2", "--no-input", "--set", "project_slug=xy", cwd=project)
    assert proc.returncode == 0, proc.stderr


# -- changes made while an update runs, filters, the environment ------------------------------

def _update_with(project: Path, during_merge) -> Exception | None:
    """Run an update to v2 through the public API, calling ``during_merge()`` when the
    merge starts (after the clean check, before anything is written); return the error."""
    from cookiepatcher.update import update_project

    def on_phase(name: str) -> None:
        if name == "merge":
            during_merge()

    try:
        update_project(project, checkout="v2", no_input=True, on_phase=on_phase)
    except Exception as exc:  # noqa: BLE001 - the caller checks what it is
        return exc
    return None


def _no_leftovers(project: Path) -> None:
    gd = Path(git(project, "rev-parse", "--absolute-git-dir").strip())
    assert not (gd / "index.lock").exists()
    assert [p.name for p in gd.iterdir() if p.name.startswith("cookiepatcher-")] == []


def test_an_edit_saved_while_the_update_runs_is_not_overwritten(two_versions):
    """An editor's autosave between the clean check and the write: refused, the edit kept."""
    from cookiepatcher.errors import RefusedError

    project = generate(two_versions, "v1")
    index = (Path(git(project, "rev-parse", "--absolute-git-dir").strip()) / "index").read_bytes()
    error = _update_with(project, lambda: write(project / "README.md", "# saved by my editor\n"))
    assert isinstance(error, RefusedError) and "changed while the update ran: README.md" in str(error), error
    assert "nothing was written" in str(error)
    assert (project / "README.md").read_text() == "# saved by my editor\n"
    assert not (project / "NEW.md").exists() and (project / "app.txt").read_text() == "a\n"
    assert (Path(git(project, "rev-parse", "--absolute-git-dir").strip()) / "index").read_bytes() == index
    _no_leftovers(project)


def test_a_file_staged_meanwhile_at_a_path_the_update_adds_is_not_overwritten(two_versions):
    from cookiepatcher.errors import RefusedError

    project = generate(two_versions, "v1")

    def stage() -> None:
        write(project / "NEW.md", "my own\n")
        git(project, "add", "NEW.md")

    error = _update_with(project, stage)
    assert isinstance(error, RefusedError) and "NEW.md" in str(error), error
    assert (project / "NEW.md").read_text() == "my own\n"
    assert git(project, "diff", "--cached", "--name-only") == "NEW.md\n"
    _no_leftovers(project)


def test_a_commit_made_while_the_update_runs_is_not_undone(two_versions):
    """The result was computed on the old HEAD: written over the new one, the next commit
    would revert the user's commit."""
    from cookiepatcher.errors import RefusedError

    project = generate(two_versions, "v1")

    def commit() -> None:
        write(project / "other.txt", "committed meanwhile\n")
        commit_all(project, "meanwhile")

    error = _update_with(project, commit)
    assert isinstance(error, RefusedError) and "HEAD moved while the update ran" in str(error), error
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "log", "-1", "--format=%s") == "meanwhile\n"
    _no_leftovers(project)


def test_an_untracked_file_that_only_a_clean_filter_makes_equal_blocks(two_versions):
    """The untracked file's own bytes decide: through an output-stripping clean filter
    (nbstripout-like) different content hashes alike, and would have been overwritten."""
    project = generate(two_versions, "v1")
    write(project / ".gitattributes", "*.md filter=strip\n")
    commit_all(project, "attributes")
    git(project, "config", "filter.strip.clean", "sed '/^#output/d'")
    git(project, "config", "filter.strip.smudge", "cat")
    write(project / "NEW.md", "new\n#output: three hours of results\n")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "would be overwritten", "NEW.md")


def test_a_smudge_filter_failing_midway_is_reported_as_a_partial_write(two_versions):
    """git-lfs without its server: checkout fails after the write began. The message must
    not claim that nothing changed."""
    project = generate(two_versions, "v1")
    write(project / ".gitattributes", "*.md filter=half\n")
    commit_all(project, "attributes")
    git(project, "config", "filter.half.required", "true")
    git(project, "config", "filter.half.clean", "cat")
    git(project, "config", "filter.half.smudge", "false")
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "writing the result failed midway" in line and "some files are written, the index is not" in line, line
    assert "git checkout -- ." in line
    assert git(project, "diff", "--cached", "--name-only") == ""  # the index as before
    _no_leftovers(project)


def test_git_dir_in_the_environment_is_ignored(two_versions):
    """git sets GIT_DIR (and GIT_INDEX_FILE) for the hooks it runs: `cookiepatcher check`
    in a pre-commit hook, or an update run from one, must still read the template's own
    repository, and find the project from the folder."""
    project = generate(two_versions, "v1")
    gd = git(project, "rev-parse", "--absolute-git-dir").strip()
    env = {"GIT_DIR": gd, "GIT_INDEX_FILE": str(Path(gd) / "index")}
    check = run_cli("check", "--checkout", "v2", cwd=project, env=env)
    assert check.returncode == 1 and "no ref" not in check.stderr, (check.stdout, check.stderr)
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (project / "NEW.md").read_text() == "new\n"


def test_a_sparse_checkout_around_the_project_does_not_hide_its_renders(tmp_path, make_template):
    """In a monorepo checked out sparsely to the service's folder, the renders (hashed
    through the repository: a template with hooks renders in full) are outside its sparse
    patterns; they must still count."""
    # (files in folders: a cone-mode sparse checkout keeps every top-level file)
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "src/app.txt": "a\n"},
                                   "v2": {"README.md": README, "src/app.txt": "a\nb\n", "src/NEW.md": "new\n"}},
                        hooks={"post_gen_project.py": "print('hook ran')\n"})
    mono = tmp_path / "mono"
    project = generate(tpl, "v1", output_dir=mono, init_git=False)
    write(mono / "other" / "o.txt", "o\n")
    git(mono, "init", "-q")
    commit_all(mono, "monorepo")
    git(mono, "sparse-checkout", "set", project.name)
    git(mono, "config", "core.autocrlf", "input")  # the renders are then hashed by `git add`
    diff = run_cli("diff", cwd=project)
    assert diff.returncode == 0, diff.stderr
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project, env={"COOKIEPATCHER_RENDER_CACHE": "0"})
    assert proc.returncode == 0, proc.stderr
    assert (project / "src" / "NEW.md").read_text() == "new\n" and not (mono / "other").exists()


def test_a_commit_tried_while_the_update_writes_fails_instead_of_being_undone(two_versions):
    """The update holds index.lock while it writes, as git merge does: the user's commit
    fails (git says why) rather than be reverted by the index the update puts back."""
    project = generate(two_versions, "v1")
    tried: list[subprocess.CompletedProcess[str]] = []

    def on_phase(name: str) -> None:
        if name == "write-added":
            write(project / "mine.txt", "keep\n")
            tried.append(subprocess.run(["git", "add", "mine.txt"], cwd=project, capture_output=True, text=True))

    from cookiepatcher.update import update_project

    update_project(project, checkout="v2", no_input=True, on_phase=on_phase)
    [add] = tried
    assert add.returncode != 0 and "index.lock" in add.stderr
    assert git(project, "status", "--porcelain", "--", "mine.txt") == "?? mine.txt\n"
    assert (project / "NEW.md").read_text() == "new\n"
    _no_leftovers(project)


def test_a_merge_begun_while_the_update_runs_is_refused(two_versions):
    from cookiepatcher.errors import RefusedError

    project = generate(two_versions, "v1")
    git(project, "checkout", "-q", "-b", "side")
    write(project / "side.txt", "side\n")
    commit_all(project, "side")
    git(project, "checkout", "-q", "-")
    error = _update_with(project, lambda: git(project, "merge", "-q", "--no-commit", "--no-ff", "side"))
    assert isinstance(error, RefusedError) and "in progress" in str(error), error
    assert git(project, "diff", "--cached", "--name-only") == "side.txt\n"  # the merge's, untouched
    _no_leftovers(project)


@pytest.mark.parametrize("var", ["GIT_GLOB_PATHSPECS", "GIT_ICASE_PATHSPECS", "GIT_NOGLOB_PATHSPECS"])
def test_pathspec_settings_of_the_environment_do_not_break_the_update(two_versions, var):
    project = generate(two_versions, "v1")
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project, env={var: "1"})
    assert proc.returncode == 0, proc.stderr
    assert (project / "NEW.md").read_text() == "new\n"


def test_a_disabled_sparse_checkout_gets_the_advice_for_hand_set_flags(two_versions):
    """`git sparse-checkout disable` leaves its patterns file behind."""
    project = generate(two_versions, "v1")
    git(project, "sparse-checkout", "init", "--cone")
    git(project, "sparse-checkout", "disable")
    git(project, "update-index", "--skip-worktree", "app.txt")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "marked assume-unchanged or skip-worktree",
                   "--no-skip-worktree")


def test_a_file_name_holding_a_line_break_keeps_the_refusal_on_one_line(two_versions):
    project = generate(two_versions, "v1")
    write(project / "two\nlines.txt", "x\n")
    commit_all(project, "odd name")
    write(project / "two\nlines.txt", "changed\n")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "uncommitted changes", "two\\x0alines.txt")


def test_create_blames_the_template_when_its_own_default_fails_beside_an_answer_with_jinja(tmp_path, make_template):
    """The answer renders in cookiecutter's own pass; the template's next default fails."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "license": ["MIT", "BSD"],
                                           "title": "t", "year": "{{ cookiecutter.license + 1 }}"})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out",
                   'title={{ cookiecutter.license + "-x" }}', cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["cookiepatcher: error: template render failed: TypeError: can only concatenate "
                                        "str (not \"int\") to str; fix the template"]


def test_a_repository_named_only_by_git_dir_says_the_variable_is_ignored(tmp_path, two_versions):
    project = generate(two_versions, "v1")
    bare = tmp_path / "dot.git"
    git(tmp_path, "clone", "-q", "--bare", str(project), str(bare))
    work = tmp_path / "dotwork"
    work.mkdir()
    git(work, "checkout", "-q", "-f", "HEAD", env={"GIT_DIR": str(bare), "GIT_WORK_TREE": str(work)})
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=work, env={"GIT_DIR": str(bare), "GIT_WORK_TREE": str(work)})
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "is not in a git repository" in line and "GIT_DIR and GIT_WORK_TREE in the environment: ignored" in line, line


def _add_submodule(project: Path, tmp_path: Path, path: str, commits: int = 1) -> None:
    """Commit, in ``project``, a submodule at ``path``: a new repository ``tmp_path/lib``
    with ``commits`` commits of ``l.txt``."""
    lib = tmp_path / "lib"
    lib.mkdir()
    git(lib, "init", "-q")
    for n in range(1, commits + 1):
        write(lib / "l.txt", "l\n" if commits == 1 else f"{n}\n")
        commit_all(lib, f"lib {n}")
    git(project, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), path)
    commit_all(project, "submodule")


def test_files_the_template_adds_inside_a_submodule_are_refused_with_a_skip_pattern(tmp_path, make_template):
    """They would be written into the submodule's own work tree (and the gitlink staged
    as deleted); the advised skip pattern then lets the update through."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README, "vendor/lib/file.txt": "t\n"}})
    project = generate(tpl, "v1")
    _add_submodule(project, tmp_path, "vendor/lib")
    message = assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "inside submodule vendor/lib")
    assert not (project / "vendor" / "lib" / "file.txt").exists()
    advice = re.search(r'"skip": (\[.*?\])', message).group(1)
    _commit_edited_record(project, lambda record: record.update(skip=json.loads(advice)))
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "skipped       vendor/lib/file.txt" in proc.stdout
    assert sorted(p.name for p in (project / "vendor" / "lib").iterdir()) == [".git", "l.txt"]
    assert git(project, "ls-files", "-s", "vendor/lib").startswith("160000 ")


def test_an_edit_hidden_by_a_flag_set_while_the_update_runs_is_not_overwritten(two_versions):
    from cookiepatcher.errors import RefusedError

    project = generate(two_versions, "v1")

    def hide() -> None:
        write(project / "app.txt", "a\nmine\n")
        git(project, "update-index", "--assume-unchanged", "app.txt")

    error = _update_with(project, hide)
    assert isinstance(error, RefusedError) and "changed while the update ran: app.txt" in str(error), error
    assert (project / "app.txt").read_text() == "a\nmine\n"
    _no_leftovers(project)


def test_an_index_that_cannot_be_locked_is_a_one_line_refusal(two_versions, monkeypatch):
    """As git's "Unable to create '...index.lock': Permission denied" (a traceback with
    exit 1, the conflicts code, before)."""
    from cookiepatcher import apply
    from cookiepatcher.errors import RefusedError

    project = generate(two_versions, "v1")
    real_open = os.open

    def no_lock(path, *args, **kwargs):
        if str(path).endswith("index.lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(apply.os, "open", no_lock)
    before = snapshot(project)
    error = _update_with(project, lambda: None)
    assert isinstance(error, RefusedError), error
    assert str(error).startswith(f"cannot lock the index ({project / '.git' / 'index.lock'}: Permission denied); "
                                 "nothing was written")
    assert snapshot(project) == before


def test_a_lock_in_a_linked_worktree_is_named_where_it_is(two_versions, tmp_path):
    project = generate(two_versions, "v1")
    worktree = tmp_path / "wt"
    git(project, "worktree", "add", "-q", str(worktree), "-b", "wt")
    lock = Path(git(worktree, "rev-parse", "--absolute-git-dir").strip()) / "index.lock"
    lock.write_text("")
    assert_refused(worktree, ["update", "--checkout", "v2", "--no-input"], f"({lock} exists)")


def test_a_dry_run_does_not_mind_a_locked_index(two_versions):
    """It writes nothing (an IDE's `git status` takes the lock now and then)."""
    project = generate(two_versions, "v1")
    (project / ".git" / "index.lock").write_text("")
    proc = run_cli("update", "--checkout", "v2", "--no-input", "--dry-run", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "+v2" in proc.stdout
    (project / ".git" / "index.lock").unlink()
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.parametrize("phase", ["write-modified", "write-added", "write-index"])
def test_an_update_interrupted_while_writing_says_the_files_are_partly_written(two_versions, phase):
    from cookiepatcher.apply import WriteInterrupted
    from cookiepatcher.update import update_project

    project = generate(two_versions, "v1")

    def on_phase(name: str) -> None:
        if name == phase:
            raise KeyboardInterrupt

    with pytest.raises(WriteInterrupted):
        update_project(project, checkout="v2", no_input=True, on_phase=on_phase)
    _no_leftovers(project)
    assert git(project, "diff", "--cached", "--name-only") == ""
    git(project, "checkout", "--", ".")
    assert git(project, "status", "--porcelain", "--untracked-files=no") == ""


def test_an_untracked_symlink_in_a_folder_the_template_turns_into_a_file_blocks(tmp_path, make_template):
    """os.walk lists a symlink to a folder among the folders: it was never looked at, and
    checkout-index deleted it with the folder."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "d/a.txt": "a\n"}, "v2": {"README.md": README, "d": "now a file\n"}})
    project = generate(tpl, "v1")
    (project / "d" / "mylink").symlink_to(tmp_path)
    assert_refused(project, ["update", "--checkout", "v2", "--no-input", "--dry-run"], "would be overwritten: d;")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "would be overwritten: d;")


@pytest.mark.parametrize(("change", "words"), [
    (lambda p: git(p, "mv", "app.txt", "renamed.txt"), "uncommitted changes in app.txt, renamed.txt;"),
    (lambda p: git(p, "mv", "app.txt", "caf\u00e9.txt"), "uncommitted changes in app.txt, caf\u00e9.txt;"),
])
def test_the_clean_check_names_staged_renames_by_both_paths(two_versions, change, words):
    """A staged rename was misread (porcelain v1 gives the old path a record of its own):
    "uncommitted changes in renamed.txt, xt", or "unresolved conflicts" for a name starting UU."""
    project = generate(two_versions, "v1")
    change(project)
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], words)


def test_flagged_files_are_named_as_they_are(two_versions):
    """ls-files without -z quoted the name ("caf\\303\\251.txt")."""
    project = generate(two_versions, "v1")
    write(project / "caf\u00e9.txt", "x\n")
    commit_all(project, "accent")
    git(project, "update-index", "--skip-worktree", "caf\u00e9.txt")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "skip-worktree: caf\u00e9.txt;")


def test_a_submodule_with_changes_of_its_own_gets_advice_that_works(tmp_path, two_versions):
    project = generate(two_versions, "v1")
    _add_submodule(project, tmp_path, "lib")
    write(project / "lib" / "scratch.txt", "untracked inside the submodule\n")
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "uncommitted changes in lib (a submodule)",
                   "commit or stash them; for a submodule, its own changes or untracked files: inside it, then run")


def test_the_skip_pattern_for_a_submodule_with_wildcards_in_its_name_matches_it(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README, "lib[1]/file.txt": "t\n"}})
    project = generate(tpl, "v1")
    _add_submodule(project, tmp_path, "lib[1]")
    message = assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "inside submodule lib[1]")
    advice = json.loads(re.search(r'"skip": (\[.*?\]) in', message).group(1))
    assert advice == ["/lib\\[1\\]/**"]
    _commit_edited_record(project, lambda record: record.update(skip=advice))
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert not (project / "lib[1]" / "file.txt").exists()


def test_an_entry_gits_merge_leaves_without_content_is_refused_with_a_way_out(tmp_path, make_template):
    """git 2.39's merge leaves src2/pkg~HEAD with a null id (`git merge` itself then fails
    to write its index, half-way through the work tree); the update names it, writes
    nothing, and says what to do (found by the session's differential fuzz)."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "src/a.txt": "1\n2\n3\n", "src/pkg/m.txt": "x\ny\nz\n"},
                                   "v2": {"README.md": README, "src2/a.txt": "1\n2\n3\n", "src2/pkg/m.txt": "x\ny\nz\n",
                                          "src/a.txt": None, "src/pkg/m.txt": None}})
    project = generate(tpl, "v1")
    git(project, "rm", "-rq", "src/pkg")
    write(project / "src" / "pkg", "user file\n")
    commit_all(project, "pkg is a file")
    before = snapshot(project)
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)
    if proc.returncode == 2:  # git 2.39
        assert proc.stderr.splitlines() == [
            "cookiepatcher: error: git's merge left src2/pkg~HEAD without content (`git merge` fails on it too); nothing "
            "was written: make that part of the template's change by hand, or update with a newer git"]
        assert snapshot(project) == before
    else:  # a git whose merge records the entry: an ordinary conflicted update
        assert proc.returncode == 1, proc.stderr
        assert not any(line.split()[1].strip("0") == "" for line in git(project, "ls-files", "-s").splitlines())


def test_untracked_files_in_the_way_are_named_from_the_project_folder(tmp_path, two_versions):
    mono = tmp_path / "mono"
    project = generate(two_versions, "v1", output_dir=mono, init_git=False)
    git(mono, "init", "-q")
    commit_all(mono, "monorepo")
    write(project / "NEW.md", "mine\n")
    message = assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "would be overwritten: NEW.md;")
    assert project.name not in message


def test_a_submodule_at_another_commit_gets_advice_that_works(tmp_path, two_versions):
    """Nothing to commit or stash inside it: git add it, or put it back."""
    project = generate(two_versions, "v1")
    _add_submodule(project, tmp_path, "lib", commits=2)
    git(project / "lib", "checkout", "-q", "HEAD~1")
    message = assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "uncommitted changes in lib (a submodule)",
                             "; for a submodule at another commit: `git add` and commit it, or `git submodule update` it, then run")
    assert "inside it" not in message
    git(project / "lib", "checkout", "-q", "-")  # back where the project records it
    shutil.rmtree(project / "lib")  # ... and its folder gone
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "for a submodule whose folder is gone: "
                   "`git submodule update` it")
    git(project, "submodule", "update", "-q")
    write(project / "lib" / "l.txt", "mine\n")
    git(project / "lib", "commit", "-qam", "mine")
    git(project, "add", "lib")  # a new commit of it staged
    assert_refused(project, ["update", "--checkout", "v2", "--no-input"], "for a submodule whose new commit is "
                   "staged: commit it, or `git reset` it")


def test_answers_that_cannot_be_read_from_standard_input_are_not_the_templates_fault(tmp_path, two_versions):
    """A typed answer that is not UTF-8 (strict stdin, as under en_US.UTF-8) was "template
    render failed: UnicodeDecodeError ...; fix the template"."""
    proc = subprocess.run([sys.executable, "-m", "cookiepatcher", "create", two_versions.location, "--output-dir",
                           str(tmp_path / "out")], cwd=tmp_path, capture_output=True, input=b"\xff\n",
                          env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, stderr
    assert stderr.splitlines()[-1].startswith("cookiepatcher: error: cannot read an answer from standard input "
                                              "(UnicodeDecodeError: ")
    assert stderr.rstrip().endswith("give the answers as KEY=VALUE with --no-input, or run in a terminal")
    assert not (tmp_path / "out").exists()


def test_a_full_disk_while_building_the_index_says_so(two_versions, monkeypatch):
    from cookiepatcher import apply, git as gitmod
    from cookiepatcher.errors import CookiepatcherError

    project = generate(two_versions, "v1")
    real_run = gitmod.run

    def full(args, *a, **kw):
        if "update-index" in args and "--index-info" in args:
            raise gitmod.GitError("git update-index failed: error: write error. Out of diskspace")
        return real_run(args, *a, **kw)

    monkeypatch.setattr(apply.git, "run", full)
    before = snapshot(project)
    error = _update_with(project, lambda: None)
    assert isinstance(error, CookiepatcherError) and "nothing was written: fix the cause (disk space?)" in str(error), error
    assert snapshot(project) == before


def test_a_template_question_cookiecutter_cannot_ask_is_the_templates_fault(tmp_path, make_template):
    """An empty choice list fails outside Jinja, with --no-input: not a problem reading input."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "x": []})
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["cookiepatcher: error: template render failed: ValueError: The list of choices "
                                        "is empty; fix the template"]


def test_the_answer_named_for_jinja_syntax_in_the_folder_name_is_the_one_the_name_uses(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"src/a.py": "A = 1\n"}},
                        cookiecutter_json={"a": "q", "project_name": "Demo", "project_slug": "demo"})
    # ("a" comes first, and its value is part of the name too)
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out",
                   "a={{ '{{' }}x", "project_slug={{ '{{' }}xy", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.rstrip().endswith("it comes from the answer project_slug='{{xy': change it with project_slug=NEW")
