"""``cookiepatcher link``: adopting a project that has no (current) record.

Answers come from KEY=VALUE, ``.cruft.json``, the original cookiepatcher format
``{"template", "revision", "variables"}``, then defaults; the commit is ``--commit`` or
detected as the template commit whose render matches the project best.
"""
from __future__ import annotations

import json

import pytest
from conftest import commit_all, generate, git, record_of, run_cli, status, write

from cookiepatcher import link_project, update_project

README = "# {{ cookiecutter.project_name }}\n"


@pytest.fixture()
def tpl(tmp_path, make_template):
    """Four versions whose renders all differ (v2 and v3 differ in one line only)."""
    return make_template(tmp_path, {
        "v1": {"README.md": README, "app.py": "print('{{ cookiecutter.project_slug }}')\n"},
        "v2": {"setup.cfg": "[metadata]\nname = {{ cookiecutter.project_slug }}\n"},
        "v3": {"setup.cfg": "[metadata]\nname = {{ cookiecutter.project_slug }}\nversion = 1\n"},
        "v4": {"app.py": "print('hello from {{ cookiecutter.project_slug }}')\n", "CHANGES.md": "- v4\n"},
    })


def _unrecorded(tpl, ref, answers=None):
    """A committed project generated at ``ref`` whose record was removed."""
    project = generate(tpl, ref, answers, init_git=False)
    (project / "cookiepatcher.json").unlink()
    git(project, "init", "-q")
    commit_all(project, "existing project")
    return project


