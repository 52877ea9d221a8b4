"""Update behaviours beyond the merge itself: answers, hooks, layout, skip lists, determinism.

Each test builds its template inline, generates a project at ``v1`` and updates it
through the Python API (:func:`cookiepatcher.update_project`) or the CLI.
"""
from __future__ import annotations

import json
import os

import pytest
from conftest import commit_all, generate, git, record_of, run_cli, status, unmerged, write

from cookiepatcher import update_project
from cookiepatcher.errors import CookiepatcherError

README = "# {{ cookiecutter.project_name }}\n\nA project generated from the demo template.\n"


def outcomes(result) -> dict[str, str]:
    return {f.path: f.status for f in result.files}


def test_update_writes_merge_and_new_record_but_commits_nothing(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README},
                                   "v2": {"README.md": README + "\nv2 line\n"}})
    project = generate(tpl, "v1")
    head = git(project, "rev-parse", "HEAD")

    result = update_project(project, checkout="v2")

    assert git(project, "rev-parse", "HEAD") == head
    assert (result.from_commit, result.to_commit) == (tpl.sha("v1"), tpl.sha("v2"))
    rec = record_of(project)
    assert rec["commit"] == tpl.sha("v2")
    assert rec["checkout"] == "v2"
    assert rec["context"]["project_name"] == "Demo Project"
    # merge result and record are staged, the working tree matches the index
    assert sorted(status(project).splitlines()) == ["M  README.md", "M  cookiepatcher.json"]
    assert outcomes(result) == {"README.md": "updated"}


