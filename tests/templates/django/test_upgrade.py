"""A service baked from an older django-template is upgraded with ``cookiepatcher update``.

The older template is the current one with an older pinned dependency and one file
changed, committed in a temporary git repository; the service is created from it, gets a
local edit, then the template repository moves to the current state and the service is
updated: the merge is clean, the local edit survives, and the service's tests still pass.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bake_helpers import run, service_env
from conftest import GIT_ENV, commit_all, copy_templates, git

PROJECT_DIR = "{{cookiecutter.repo_name.replace('%c' % 47, '_')}}"
OLD_PIN, NEW_PIN = "whitenoise==6.11.0", "whitenoise==6.12.0"
OLD_TIMEOUT, NEW_TIMEOUT = 'os.environ.get("GUNICORN_TIMEOUT", "60")', 'os.environ.get("GUNICORN_TIMEOUT", "30")'
LOCAL_EDIT = "\n## Team notes\n\nOn call: the orders team.\n"


def cookiepatcher(*args: str, cwd: Path, home: Path):
    env = service_env(HOME=str(home), **GIT_ENV)
    return run([sys.executable, "-m", "cookiepatcher", *args], cwd=cwd, env=env)


def _age(template_dir: Path) -> None:
    """Turn the current template into the 'earlier state': older pin, one file changed."""
    reqs = template_dir / PROJECT_DIR / "requirements.txt"
    text = reqs.read_text()
    assert NEW_PIN in text
    reqs.write_text(text.replace(NEW_PIN, OLD_PIN))
    conf = template_dir / PROJECT_DIR / "gunicorn.conf.py"
    text = conf.read_text()
    assert NEW_TIMEOUT in text
    conf.write_text(text.replace(NEW_TIMEOUT, OLD_TIMEOUT))


def test_update_from_earlier_template_merges_cleanly_and_tests_pass(tmp_path, service_python):
    home = tmp_path / "home"
    home.mkdir()
    templates = copy_templates(tmp_path / "templates")
    git(templates, "init", "-q", "-b", "main")
    _age(templates / "django-template")
    old = commit_all(templates, "django-template, earlier state")

    out = tmp_path / "out"
    created = cookiepatcher("create", str(templates), "--directory", "django-template", "--no-input",
                            "--output-dir", str(out), cwd=tmp_path, home=home)
    assert created.returncode == 0, created.stdout + created.stderr
    project = out / "my-service"
    record = json.loads((project / "cookiepatcher.json").read_text())
    assert (record["commit"], record["directory"]) == (old, "django-template")
    assert OLD_PIN in (project / "requirements.txt").read_text()

    git(project, "init", "-q", "-b", "main")
    commit_all(project, "generated")
    with open(project / "README.md", "a", encoding="utf-8") as readme:
        readme.write(LOCAL_EDIT)
    commit_all(project, "local edit")

    # the template moves on to its current state
    git(templates, "rm", "-r", "-q", "django-template", "hooks")
    copy_templates(tmp_path / "current")
    for name in ("django-template", "hooks"):
        os.rename(tmp_path / "current" / name, templates / name)
    new = commit_all(templates, "django-template, current state")

    updated = cookiepatcher("update", "--no-input", cwd=project, home=home)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""
    requirements = (project / "requirements.txt").read_text()
    assert NEW_PIN in requirements and OLD_PIN not in requirements
    assert NEW_TIMEOUT in (project / "gunicorn.conf.py").read_text()
    assert (project / "README.md").read_text().endswith(LOCAL_EDIT)
    assert json.loads((project / "cookiepatcher.json").read_text())["commit"] == new
    unmerged = [p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts
                and "<<<<<<<" in p.read_text(errors="replace")]
    assert unmerged == []

    tests = run([str(service_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                env=service_env(DJANGO_SECRET_KEY="test-only"))
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