def test_link_detects_the_commit_among_several_and_takes_answers(tpl):
    project = _unrecorded(tpl, "v2", {"project_name": "Widget Factory"})

    proc = run_cli("link", tpl.location, "project_name=Widget Factory", "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert "0 differing lines" in proc.stdout
    rec = record_of(project)
    assert rec["commit"] == tpl.sha("v2")
    assert rec["context"] == {"project_name": "Widget Factory", "project_slug": "widget_factory"}
    assert rec["template"] == tpl.location and rec["checkout"] is None
    raw = (project / "cookiepatcher.json").read_text()
    assert raw == json.dumps(json.loads(raw), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("ref", ["v1", "v3", "v4"])
def test_link_detection_picks_the_matching_version(tpl, ref):
    project = _unrecorded(tpl, ref)

    record, distance = link_project(project, tpl.location)

    assert record.commit == tpl.sha(ref)
    assert distance == 0


def test_link_detection_tolerates_user_edits(tpl):
    project = _unrecorded(tpl, "v3")
    with open(project / "README.md", "a") as fh:
        fh.write("\nlocal docs\n")
    commit_all(project, "docs")

    record, distance = link_project(project, tpl.location)

    assert record.commit == tpl.sha("v3")
    assert distance == 2  # the two added lines


def test_link_explicit_commit(tpl):
    project = _unrecorded(tpl, "v2")

    proc = run_cli("link", tpl.location, "--commit", tpl.sha("v1")[:10], "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert record_of(project)["commit"] == tpl.sha("v1")  # expanded to the full sha


def test_link_unknown_commit_is_refused(tpl):
    project = _unrecorded(tpl, "v2")

    proc = run_cli("link", tpl.location, "--commit", "0" * 40, "--no-input", cwd=project)

    assert proc.returncode == 2 and "--commit" in proc.stderr
    assert not (project / "cookiepatcher.json").exists()


def test_link_without_template_is_refused(tmp_path):
    write(tmp_path / "p/README.md", "x\n")
    proc = run_cli("link", "--no-input", cwd=tmp_path / "p")

    assert proc.returncode == 2 and "TEMPLATE" in proc.stderr


def test_link_from_cruft_record(tpl):
    project = _unrecorded(tpl, "v2", {"project_name": "Widget Factory"})
    cruft = {
        "template": tpl.location,
        "commit": tpl.sha("v2"),
        "checkout": None,
        "context": {"cookiecutter": {"project_name": "Widget Factory", "project_slug": "widget_factory",
                                     "_template": tpl.location, "_commit": tpl.sha("v2")}},
        "directory": None,
        "skip": [".git", "docs/"],
    }
    write(project / ".cruft.json", json.dumps(cruft, indent=4))
    commit_all(project, "cruft")

    proc = run_cli("link", "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    rec = record_of(project)
    assert rec["template"] == tpl.location and rec["commit"] == tpl.sha("v2")
    assert rec["context"] == {"project_name": "Widget Factory", "project_slug": "widget_factory"}
    assert rec["skip"] == [".git", "docs/"]


def test_relink_keeps_the_current_record_over_a_stale_cruft_record(tpl):
    """The way out for rewritten template history is `link --commit`: it must keep the
    current answers, checkout and skip, not those of a .cruft.json left from before."""
    project = generate(tpl, "v2", {"project_name": "Widget Factory"})
    write(project / ".cruft.json", json.dumps({"template": tpl.location, "commit": tpl.sha("v1"), "checkout": None,
                                               "context": {"cookiecutter": {"project_name": "Old Name"}}, "skip": []}))
    rec = record_of(project)
    rec.update(skip=["docs/"], checkout="v2")
    write(project / "cookiepatcher.json", json.dumps(rec))
    commit_all(project, "stale cruft record beside the current one")

    proc = run_cli("link", tpl.location, "--commit", tpl.sha("v2"), "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    new = record_of(project)
    assert new["context"]["project_name"] == "Widget Factory" and new["skip"] == ["docs/"] and new["checkout"] == "v2"


def test_link_from_original_cookiepatcher_format(tpl):
    project = _unrecorded(tpl, "v3", {"project_name": "Widget Factory"})
    old = {"template": tpl.location, "revision": tpl.sha("v3"),
           "variables": {"project_name": "Widget Factory", "project_slug": "widget_factory"}}
    write(project / "cookiepatcher.json", json.dumps(old))
    commit_all(project, "old record")

    proc = run_cli("link", "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    rec = record_of(project)
    assert set(rec) == {"template", "commit", "checkout", "context", "directory"}
    assert rec["commit"] == tpl.sha("v3")
    assert rec["context"] == {"project_name": "Widget Factory", "project_slug": "widget_factory"}


def test_key_value_answers_override_imported_ones(tpl):
    project = _unrecorded(tpl, "v1", {"project_name": "Gadget"})
    old = {"template": tpl.location, "revision": tpl.sha("v1"),
           "variables": {"project_name": "Widget Factory", "project_slug": "widget_factory"}}
    write(project / "cookiepatcher.json", json.dumps(old))

    record, _ = link_project(project, None, answers={"project_name": "Gadget", "project_slug": "gadget"})

    assert record.context == {"project_name": "Gadget", "project_slug": "gadget"}


def test_linked_project_updates_cleanly(tpl):
    project = _unrecorded(tpl, "v2", {"project_name": "Widget Factory"})
    with open(project / "README.md", "a") as fh:
        fh.write("\nlocal docs\n")
    commit_all(project, "local")
    assert run_cli("link", tpl.location, "project_name=Widget Factory", "--no-input", cwd=project).returncode == 0
    commit_all(project, "link")

    result = update_project(project)

    assert result.from_commit == tpl.sha("v2") and result.to_commit == tpl.sha("v4")
    assert (project / "app.py").read_text() == "print('hello from widget_factory')\n"
    assert (project / "README.md").read_text() == "# Widget Factory\n\nlocal docs\n"
    assert (project / "setup.cfg").read_text() == "[metadata]\nname = widget_factory\nversion = 1\n"
    assert (project / "CHANGES.md").read_text() == "- v4\n"
    assert result.conflicts == []
    assert "cookiepatcher.json" in status(project)


def test_link_records_a_relative_template_path_as_absolute(tpl, tmp_path):
    project = _unrecorded(tpl, "v1")

    proc = run_cli("link", "../../template", "--checkout", "v1", "--no-input", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert record_of(project)["template"] == str(tpl.path.resolve())
    commit_all(project, "link")
    # the record works from any working directory
    assert run_cli("update", "-p", project, "--checkout", "v2", "--no-input", cwd=tmp_path).returncode == 0
    assert (project / "setup.cfg").exists()


def test_link_in_a_monorepo_subfolder(tpl, tmp_path):
    mono = tmp_path / "mono"
    write(mono / "README.md", "# mono\n")
    git(mono, "init", "-q")
    project = generate(tpl, "v3", output_dir=mono / "svc", init_git=False)
    (project / "cookiepatcher.json").unlink()
    commit_all(mono, "mono")

    record, distance = link_project(project, tpl.location)

    assert (record.commit, distance) == (tpl.sha("v3"), 0)
    assert (project / "cookiepatcher.json").exists() and not (mono / "cookiepatcher.json").exists()


def test_link_detection_in_a_project_without_commits_uses_the_working_tree(tpl):
    project = generate(tpl, "v3", init_git=False)
    (project / "cookiepatcher.json").unlink()
    git(project, "init", "-q")

    record, distance = link_project(project, tpl.location)

    assert (record.commit, distance) == (tpl.sha("v3"), 0)


def test_link_refuses_an_answer_outside_a_choice(tmp_path, make_template):
    """As create and `update --set` refuse it; link recorded it, and updates then used it."""
    tpl = make_template(tmp_path, {"v1": {"README.md": README}},
                        cookiecutter_json={"project_name": "Demo", "project_slug": "demo", "items": ["a", "b"]})
    project = _unrecorded(tpl, "v1")
    proc = run_cli("link", tpl.location, "--no-input", "items=zzz", cwd=project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["cookiepatcher: error: items=zzz: not one of the template's choices (a, b); "
                                        "pick one of them"]
    assert not (project / "cookiepatcher.json").exists()
    assert run_cli("link", tpl.location, "--no-input", "items=b", cwd=project).returncode == 0
    assert record_of(project)["context"]["items"] == "b"