@pytest.mark.parametrize("conflict", [False, True])
def test_the_index_holds_the_written_files_stat_data(conflict, tmp_path, make_template):
    """As after ``git merge``: ``git diff-files`` (which trusts stat data, unlike
    ``git status``) sees no change in the files the update wrote or removed."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "a.txt": "1\n", "gone.txt": "x\n"},
                                   "v2": {"README.md": README + "\nv2 line\n", "a.txt": "2\n", "gone.txt": None,
                                          "new/b.txt": "b\n"}})
    project = generate(tpl, "v1")
    if conflict:
        write(project / "a.txt", "mine\n")
        commit_all(project, "edit")
    update_project(project, checkout="v2")
    stale = sorted(set(git(project, "diff-files", "--name-only").splitlines()))
    assert stale == (["a.txt"] if conflict else [])  # an unmerged path is always listed
    assert (project / "new/b.txt").read_text() == "b\n" and not (project / "gone.txt").exists()


def test_second_update_after_commit_is_up_to_date(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README + "\nv2\n"}})
    project = generate(tpl, "v1")
    update_project(project, checkout="v2")
    commit_all(project, "template v2")

    again = update_project(project)  # follows the recorded ref (v2)

    assert again.up_to_date and again.files == [] and again.exit_code == 0
    assert status(project) == ""


def test_consecutive_updates_follow_the_default_branch(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"a.txt": "1\n"}, "v2": {"a.txt": "1\n2\n"}})
    project = generate(tpl, None)  # follows the default branch (main = v2 now)
    assert record_of(project)["commit"] == tpl.sha("v2") and record_of(project)["checkout"] is None
    tpl.add_version("v3", {"a.txt": "1\n2\n3\n", "b.txt": "new\n"})

    result = update_project(project)

    assert result.to_commit == tpl.sha("v3")
    assert (project / "a.txt").read_text() == "1\n2\n3\n"
    assert (project / "b.txt").read_text() == "new\n"
    assert record_of(project)["checkout"] is None
    commit_all(project, "v3")
    tpl.add_version("v4", {"b.txt": None})
    update_project(project)
    assert not (project / "b.txt").exists()
    assert record_of(project)["commit"] == tpl.sha("v4")


LICENSE_CTX = {"project_name": "Demo Project",
               "project_slug": "{{ cookiecutter.project_name.lower().replace(' ', '_') }}",
               "license": ["MIT", "Apache-2.0"]}


def _new_question_template(tmp_path, make_template):
    return make_template(tmp_path, {
        "v1": {"README.md": README},
        "v2": {"/cookiecutter.json": LICENSE_CTX, "README.md": README + "\nLicense: {{ cookiecutter.license }}\n",
               "LICENSE": "Licensed under the {{ cookiecutter.license }} license.\n"},
    })


def test_new_question_takes_its_default_and_is_recorded_and_reported(tmp_path, make_template):
    tpl = _new_question_template(tmp_path, make_template)
    project = generate(tpl, "v1", {"project_name": "Widget Factory"})
    write(project / "src/widget.py", "def build():\n    return 'widget'\n")
    commit_all(project, "widget")

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--json", cwd=project)

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["defaulted"] == {"license": "MIT"}
    assert (project / "README.md").read_text() == (
        "# Widget Factory\n\nA project generated from the demo template.\n\nLicense: MIT\n")
    assert (project / "LICENSE").read_text() == "Licensed under the MIT license.\n"
    assert record_of(project)["context"] == {"project_name": "Widget Factory", "project_slug": "widget_factory",
                                             "license": "MIT"}
    assert (project / "src/widget.py").read_text() == "def build():\n    return 'widget'\n"


def test_new_question_default_is_announced_in_text_output(tmp_path, make_template):
    tpl = _new_question_template(tmp_path, make_template)
    project = generate(tpl, "v1")

    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert "license" in proc.stdout and "MIT" in proc.stdout


def test_set_changes_answers_in_the_same_update(tmp_path, make_template):
    tpl = _new_question_template(tmp_path, make_template)
    project = generate(tpl, "v1", {"project_name": "Widget Factory"})

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--json", "--set", "license=Apache-2.0",
                   "--set", "project_name=Gadget Works", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["defaulted"] == {}
    assert (project / "LICENSE").read_text() == "Licensed under the Apache-2.0 license.\n"
    assert (project / "README.md").read_text().startswith("# Gadget Works\n")
    ctx = record_of(project)["context"]
    assert ctx["license"] == "Apache-2.0" and ctx["project_name"] == "Gadget Works"


def test_new_question_asked_through_callback(tmp_path, make_template):
    tpl = _new_question_template(tmp_path, make_template)
    project = generate(tpl, "v1")
    asked = []

    def ask(name, default, choices):
        asked.append((name, default, choices))
        return "Apache-2.0"

    result = update_project(project, checkout="v2", no_input=False, ask=ask)

    assert asked == [("license", "MIT", ["MIT", "Apache-2.0"])]
    assert result.asked == {"license": "Apache-2.0"} and result.defaulted == {}
    assert record_of(project)["context"]["license"] == "Apache-2.0"


def test_set_of_unknown_question_is_refused(tmp_path, make_template):
    tpl = _new_question_template(tmp_path, make_template)
    project = generate(tpl, "v1")

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--set", "nope=1", cwd=project)

    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["cookiepatcher: error: --set nope: the template has no such question; check "
                                        "the name against its cookiecutter.json"]
    assert status(project) == ""



def test_set_answer_that_is_no_character_is_refused_by_the_api_too(tmp_path, make_template):
    """(The command line refuses it when parsing --set; a caller of update_project may not.)"""
    tpl = _new_question_template(tmp_path, make_template)
    project = generate(tpl, "v1")

    with pytest.raises(CookiepatcherError, match="--set project_name: the answer is not UTF-8 text"):
        update_project(project, checkout="v2", set_answers={"project_name": "a\udcff"})
    assert status(project) == ""


HOOK_V1 = 'import os\n\nif "{{ cookiecutter.use_docker }}" == "no":\n    os.remove("Dockerfile")\n'
HOOK_V2 = HOOK_V1 + '    os.remove("docker-compose.yml")\n'


def test_hooks_removing_files_run_on_both_renders(tmp_path, make_template):
    ctx = {**LICENSE_CTX, "use_docker": ["no", "yes"]}
    del ctx["license"]
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README, "Dockerfile": "FROM python:3.11-slim\n",
               "docker-compose.yml": "services:\n  app:\n    build: .\n",
               "/hooks/post_gen_project.py": HOOK_V1},
        "v2": {"Dockerfile": "FROM python:3.12-slim\nRUN pip install .\n", "/hooks/post_gen_project.py": HOOK_V2},
    }, cookiecutter_json=ctx)
    project = generate(tpl, "v1")
    assert not (project / "Dockerfile").exists()
    user_dockerfile = b'FROM alpine:3.19\nCMD ["echo", "user image"]\n'
    write(project / "Dockerfile", user_dockerfile)
    commit_all(project, "own image")

    result = update_project(project, checkout="v2")

    assert (project / "Dockerfile").read_bytes() == user_dockerfile
    assert not (project / "docker-compose.yml").exists()
    assert outcomes(result) == {"docker-compose.yml": "deleted"}
    assert unmerged(project) == {}


def test_hooks_see_the_render_mode(tmp_path, make_template):
    hook = 'import os\nopen("mode.txt", "w").write(os.environ.get("COOKIEPATCHER_RENDER", "unset") + "\\n")\n'
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "/hooks/post_gen_project.py": hook},
                                   "v2": {"README.md": README + "\nv2\n"}})
    project = generate(tpl, "v1")
    assert (project / "mode.txt").read_text() == "create\n"
    write(project / "mode.txt", "user\n")
    commit_all(project, "user mode")

    update_project(project, checkout="v2")

    # both upgrade renders say "upgrade": the file is unchanged between them, the user's bytes stay
    assert (project / "mode.txt").read_text() == "user\n"
    assert unmerged(project) == {}


GIT_INIT_HOOK = '''import subprocess

def git(*args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], check=True)

git("init", "-q")
git("add", "-A")
git("commit", "-q", "-m", "initial commit from template")
'''


def test_hook_running_git_init_in_the_render_is_ignored(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "/hooks/post_gen_project.py": GIT_INIT_HOOK},
                                   "v2": {"README.md": README + "\nRun `make test` before pushing.\n"}})
    project = generate(tpl, "v1", init_git=False)
    # the hook made a repository at create time: the user keeps it as the project's own
    commit_all(project, "generated")
    write(project / "src/main.py", "print('hello')\n")
    commit_all(project, "main")
    head = git(project, "rev-parse", "HEAD").strip()
    count = git(project, "rev-list", "--count", "HEAD").strip()

    result = update_project(project, checkout="v2")

    assert result.exit_code == 0
    assert (project / "README.md").read_text().endswith("\nRun `make test` before pushing.\n")
    assert git(project, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(project, "rev-parse", "HEAD").strip() == head
    assert git(project, "rev-list", "--count", "HEAD").strip() == count
    git(project, "fsck", "--no-progress")
    nested = [p for p in project.rglob(".git") if p != project / ".git"]
    assert nested == []
    assert sorted(status(project).splitlines()) == ["M  README.md", "M  cookiepatcher.json"]


def test_untracked_files_elsewhere_do_not_block_and_stay(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "docs/usage.md": "# Usage\n"},
                                   "v2": {"docs/usage.md": "# Usage\n\nUse --help.\n", "docs/new.md": "new\n"}})
    project = generate(tpl, "v1")
    write(project / "scratch/notes.txt", "remember\n")
    write(project / "build.log", b"partial\x00output\n")
    write(project / "docs/draft.md", "draft\n")

    result = update_project(project, checkout="v2")

    assert result.exit_code == 0
    assert (project / "docs/usage.md").read_text() == "# Usage\n\nUse --help.\n"
    assert (project / "scratch/notes.txt").read_text() == "remember\n"
    assert (project / "build.log").read_bytes() == b"partial\x00output\n"
    assert (project / "docs/draft.md").read_text() == "draft\n"
    assert "?? docs/draft.md" in status(project).splitlines()


def test_untracked_file_identical_to_new_template_file_does_not_block(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"NEW.md": "same\n"}})
    project = generate(tpl, "v1")
    write(project / "NEW.md", "same\n")

    result = update_project(project, checkout="v2")

    assert outcomes(result) == {"NEW.md": "added"}
    assert "A  NEW.md" in status(project).splitlines()


def test_project_in_monorepo_subfolder_updates_only_its_folder(tmp_path, make_template):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README, "app.txt": "base\n", "old.txt": "old\n"},
        "v2": {"README.md": README + "\nv2 line\n", "app.txt": "template\n", "old.txt": None, "new.txt": "new\n"},
    })
    mono = tmp_path / "mono"
    write(mono / "README.md", "# enclosing monorepo\n")
    write(mono / "other/README.md", "# Demo Project\n\nA project generated from the demo template.\n")
    write(mono / "other/old.txt", "old\n")
    write(mono / "new.txt", "top-level file with a template file's name\n")
    git(mono, "init", "-q", "-b", "main")
    project = generate(tpl, "v1", output_dir=mono / "services", init_git=False)
    commit_all(mono, "monorepo")
    write(project / "app.txt", "user\n")
    commit_all(mono, "user edit")
    outside = {p: p.read_bytes() for p in (mono / "README.md", mono / "other/README.md", mono / "other/old.txt",
                                           mono / "new.txt")}

    result = update_project(project, checkout="v2")

    for path, data in outside.items():
        assert path.read_bytes() == data, path
    assert (project / "README.md").read_text().endswith("\nv2 line\n")
    assert not (project / "old.txt").exists()
    assert (project / "new.txt").read_text() == "new\n"
    assert set(unmerged(mono)) == {"services/demo_project/app.txt"}
    assert "<<<<<<< " in (project / "app.txt").read_text()
    assert outcomes(result) == {"README.md": "updated", "app.txt": "conflicted", "new.txt": "added",
                                "old.txt": "deleted"}
    changed = {line[3:] for line in status(mono).splitlines()}
    assert all(p.startswith("services/demo_project/") for p in changed), changed
    assert record_of(project)["commit"] == tpl.sha("v2")


def test_the_advice_to_drop_a_conflicted_update_keeps_edits_outside_the_project(tmp_path, make_template):
    """The clean check covers the project folder only: the printed way back must not
    drop the monorepo's other uncommitted edits (`git reset --hard` would)."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "app.txt": "base\n"},
                                   "v2": {"README.md": README, "app.txt": "template\n", "new.txt": "new\n"}})
    mono = tmp_path / "mono"
    write(mono / "top.txt", "top\n")
    git(mono, "init", "-q", "-b", "main")
    project = generate(tpl, "v1", output_dir=mono / "services", init_git=False)
    write(project / "app.txt", "user\n")
    commit_all(mono, "monorepo")
    write(mono / "top.txt", "top\nuncommitted\n")

    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)
    assert proc.returncode == 1
    advice = proc.stderr.split("(or `", 1)[1].split("`", 1)[0]
    assert advice == "git reset --merge"
    git(mono, *advice.split()[1:])

    assert status(mono).strip() == "M top.txt" and (mono / "top.txt").read_text() == "top\nuncommitted\n"
    assert not (project / "new.txt").exists() and (project / "app.txt").read_text() == "user\n"


