"""The command line: create, update (bare command too), check, diff; exit codes and output.

Exit codes: 0 done / up to date, 1 conflicts (update) or behind (check), 2 refused or
failed with nothing changed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, generate, git, record_of, run_cli, snapshot, status, unmerged, write

README = "# {{ cookiecutter.project_name }}\n\nA project generated from the demo template.\n"


@pytest.fixture()
def tpl(tmp_path, make_template):
    return make_template(tmp_path, {
        "v1": {"README.md": README, "a.txt": "one\n", "gone.txt": "bye\n"},
        "v2": {"README.md": README + "\nv2 line\n", "a.txt": "template\n", "gone.txt": None, "new.txt": "new\n"},
    })


# -- create -----------------------------------------------------------------------------------

def test_create_writes_record_in_stable_format(tpl, tmp_path):
    out = tmp_path / "out"

    proc = run_cli("create", tpl.location, "--checkout", "v1", "--no-input", "--output-dir", out,
                   "project_name=Widget Factory", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    project = out / "widget_factory"
    raw = (project / "cookiepatcher.json").read_text()
    data = json.loads(raw)
    assert raw == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert data == {
        "checkout": "v1",
        "commit": tpl.sha("v1"),
        "context": {"project_name": "Widget Factory", "project_slug": "widget_factory"},
        "directory": None,
        "template": str(tpl.path.resolve()),
    }
    assert (project / "README.md").read_text() == "# Widget Factory\n\nA project generated from the demo template.\n"
    assert (project / "gone.txt").exists() and not (project / "new.txt").exists()


def test_create_records_relative_template_path_as_absolute(tpl, tmp_path):
    proc = run_cli("create", "template", "--no-input", "--output-dir", "out", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    rec = record_of(tmp_path / "out/demo_project")
    assert rec["template"] == str(tpl.path.resolve())
    assert rec["commit"] == tpl.sha("v2") and rec["checkout"] is None


def test_create_strips_credentials_from_a_url_template(tpl, tmp_path):
    secret_url = "https://deploy:s3cr3t-token@example.invalid/org/template.git"
    git(tmp_path, "config", "--global", f"url.{tpl.url}.insteadOf", secret_url)
    out = tmp_path / "out"

    proc = run_cli("create", secret_url, "--checkout", "v1", "--no-input", "--output-dir", out, cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    rec = record_of(out / "demo_project")
    assert rec["template"] == "https://example.invalid/org/template.git"
    assert rec["commit"] == tpl.sha("v1")
    assert "s3cr3t" not in proc.stdout + proc.stderr
    cache = Path(os.environ["COOKIEPATCHER_CACHE_DIR"])
    leaked = [p for p in list(cache.rglob("*")) + list(out.rglob("*"))
              if p.is_file() and b"s3cr3t" in p.read_bytes()]
    assert leaked == []


def test_create_into_existing_folder_is_refused(tpl, tmp_path):
    generate(tpl, "v1", init_git=False)
    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)

    assert proc.returncode == 2
    assert proc.stderr.startswith(f'cookiepatcher: error: "{tmp_path / "out"}') and "already exists" in proc.stderr
    assert "--output-dir" in proc.stderr and "render failed" not in proc.stderr and "Error:" not in proc.stderr


def test_create_from_a_misspelt_template_folder_says_to_check_it(tpl, tmp_path):
    proc = run_cli("create", tpl.location, "--directory", "nope", "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)

    assert proc.returncode == 2
    assert "folder 'nope' has no cookiecutter.json" in proc.stderr and "check --directory" in proc.stderr
    assert "new location" not in proc.stderr and not (tmp_path / "out").exists()


def test_create_unknown_ref_fails_cleanly(tpl, tmp_path):
    proc = run_cli("create", tpl.location, "--checkout", "v9", "--no-input", "--output-dir", tmp_path / "out",
                   cwd=tmp_path)

    assert proc.returncode == 2
    assert "v9" in proc.stderr and "--checkout" in proc.stderr
    assert not (tmp_path / "out/demo_project").exists()


def test_create_from_non_git_folder_is_refused(tmp_path):
    write(tmp_path / "plain/cookiecutter.json", '{"project_slug": "x"}')
    write(tmp_path / "plain/{{cookiecutter.project_slug}}/a.txt", "a\n")

    proc = run_cli("create", tmp_path / "plain", "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)

    assert proc.returncode == 2 and "git init" in proc.stderr


def test_create_runs_the_pre_prompt_hook_like_cookiecutter(tmp_path, make_template):
    hook = ("import json\nd = json.load(open('cookiecutter.json'))\nd['extra'] = 'from-pre-prompt'\n"
            "json.dump(d, open('cookiecutter.json', 'w'))\n")
    tpl = make_template(tmp_path, {"v1": {"x.txt": "{{ cookiecutter.extra }}\n", "/hooks/pre_prompt.py": hook}})

    proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out/demo_project/x.txt").read_text() == "from-pre-prompt\n"


def test_create_uses_cookiecutter_user_config(tpl, tmp_path):
    cfg = tmp_path / "cookiecutter.yaml"
    cfg.write_text(f"default_context:\n  project_name: From Config\nabbreviations:\n  corp: {tmp_path.as_uri()}/{{0}}\n")

    proc = run_cli("create", "corp:template", "--checkout", "v1", "--no-input", "--config-file", cfg,
                   "--output-dir", tmp_path / "out", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    rec = record_of(tmp_path / "out/from_config")
    assert rec["context"]["project_name"] == "From Config" and rec["commit"] == tpl.sha("v1")


def test_project_created_from_a_config_abbreviation_can_be_checked_and_updated(tpl, tmp_path):
    cfg = tmp_path / "cookiecutter.yaml"
    cfg.write_text(f"abbreviations:\n  corp: {tmp_path.as_uri()}/{{0}}\n")
    env = {"COOKIECUTTER_CONFIG": str(cfg)}
    assert run_cli("create", "corp:template", "--checkout", "v1", "--no-input", "--output-dir", tmp_path / "out",
                   cwd=tmp_path, env=env).returncode == 0
    project = tmp_path / "out/demo_project"
    git(project, "init", "-q")
    commit_all(project, "generated")

    assert run_cli("check", cwd=project, env=env).returncode == 0
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (project / "new.txt").read_text() == "new\n"


# -- update -----------------------------------------------------------------------------------

def test_update_text_output_and_exit_code_with_conflict(tpl):
    project = generate(tpl, "v1")
    write(project / "a.txt", "user\n")
    commit_all(project, "user")

    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)

    assert proc.returncode == 1
    assert f"updated template {tpl.sha('v1')[:12]} -> {tpl.sha('v2')[:12]}" in proc.stdout
    lines = {tuple(line.split()) for line in proc.stdout.splitlines()[1:]}
    assert lines == {("conflicted", "a.txt"), ("updated", "README.md"), ("deleted", "gone.txt"), ("added", "new.txt")}
    assert "1 conflict(s)" in proc.stderr and "a.txt" in proc.stderr
    assert set(unmerged(project)) == {"a.txt"}


def test_update_json_shape(tpl):
    project = generate(tpl, "v1")
    write(project / "a.txt", "user\n")
    commit_all(project, "user")

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--json", cwd=project)

    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["from_commit"] == tpl.sha("v1") and data["to_commit"] == tpl.sha("v2")
    assert data["to_ref"] == "v2" and data["up_to_date"] is False and data["dry_run"] is False
    assert data["files"] == [{"path": "README.md", "status": "updated"}, {"path": "a.txt", "status": "conflicted"},
                             {"path": "gone.txt", "status": "deleted"}, {"path": "new.txt", "status": "added"}]
    assert data["conflicts"] == ["a.txt"]
    assert data["defaulted"] == {} and data["asked"] == {}


def test_update_dry_run_prints_outcomes_and_diff_and_changes_nothing(tpl):
    project = generate(tpl, "v1")
    write(project / "a.txt", "user\n")
    commit_all(project, "user")
    write(project / "untracked.txt", "mine\n")
    before = snapshot(project)

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--dry-run", cwd=project)

    assert snapshot(project) == before
    assert proc.returncode == 1  # it would leave a conflict
    assert "would update" in proc.stdout
    assert "conflicted    a.txt" in proc.stdout and "deleted       gone.txt" in proc.stdout
    assert "+v2 line" in proc.stdout and "diff --git a/new.txt b/new.txt" in proc.stdout
    assert record_of(project)["commit"] == tpl.sha("v1")


def test_update_dry_run_json(tpl):
    project = generate(tpl, "v1")
    before = snapshot(project)

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--dry-run", "--json", cwd=project)

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["dry_run"] is True and data["conflicts"] == []
    assert {f["path"]: f["status"] for f in data["files"]} == {"README.md": "updated", "a.txt": "updated",
                                                               "gone.txt": "deleted", "new.txt": "added"}
    assert snapshot(project) == before


def test_bare_command_in_project_updates(tpl):
    project = generate(tpl, None)  # follows main (= v2)
    tpl.add_version("v3", {"a.txt": "three\n"})

    proc = run_cli(cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert (project / "a.txt").read_text() == "three\n"
    assert record_of(project)["commit"] == tpl.sha("v3")


def test_up_to_date_exits_zero_and_changes_nothing(tpl):
    project = generate(tpl, None)
    before = snapshot(project)

    proc = run_cli(cwd=project)
    json_proc = run_cli("update", "--json", cwd=project)

    assert proc.returncode == 0 and "already up to date" in proc.stdout
    assert json_proc.returncode == 0 and json.loads(json_proc.stdout)["up_to_date"] is True
    assert snapshot(project) == before


def test_update_project_dir_option(tpl, tmp_path):
    project = generate(tpl, "v1")

    proc = run_cli("update", "-p", project, "--checkout", "v2", "--no-input", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert (project / "new.txt").exists()


def test_update_from_remote_template_uses_cache(tpl, tmp_path):
    out = tmp_path / "out"
    assert run_cli("create", tpl.url, "--checkout", "v1", "--no-input", "--output-dir", out).returncode == 0
    project = out / "demo_project"
    git(project, "init", "-q")
    commit_all(project, "generated")
    assert record_of(project)["template"] == tpl.url

    proc = run_cli("update", "--checkout", "v2", "--no-input", "--offline", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert (project / "new.txt").read_text() == "new\n"


# -- check ------------------------------------------------------------------------------------

def test_check_exit_codes(tpl):
    project = generate(tpl, None)
    up = run_cli("check", cwd=project)
    assert up.returncode == 0 and "up to date" in up.stdout

    tpl.add_version("v3", {"a.txt": "three\n"})
    behind = run_cli("check", cwd=project)
    assert behind.returncode == 1
    assert tpl.sha("v3")[:12] in behind.stdout and "cookiepatcher update" in behind.stdout

    write(project / "cookiepatcher.json", "{oops")
    broken = run_cli("check", cwd=project)
    assert broken.returncode == 2 and "not valid JSON" in broken.stderr


def test_check_follows_recorded_tag_and_accepts_checkout(tpl):
    project = generate(tpl, "v1")
    assert run_cli("check", cwd=project).returncode == 0  # v1 has not moved
    assert run_cli("check", "--checkout", "main", cwd=project).returncode == 1


def test_check_needs_no_git_repository(tpl):
    project = generate(tpl, "v2", init_git=False)
    assert run_cli("check", "-p", project).returncode == 0


def test_check_remote_template_through_cache_and_offline(tpl, tmp_path):
    out = tmp_path / "out"
    assert run_cli("create", tpl.url, "--no-input", "--output-dir", out).returncode == 0
    project = out / "demo_project"
    cache = Path(os.environ["COOKIEPATCHER_CACHE_DIR"])
    mirrors = list((cache / "mirrors").glob("*.git"))
    assert len(mirrors) == 1
    assert git(mirrors[0], "rev-parse", "refs/heads/main").strip() == tpl.sha("v2")

    assert run_cli("check", "--offline", cwd=project).returncode == 0  # warm cache, no fetch
    tpl.add_version("v3", {"a.txt": "three\n"})
    assert run_cli("check", "--offline", cwd=project).returncode == 0  # cache not refreshed offline
    assert run_cli("check", cwd=project).returncode == 1  # fetched
    assert run_cli("check", "--offline", cwd=project).returncode == 1  # cache now knows v3

    cold = {"COOKIEPATCHER_CACHE_DIR": str(tmp_path / "cold-cache")}
    proc = run_cli("check", "--offline", cwd=project, env=cold)
    assert proc.returncode == 2
    assert "not in the cache" in proc.stderr and "--offline" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "cold-cache/mirrors").exists() or not list((tmp_path / "cold-cache/mirrors").glob("*.git"))


def test_two_processes_populate_a_cold_cache_concurrently(tpl, tmp_path):
    project = generate(tpl, None, init_git=False)
    rec = record_of(project)
    rec["template"] = tpl.url
    write(project / "cookiepatcher.json", json.dumps(rec, indent=2, sort_keys=True) + "\n")

    procs = [subprocess.Popen([sys.executable, "-m", "cookiepatcher", "check", "-p", str(project)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]

    assert [r[0] for r in results] == [0, 0], results
    mirrors = Path(os.environ["COOKIEPATCHER_CACHE_DIR"]) / "mirrors"
    assert len(list(mirrors.glob("*.git"))) == 1
    assert [p.name for p in mirrors.iterdir() if ".tmp-" in p.name] == []
    mirror = next(mirrors.glob("*.git"))
    git(mirror, "fsck", "--no-progress")
    assert git(mirror, "rev-parse", "refs/heads/main").strip() == tpl.sha("v2")


# -- diff -------------------------------------------------------------------------------------

def test_diff_shows_local_edits_against_the_recorded_render(tpl):
    project = generate(tpl, "v1")
    clean = run_cli("diff", "--exit-code", cwd=project)
    assert clean.returncode == 0 and clean.stdout == ""

    with open(project / "README.md", "a") as fh:
        fh.write("\nMaintained by the platform team.\n")
    commit_all(project, "readme")
    write(project / "a.txt", "uncommitted edit\n")
    write(project / "notes.txt", "untracked\n")

    proc = run_cli("diff", cwd=project)

    assert proc.returncode == 0, proc.stderr
    assert "diff --git a/README.md b/README.md" in proc.stdout
    assert "+Maintained by the platform team." in proc.stdout
    assert "-one\n+uncommitted edit" in proc.stdout
    assert "b/notes.txt" in proc.stdout
    assert "cookiepatcher.json" not in proc.stdout
    assert "gone.txt" not in proc.stdout
    assert run_cli("diff", "--exit-code", cwd=project).returncode == 1
    stat = run_cli("diff", "--stat", cwd=project)
    assert "README.md" in stat.stdout and "3 files changed" in stat.stdout
    assert status(project).splitlines() == [" M a.txt", "?? notes.txt"]


def test_diff_in_monorepo_subfolder(tpl, tmp_path):
    mono = tmp_path / "mono"
    write(mono / "README.md", "# mono\n")
    git(mono, "init", "-q")
    project = generate(tpl, "v1", output_dir=mono / "svc", init_git=False)
    commit_all(mono, "mono")
    write(mono / "README.md", "# mono, edited\n")
    write(project / "a.txt", "edited\n")

    proc = run_cli("diff", cwd=project)

    assert "diff --git a/a.txt b/a.txt" in proc.stdout
    assert "mono" not in proc.stdout


def test_commands_find_the_project_from_a_subfolder(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": "a\n", "pkg/m.py": "x\n"}, "v2": {"README.md": "a\nb\n", "pkg/m.py": "x\n"}})
    project = generate(tpl, "v1")
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project / "pkg")
    assert proc.returncode == 0, proc.stderr
    assert (project / "README.md").read_text() == "a\nb\n"


def test_diff_leaves_out_the_record_and_counts_ignored_template_files(tmp_path, make_template):
    tpl = make_template(tmp_path, {"v1": {"README.md": "a\n", ".env": "KEY=1\n", ".gitignore": ".env\n"},
                                   "v2": {"README.md": "a\nb\n", ".env": "KEY=1\n", ".gitignore": ".env\n"}})
    project = generate(tpl, "v1")
    assert (project / ".env").exists() and "cookiepatcher.json" in git(project, "ls-files")
    proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=project)  # staged, not committed
    assert proc.returncode == 0, proc.stderr
    write(project / "README.md", "a\nb\nlocal\n")
    diff = run_cli("diff", "--stat", cwd=project)
    assert diff.returncode == 0, diff.stderr
    assert "cookiepatcher.json" not in diff.stdout and ".env" not in diff.stdout
    assert "README.md" in diff.stdout


def test_what_hooks_print_goes_to_stderr_so_json_output_stays_parseable(tmp_path, make_template):
    hook = "print('post-gen: configured', {'x': 1})\n"
    tpl = make_template(tmp_path, {"v1": {"a.txt": "1\n", "/hooks/post_gen_project.py": hook},
                                   "v2": {"a.txt": "2\n"}})
    project = generate(tpl, "v1")
    proc = run_cli("update", "--checkout", "v2", "--no-input", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [f["path"] for f in data["files"]] == ["a.txt"]
    assert "post-gen: configured" in proc.stderr


@pytest.mark.parametrize("command", ["create", "update"])
def test_a_failing_hook_is_one_error_line_without_cookiecutters_traceback(command, tmp_path, make_template):
    """cookiecutter logs a failing hook with ``logger.exception``; Python's last-resort
    handler would print that traceback to stderr."""
    fail = "import sys\nprint('hook says no', file=sys.stderr)\nsys.exit(3)\n"
    tpl = make_template(tmp_path, {"v1": {"a.txt": "1\n"}, "v2": {"a.txt": "2\n", "/hooks/post_gen_project.py": fail}})
    if command == "create":
        proc = run_cli("create", tpl.location, "--no-input", "--output-dir", tmp_path / "out", cwd=tmp_path)
    else:
        proc = run_cli("update", "--checkout", "v2", "--no-input", cwd=generate(tpl, "v1"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Stopping generation" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("cookiepatcher: error: template hook failed"), proc.stderr
    # the hook's own message comes first, and the error line points to it (found by a new-user trial)
    assert proc.stderr.index("hook says no") < proc.stderr.index("cookiepatcher: error:")
    assert proc.stderr.rstrip().endswith("the hook's own output above says why (an answer it refuses: change it; "
                                         "else fix the hook)"), proc.stderr


@pytest.mark.parametrize("args", [["update", "--set", "python_version"], ["update", "--bogus"], ["nosuch"]])
def test_usage_errors_are_one_line_with_exit_2(tmp_path, args):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cookiepatcher: error: ") and "--help" in lines[0], proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("ending, code", [("sys.exit(3)", 3), ("sys.exit(None)", 0), ("sys.exit('bad input')", 1),
                                          ("pass", 0)])
def test_the_program_exits_with_mains_code_after_every_exit_handler(ending, code, tmp_path):
    """``cli.run`` skips only the interpreter's teardown: handlers registered while the
    command ran (logging's, finalizers) run, output is flushed, the exit code is main's."""
    marker = tmp_path / "handler-ran"
    script = ("import atexit, sys\nfrom cookiepatcher import cli\n"
              "def fake_main():\n"
              f"    atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
              "    sys.stdout.write('unflushed output')\n"
              f"    {ending}\n"
              "cli.main = fake_main\ncli.run()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == code
    assert proc.stdout == "unflushed output" and marker.read_text() == "ran"
    assert ("bad input" in proc.stderr) == (code == 1)


def test_a_bug_or_ctrl_c_in_the_program_exits_as_python_does(tmp_path):
    script = ("import sys\nfrom cookiepatcher import cli\n"
              "def fake_main():\n    raise KeyboardInterrupt\n"
              "cli.main = fake_main\ncli.run()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -2 and "KeyboardInterrupt" in proc.stderr  # killed by SIGINT, as Python reports it


def test_output_that_cannot_be_written_at_exit_is_exit_code_120_as_in_python(tmp_path):
    script = ("import io, sys\nfrom cookiepatcher import cli\n"
              "class Full(io.StringIO):\n"
              "    def flush(self):\n        raise OSError(28, 'No space left on device')\n"
              "def fake_main():\n    sys.stdout = Full()\n"
              "cli.main = fake_main\ncli.run()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 120


def test_log_handlers_set_up_before_the_program_are_flushed_at_exit(tmp_path):
    """``logging`` imported before ``cli.run`` (a sitecustomize, a .pth file) registered its
    shutdown handler before the program's own: it is called anyway (found by a review)."""
    log = tmp_path / "log.txt"
    script = ("import logging, logging.handlers\n"
              f"target = logging.FileHandler({str(log)!r})\n"
              "buffered = logging.handlers.MemoryHandler(capacity=100, target=target)\n"
              "logging.getLogger('x').addHandler(buffered)\n"
              "from cookiepatcher import cli\n"
              "def fake_main():\n    logging.getLogger('x').warning('kept')\n"
              "cli.main = fake_main\ncli.run()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0 and log.read_text() == "kept\n"


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_a_terminated_update_stops_as_ctrl_c_does(tmp_path, make_template):
    """A cancelled CI job gets SIGTERM: the update exits 130, as for Ctrl-C, removes its
    temporary folders, stops the running hook and what the hook started, and leaves the
    project as it was."""
    import signal
    import time

    pids = tmp_path / "hook.pids"
    # the hook starts a program of its own (npm install, ...), which holds the job's output too
    hook = ("import os, subprocess\n"
            "if os.environ.get('COOKIEPATCHER_RENDER') == 'upgrade':\n"
            "    child = subprocess.Popen(['sleep', '30'])\n"
            f"    open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n{{child.pid}}\\n')\n"
            "    child.wait()\n")
    tpl = make_template(tmp_path, {"v1": {"a.txt": "one\n"}, "v2": {"a.txt": "two\n"}},
                        hooks={"post_gen_project.py": hook})
    project = generate(tpl, "v1")
    before = snapshot(project)
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "cookiepatcher", "update", "--checkout", "v2", "--no-input"],
                            cwd=project, env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (not pids.exists() or len(pids.read_text().split()) < 2) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids.exists(), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
        hooks_alive = []
        for pid in pids.read_text().split():
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    hooks_alive += [pid] if stat.read().split()[2] != "Z" else []
            except FileNotFoundError:
                pass
    finally:
        proc.kill()
        for pid in pids.read_text().split() if pids.exists() else []:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "Aborted!"
    assert hooks_alive == [], "the running hook (or its own process) outlived the command"
    assert snapshot(project) == before
    assert list(tmp.iterdir()) == [], "temporary folders left behind"


def test_an_update_interrupted_while_writing_says_how_to_restore_the_files(tpl, monkeypatch, capsys):
    from cookiepatcher import cli, update
    from cookiepatcher.apply import WriteInterrupted

    def interrupted(*args, **kwargs):
        raise WriteInterrupted

    monkeypatch.setattr(update, "update_project", interrupted)
    project = generate(tpl, "v1")
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as info:
        cli.main(["update", "--no-input"])
    assert info.value.code == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["cookiepatcher: interrupted while writing files: some are written, the index is not; "
                     "`git checkout -- .` restores them", "Aborted!"]


def test_an_interrupted_command_exits_130_not_1(tpl, monkeypatch):
    """1 means conflicts (a CI step may accept it); Ctrl-C must not look like that."""
    from cookiepatcher import cli, update

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(update, "update_project", interrupted)  # (the command imports it when run)
    project = generate(tpl, "v1")
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as info:
        cli.main(["update", "--no-input"])
    assert info.value.code == 130


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_not_exit_1(tpl):
    """1 means "out of date" for check and "conflicts" for update: a closed pipe (click's
    own handling ended with 1) or a full disk (a traceback, 1) end with 120, Python's code
    for lost output."""
    project = generate(tpl, "v1")
    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that is gone before the first line
    piped = subprocess.run([sys.executable, "-m", "cookiepatcher", "check"], cwd=project, stdout=write_end,
                           stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert piped.returncode == 120, piped.stderr
    command = f"{sys.executable} -m cookiepatcher check"
    full = subprocess.run(["bash", "-c", f"{command} > /dev/full"], cwd=project, capture_output=True, text=True)
    assert full.returncode == 120, full.stderr
    assert full.stderr.splitlines() == ["cookiepatcher: error: cannot write the output (No space left on device)"]