def test_skip_patterns_keep_paths_unchanged_and_are_reported(tmp_path, make_template):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README, "docs/index.md": "# Docs\n", "docs/old.md": "old\n"},
        "v2": {"README.md": README + "\nv2\n", "docs/index.md": "# Docs v2\n", "docs/old.md": None,
               "docs/new.md": "new\n"},
    })
    project = generate(tpl, "v1")
    rec = record_of(project)
    rec["skip"] = ["docs/"]
    write(project / "cookiepatcher.json", json.dumps(rec, indent=2, sort_keys=True) + "\n")
    commit_all(project, "skip docs")

    result = update_project(project, checkout="v2")

    assert (project / "docs/index.md").read_text() == "# Docs\n"
    assert (project / "docs/old.md").read_text() == "old\n"
    assert not (project / "docs/new.md").exists()
    assert (project / "README.md").read_text().endswith("\nv2\n")
    assert outcomes(result) == {"README.md": "updated", "docs/index.md": "skipped", "docs/new.md": "skipped",
                                "docs/old.md": "skipped"}
    assert record_of(project)["skip"] == ["docs/"]
    assert [ln for ln in status(project).splitlines() if "docs" in ln] == []


def test_random_and_now_do_not_cause_spurious_changes(tmp_path, make_template):
    # values differ between create (really random) and the upgrade renders (seeded, same on
    # both sides), so the project's lines count as its own edits: a template change a few
    # lines away must merge cleanly and keep the project's values
    head = "# settings\nimport os\n\nNAME = '{{ cookiecutter.project_name }}'\n\n"
    secrets = "SECRET_KEY = '{{ random_ascii_string(12) }}'\nID = '{{ uuid4() }}'\nGENERATED = '{% now 'utc', '%Y-%m-%dT%H:%M:%S.%f' %}'\n"
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README, "settings.py": head + secrets},
        "v2": {"README.md": README + "\nv2\n", "settings.py": "# v2\n" + head + secrets},
    })
    project = generate(tpl, "v1")
    created = (project / "settings.py").read_text()
    assert "{{" not in created and "{%" not in created

    result = update_project(project, checkout="v2")

    assert (project / "settings.py").read_text() == "# v2\n" + created
    assert unmerged(project) == {}
    assert outcomes(result) == {"README.md": "updated", "settings.py": "updated"}


def test_random_values_unchanged_file_is_not_touched(tmp_path, make_template):
    tpl = make_template(tmp_path, {
        "v1": {"README.md": README, "key.txt": "{{ random_ascii_string(16) }}\n{% now 'utc' %}\n"},
        "v2": {"README.md": README + "\nv2\n"},
    })
    project = generate(tpl, "v1")
    key = (project / "key.txt").read_bytes()

    result = update_project(project, checkout="v2")

    assert (project / "key.txt").read_bytes() == key
    assert outcomes(result) == {"README.md": "updated"}


def test_template_moved_to_new_directory(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README}}, directory="tpl")
    project = generate(tpl, "v1")
    assert record_of(project)["directory"] == "tpl"
    (tpl.path / "templates").mkdir()
    git(tpl.path, "mv", "tpl", "templates/python")
    tpl.directory = "templates/python"
    tpl.add_version("v2", {"README.md": README + "\nmoved\n"})

    result = update_project(project, checkout="v2", directory="templates/python")

    assert result.exit_code == 0
    assert (project / "README.md").read_text().endswith("\nmoved\n")
    assert record_of(project)["directory"] == "templates/python"


def test_dry_run_reports_and_changes_nothing(tmp_path, make_template):
    from conftest import snapshot

    tpl = make_template(tmp_path, {"v1": {"README.md": README, "gone.txt": "x\n"},
                                   "v2": {"README.md": README + "\nv2 line\n", "gone.txt": None, "new.txt": "n\n"}})
    project = generate(tpl, "v1")
    before = snapshot(project)

    result = update_project(project, checkout="v2", dry_run=True)

    assert snapshot(project) == before
    assert result.dry_run
    assert outcomes(result) == {"README.md": "updated", "gone.txt": "deleted", "new.txt": "added"}
    assert "+v2 line" in result.diff and "new.txt" in result.diff


@pytest.mark.parametrize("style", ["merge", "zdiff3"])
def test_conflict_style_from_git_config_is_respected(tmp_path, make_template, style):
    tpl = make_template(tmp_path, {"v1": {"a.txt": "one\n"}, "v2": {"a.txt": "template\n"}})
    project = generate(tpl, "v1")
    git(project, "config", "merge.conflictStyle", style)
    write(project / "a.txt", "user\n")
    commit_all(project, "user")

    update_project(project, checkout="v2")

    text = (project / "a.txt").read_text()
    assert ("|||||||" in text) == (style != "merge"), text
    assert os.path.exists(project / "a.txt")


def test_set_alone_rerenders_with_the_new_answer(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "a.txt": "{{ cookiecutter.project_name }}\n"}})
    project = generate(tpl, "v1")
    with open(project / "README.md", "a") as fh:
        fh.write("\nlocal\n")
    commit_all(project, "local")

    result = update_project(project, set_answers={"project_name": "New Name"})

    assert not result.up_to_date
    assert (project / "README.md").read_text() == "# New Name\n\nA project generated from the demo template.\n\nlocal\n"
    assert (project / "a.txt").read_text() == "New Name\n"
    assert record_of(project)["context"]["project_name"] == "New Name"
    assert record_of(project)["commit"] == tpl.sha("v1")


def test_set_alone_is_reported_at_the_template_commit(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "a.txt": "{{ cookiecutter.project_name }}\n"}})
    project = generate(tpl, "v1")

    proc = run_cli("update", "--set", "project_name=New Name", "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"updated at template commit {tpl.sha('v1')[:12]}", "  updated       README.md",
                                        "  updated       a.txt"]


def test_set_coerces_to_the_recorded_type(tmp_path, make_template):
    ctx = {"project_name": "Demo Project", "project_slug": "demo_project", "use_docker": False}
    tpl = make_template(tmp_path, {"v1": {
        "x.txt": "{% if cookiecutter.use_docker %}docker{% else %}none{% endif %}\n"}},
        cookiecutter_json=ctx)
    project = generate(tpl, "v1")
    assert (project / "x.txt").read_text() == "none\n"
    assert record_of(project)["context"]["use_docker"] is False

    proc = run_cli("update", "--set", "use_docker=yes", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert (project / "x.txt").read_text() == "docker\n"
    assert record_of(project)["context"]["use_docker"] is True


def test_symlink_made_by_hook_inside_the_project_lands_as_symlink(tmp_path, make_template):
    hook = "import os\nos.symlink('README.md', 'LINK.md')\n"
    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"/hooks/post_gen_project.py": hook}})
    project = generate(tpl, "v1")

    result = update_project(project, checkout="v2")

    assert os.readlink(project / "LINK.md") == "README.md"
    assert git(project, "ls-files", "-s", "LINK.md").startswith("120000 ")
    assert outcomes(result) == {"LINK.md": "added"}


def test_changes_outside_the_project_folder_do_not_block_and_survive(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"a.txt": "a\n"}, "v2": {"a.txt": "b\n"}})
    mono = tmp_path / "mono"
    write(mono / "x.txt", "x\n")
    git(mono, "init", "-q")
    project = generate(tpl, "v1", output_dir=mono / "svc", init_git=False)
    commit_all(mono, "mono")
    write(mono / "x.txt", "dirty\n")
    write(mono / "y.txt", "staged\n")
    git(mono, "add", "y.txt")

    update_project(project, checkout="v2")

    assert (mono / "x.txt").read_text() == "dirty\n"
    lines = status(mono).splitlines()
    assert " M x.txt" in lines and "A  y.txt" in lines and "M  svc/demo_project/a.txt" in lines


@pytest.mark.parametrize("expr", ["cookiecutter | jsonify", "cookiecutter._output_dir", "cookiecutter._repo_dir"])
def test_render_locations_in_the_context_cause_no_spurious_conflict(tmp_path, make_template, expr):
    # the hook makes the update render the whole template (no incremental shortcut)
    tpl = make_template(tmp_path, {"v1": {"context.txt": "{{ %s }}\n" % expr, "README.md": README,
                                          "/hooks/post_gen_project.py": "print('generated')\n"}})
    project = generate(tpl, None)
    context_file = (project / "context.txt").read_bytes()
    tpl.add_version("v2", {"README.md": README + "\nv2\n"})

    result = update_project(project)

    assert outcomes(result) == {"README.md": "updated"}
    assert (project / "context.txt").read_bytes() == context_file


def test_changed_local_extension_is_used_for_the_target_render(tmp_path, make_template):
    ext = ("from jinja2.ext import Extension\n\nclass Shout(Extension):\n    def __init__(self, environment):\n"
           "        super().__init__(environment)\n        environment.filters['shout'] = lambda v: v.upper() + %r\n")
    ctx = {"project_name": "Demo Project", "project_slug": "demo_project", "_extensions": ["local_ext.Shout"]}
    tpl = make_template(tmp_path, {
        "v1": {"/local_ext.py": ext % "", "README.md": "{{ cookiecutter.project_name | shout }}\n"},
        "v2": {"/local_ext.py": ext % "!"},
    }, cookiecutter_json=ctx)
    project = generate(tpl, "v1")
    assert (project / "README.md").read_text() == "DEMO PROJECT\n"

    update_project(project, checkout="v2")

    assert (project / "README.md").read_text() == "DEMO PROJECT!\n"


@pytest.mark.parametrize("full", ["0", "1"], ids=["incremental", "full"])
def test_followed_ref_change_reaches_files_using_checkout(tmp_path, make_template, monkeypatch, full):
    monkeypatch.setenv("COOKIEPATCHER_FULL_RENDER", full)
    tpl = make_template(tmp_path, {"v1": {"ref.txt": "template ref: {{ cookiecutter._checkout }}\n", "README.md": README},
                                   "v2": {"README.md": README + "\nv2\n"}})
    project = generate(tpl, "v1")
    assert (project / "ref.txt").read_text() == "template ref: v1\n"

    update_project(project, checkout="v2")

    assert (project / "ref.txt").read_text() == "template ref: v2\n"


@pytest.mark.parametrize("full", ["0", "1"], ids=["incremental", "full"])
def test_template_symlink_to_a_changed_file_follows_it(tmp_path, make_template, monkeypatch, full):
    monkeypatch.setenv("COOKIEPATCHER_FULL_RENDER", full)
    tpl = make_template(tmp_path, {
        "v1": {"LICENSE": "MIT {{ cookiecutter.project_name }}\n", "docs/LICENSE": "symlink:../LICENSE"},
        "v2": {"LICENSE": "Apache {{ cookiecutter.project_name }}\n"},
    })
    project = generate(tpl, "v1")
    assert (project / "docs/LICENSE").read_text() == "MIT Demo Project\n"  # cookiecutter copies the target

    update_project(project, checkout="v2")

    assert (project / "LICENSE").read_text() == "Apache Demo Project\n"
    assert (project / "docs/LICENSE").read_text() == "Apache Demo Project\n"


def test_random_value_written_by_a_hook_causes_no_spurious_conflict(tmp_path, make_template):
    hook = ("import secrets\ntext = open('.env').read().replace('CHANGEME', secrets.token_hex(8))\n"
            "open('.env', 'w').write(text)\n")
    tpl = make_template(tmp_path, {"v1": {".env": "NAME={{ cookiecutter.project_slug }}\nSECRET_KEY=CHANGEME\n",
                                          "README.md": README, "/hooks/post_gen_project.py": hook}})
    project = generate(tpl, None)
    env_file = (project / ".env").read_bytes()
    tpl.add_version("v2", {"README.md": README + "\nv2\n"})

    result = update_project(project)

    assert outcomes(result) == {"README.md": "updated"}
    assert (project / ".env").read_bytes() == env_file


def _blob(repo, spec: str) -> bytes:
    """The raw bytes of ``git cat-file blob SPEC`` (the text helper would hide CRLF)."""
    import subprocess

    return subprocess.run(["git", "cat-file", "blob", spec], cwd=repo, capture_output=True, check=True).stdout


def test_changed_files_are_stored_as_git_add_would_under_the_repositorys_attributes(tmp_path, make_template):
    """The render only sees the template's own .gitattributes; a monorepo's root
    ``* text=auto`` (outside the project folder) must still normalize what the upgrade
    stores, or the file shows as modified right after the update."""
    tpl = make_template(tmp_path, {"v1": {"run.bat": b"@echo off\r\necho v1\r\n", "a.txt": "a\n"},
                                   "v2": {"run.bat": b"@echo off\r\necho v2\r\n", "a.txt": "a\nb\n"}})
    mono = tmp_path / "mono"
    mono.mkdir()
    git(mono, "init", "-q")
    write(mono / ".gitattributes", "* text=auto\n")
    project = generate(tpl, "v1", output_dir=mono / "services", init_git=False)
    commit_all(mono, "monorepo with a generated service")
    lf = b"@echo off\necho v1\n"
    assert _blob(mono, f"HEAD:services/{project.name}/run.bat") == lf  # git add normalized it

    result = update_project(project, checkout="v2")
    assert result.exit_code == 0
    assert _blob(mono, f":services/{project.name}/run.bat") == b"@echo off\necho v2\n"
    assert sorted(status(mono).splitlines()) == [f"M  services/{project.name}/{name}" for name in ("a.txt", "cookiepatcher.json", "run.bat")]


@pytest.mark.parametrize("where", ["template-changes-a-crlf-file", "template-adds-a-crlf-file"])
def test_the_users_own_gitattributes_apply_to_the_renders(tmp_path, make_template, where):
    """A service whose user added ``* text=auto``: its files are stored with LF endings,
    so renders must be too, or every CRLF template file looks edited by the user (a
    conflict when the template changes it) or is stored unlike ``git add`` would."""
    v1 = {"a.txt": "a\n"}
    if where == "template-changes-a-crlf-file":
        v1["run.bat"] = b"@echo off\r\necho v1\r\n"
    tpl = make_template(tmp_path, {"v1": v1, "v2": {"run.bat": b"@echo off\r\necho v2\r\n"}})
    project = generate(tpl, "v1", init_git=False)
    git(project, "init", "-q", "-b", "main")
    write(project / ".gitattributes", "* text=auto\n")
    commit_all(project, "generated, with the team's attributes")

    result = update_project(project, checkout="v2")
    assert result.exit_code == 0, result.conflicts
    assert _blob(project, ":run.bat") == b"@echo off\necho v2\n"
    assert "run.bat" not in git(project, "diff", "--name-only")  # worktree and index agree
    assert git(project, "ls-files", "--", ".gitattributes").strip() == ".gitattributes"
    assert (project / ".gitattributes").read_text() == "* text=auto\n"


@pytest.mark.parametrize("conflict", [False, True])
def test_a_sha256_repository_is_updated_like_a_sha1_one(conflict, tmp_path, make_template):
    """git's sha256 object format (``git init --object-format=sha256``): the merge inputs,
    the index lines and the cached blobs all use the project's object ids."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README, "a.txt": "1\n", "gone.txt": "x\n"},
                                   "v2": {"README.md": README + "\nv2 line\n", "a.txt": "2\n", "gone.txt": None,
                                          "new.txt": "new\n"}})
    # a sha1 project of the same template first: its cached renders must not serve the sha256 one
    sha1_project = generate(tpl, "v1", output_dir=tmp_path / "sha1")
    git(sha1_project, "config", "core.repositoryformatversion", "1")  # as in a partial clone: same core.* settings
    assert update_project(sha1_project, checkout="v2").exit_code == 0
    project = generate(tpl, "v1", init_git=False)
    git(project, "init", "-q", "-b", "main", "--object-format=sha256")
    commit_all(project, "generated")
    if conflict:
        write(project / "a.txt", "mine\n")
        commit_all(project, "edit")
    for run in ("first", "cached"):  # the second run takes both renders from the render cache
        if run == "cached":
            git(project, "reset", "-q", "--hard")
            git(project, "clean", "-qfd")
        result = update_project(project, checkout="v2")
        assert result.exit_code == (1 if conflict else 0)
        assert (project / "new.txt").read_text() == "new\n" and not (project / "gone.txt").exists()
        assert (project / "README.md").read_text().endswith("v2 line\n")
        if conflict:
            assert "<<<<<<<" in (project / "a.txt").read_text() and unmerged(project)
        assert len(git(project, "rev-parse", "HEAD").strip()) == 64
        git(project, "fsck", "--no-dangling")


def test_render_code_loads_while_the_template_is_cloned_and_no_thread_outlives_the_update(tmp_path, make_template,
                                                                                          monkeypatch):
    import shutil
    import sys
    import threading
    from pathlib import Path

    from cookiepatcher import create_project, render

    tpl = make_template(tmp_path, {"v1": {"README.md": README}, "v2": {"README.md": README + "\nv2 line\n"}})
    project = create_project(tpl.url, checkout="v1", no_input=True, output_dir=tmp_path / "out")
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "generated")
    shutil.rmtree(Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "mirrors")  # the update clones again
    started = []
    real_start = render.Preloader.start
    monkeypatch.setattr(render.Preloader, "start", lambda self: started.append(1) or real_start(self))
    interval = sys.getswitchinterval()

    result = update_project(project, checkout="v2")

    assert started == [1]
    assert [t for t in threading.enumerate() if t.name == "cookiepatcher-preload"] == []
    assert sys.getswitchinterval() == interval
    assert outcomes(result) == {"README.md": "updated"} and (project / "README.md").read_text().endswith("v2 line\n")


def test_a_template_directory_spelled_dot_slash_keeps_each_projects_output_dir(tmp_path):
    """Two projects from one template (``--directory ./sub``) in different folders: the
    template reads ``_output_dir``, so their renders must not be shared (found by a
    review: the scan once missed the read for that spelling)."""
    tpl = tmp_path / "tpl"
    write(tpl / "sub" / "cookiecutter.json", '{"name": "p"}')
    write(tpl / "sub" / "{{cookiecutter.name}}" / "where.txt", "{{ cookiecutter._output_dir }}\n")
    write(tpl / "sub" / "{{cookiecutter.name}}" / "other.txt", "hi\n")
    git(tpl, "init", "-q")
    commit_all(tpl, "v1")
    projects = []
    for name in ("A", "B"):
        (tmp_path / name).mkdir()
        assert run_cli("create", tpl, "--directory", "./sub", "--no-input", cwd=tmp_path / name).returncode == 0
        project = tmp_path / name / "p"
        git(project, "init", "-q")
        commit_all(project, "generated")
        projects.append(project)
    write(tpl / "sub" / "{{cookiecutter.name}}" / "where.txt", "at {{ cookiecutter._output_dir }}\n")
    commit_all(tpl, "v2")
    for project in projects:
        proc = run_cli("update", cwd=project)
        assert proc.returncode == 0, proc.stderr
        assert (project / "where.txt").read_text() == f"at {project.parent}\n"


def test_a_crlf_conflict_names_the_template_version_in_its_diff3_base_marker(tmp_path, make_template):
    """The base section's marker names the template version, not the throwaway merge
    base, in CRLF files too (their marker line ends in ``\\r``)."""
    tpl = make_template(tmp_path, {"v1": {"a.txt": b"one\r\n"}, "v2": {"a.txt": b"template\r\n"}})
    project = generate(tpl, "v1")
    git(project, "config", "merge.conflictStyle", "diff3")
    write(project / "a.txt", b"user\r\n")
    commit_all(project, "user")

    assert update_project(project, checkout="v2").exit_code == 1

    lines = (project / "a.txt").read_bytes().split(b"\n")
    base = [line for line in lines if line.startswith(b"|||||||")]
    assert base == [b"||||||| template-" + tpl.sha("v1")[:12].encode() + b"\r"], lines


def test_an_update_to_an_empty_template_commit_is_a_clean_error(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"a.txt": "one\n"}})
    project = generate(tpl, "v1")
    git(tpl.path, "rm", "-rq", ".")
    git(tpl.path, "commit", "-qm", "archived")
    git(tpl.path, "tag", "v2")

    with pytest.raises(CookiepatcherError, match="no cookiecutter.json at target"):
        update_project(project, checkout="v2")


def test_an_update_leaves_no_git_process_behind(tmp_path, make_template):
    """Processes started ahead (the project's settings, the die-with-parent probe, a new
    mirror's settings) are collected on every way out: up to date, updated, refused."""
    import subprocess
    import sys

    tpl = make_template(tmp_path, {"v1": {"a.txt": "one\n"}, "v2": {"a.txt": "two\n"}})
    project = generate(tpl, "v1")
    record = record_of(project)
    record["template"] = tpl.url  # a remote template: a new mirror is cloned
    write(project / "cookiepatcher.json", json.dumps(record, indent=2) + "\n")
    commit_all(project, "served through the cache")
    code = ("import os, sys\nfrom cookiepatcher.update import update_project\nfrom cookiepatcher.errors import CookiepatcherError\n"
            "for ref in ('v1', 'v2', 'nowhere'):\n"
            "    try:\n        update_project(sys.argv[1], checkout=ref)\n    except CookiepatcherError:\n        pass\n"
            "    try:\n        print(ref, os.waitpid(-1, os.WNOHANG))\n    except ChildProcessError:\n        print(ref, 'none')\n")
    env = {**os.environ, "COOKIEPATCHER_CACHE_DIR": str(tmp_path / "fresh-cache")}
    out = subprocess.run([sys.executable, "-c", code, str(project)], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split("\n")[:3] == ["v1 none", "v2 none", "nowhere none"], out.stdout + out.stderr
