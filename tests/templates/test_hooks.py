"""The shared hooks (``hooks/``): answer validation, option pruning, the record.

Unit tests call ``hooks/service_hooks.py`` directly; bake tests run cookiecutter on a
committed copy of each template that exists (express is skipped until it lands).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import service_hooks
from conftest import REPO, commit_all, copy_templates, git, listing, template_params

DJANGO_OK = {
    "repo_name": "orders-api",
    "project_name": "orders_api",
    "subdomain": "orders-api",
    "short_description": "Orders, as a service",
    "python_version": "3.12",
    "eb_application": "orders-api",
    "aws_region": "ap-northeast-1",
    "use_sentry": "no",
    "use_newrelic": "yes",
    "private_index_url": "",
    "log_shipping": "stdout",
}
EXPRESS_OK = {
    "repo_name": "orders-web",
    "subdomain": "orders-web",
    "short_description": "Orders web",
    "eb_application": "orders-web",
    "aws_region": "us-east-1",
    "use_sentry": "yes",
    "use_newrelic": "no",
    "log_shipping": "fluentd",
    "node_version": "22",
    "npm_registry_url": "https://npm.example.com/",
    "npm_scope": "@orders",
}

# (question, bad value, words the refusal must contain): shared by both templates.
SHARED_BAD = [
    ("repo_name", "Orders", "lowercase letters"),
    ("repo_name", "orders/api", "path separator"),
    ("repo_name", "../orders", "'..'"),
    ("repo_name", "-orders", "starting with a letter or digit"),
    ("repo_name", "a" * 101, "at most 100"),
    ("subdomain", "orders_api", "DNS label"),
    ("subdomain", "orders-", "not starting or ending with '-'"),
    ("subdomain", "a" * 64, "at most 63"),
    ("short_description", "two\nlines", "one line"),
    ("short_description", "{{ secret }}", "template syntax"),
    ("short_description", "{% raw %}", "template syntax"),
    ("short_description", "{# c #}", "template syntax"),
    ("eb_application", "my app", "letters, digits"),
    ("aws_region", "mars-north-1", "AWS region"),
    ("use_sentry", "maybe", "'no', 'yes'"),
    ("use_newrelic", "true", "'no', 'yes'"),
    ("log_shipping", "syslog", "'stdout', 'fluentd'"),
]
DJANGO_BAD = [
    ("project_name", "orders-api", "Python identifier"),
    ("project_name", "Orders", "Python identifier"),
    ("project_name", "class", "Python identifier"),
    ("project_name", "json", "shadow"),
    ("project_name", "django", "shadow"),
    ("project_name", "rest_framework", "shadow"),
    ("project_name", "test", "shadow"),
    ("project_name", "site", "shadow"),
    ("python_version", "2.7", "'3.11', '3.12', '3.13'"),
    ("private_index_url", "http://pypi.example.com/simple/", "https URL"),
    ("private_index_url", "https://user:token@pypi.example.com/simple/", "without credentials"),
    ("private_index_url", "pypi.example.com", "https URL"),
]
EXPRESS_BAD = [
    ("node_version", "18", "'20', '22'"),
    ("npm_registry_url", "ftp://npm.example.com/", "https URL"),
    ("npm_scope", "orders", "npm scope"),
    ("npm_scope", "@Orders", "npm scope"),
    ("npm_scope", "@orders/x", "path separator"),
]


# --- validation (unit) ------------------------------------------------------------------

@pytest.mark.parametrize("answers", [DJANGO_OK, EXPRESS_OK], ids=["django", "express"])
def test_valid_answers_pass(answers):
    service_hooks.validate({**answers, "_template": "gh:org/templates", "_checkout": None})
    assert service_hooks.pre_gen(answers) == 0


@pytest.mark.parametrize(("base", "question", "value", "words"),
                         [(DJANGO_OK, *bad) for bad in SHARED_BAD + DJANGO_BAD]
                         + [(EXPRESS_OK, *bad) for bad in SHARED_BAD + EXPRESS_BAD])
def test_invalid_answer_is_refused_naming_question_value_and_rule(base, question, value, words):
    with pytest.raises(service_hooks.AnswerError) as caught:
        service_hooks.validate({**base, question: value})
    message = str(caught.value)
    assert caught.value.question == question
    assert message.startswith(f"invalid answer for '{question}': {json.dumps(value)}; ")
    assert words in message
    assert "\n" not in message


def test_questions_a_template_does_not_ask_are_not_checked():
    # express has no project_name: a django-only rule must not fire on its answers.
    assert "project_name" not in EXPRESS_OK
    service_hooks.validate(EXPRESS_OK)
    # and private keys are never answers
    service_hooks.validate({**DJANGO_OK, "_output_dir": "/tmp/../x", "__prompts__": {"a": "{{ b }}"}})


def test_unknown_questions_still_refuse_template_syntax_and_dotdot():
    with pytest.raises(service_hooks.AnswerError, match="template syntax"):
        service_hooks.validate({"team": "{{ cookiecutter.repo_name }}"})
    with pytest.raises(service_hooks.AnswerError, match="'..'"):
        service_hooks.validate({"team": "a..b"})


@pytest.mark.parametrize(("registry", "scope", "question"), [
    ("https://npm.example.com/", "", "npm_scope"),
    ("", "@orders", "npm_registry_url"),
])
def test_npm_scope_is_required_iff_registry_given(registry, scope, question):
    with pytest.raises(service_hooks.AnswerError) as caught:
        service_hooks.validate({**EXPRESS_OK, "npm_registry_url": registry, "npm_scope": scope})
    assert caught.value.question == question
    service_hooks.validate({**EXPRESS_OK, "npm_registry_url": "", "npm_scope": ""})


def test_pre_gen_prints_one_line_to_stderr_and_returns_1(capsys):
    assert service_hooks.pre_gen({**DJANGO_OK, "subdomain": "Orders"}) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: invalid answer for 'subdomain': \"Orders\"; use a DNS label")


def test_every_region_of_the_choice_lists_is_accepted():
    for name in ("django-template", "express-template"):
        path = REPO / name / "cookiecutter.json"
        if path.is_file():
            regions = json.loads(path.read_text())["aws_region"]
            assert regions[0] == "ap-northeast-1"
            assert set(regions) <= service_hooks.AWS_REGIONS


# --- pruning (unit) ---------------------------------------------------------------------

def _option_tree(root: Path) -> None:
    (root / "fluentd").mkdir(parents=True)
    (root / "fluentd" / "fluent.conf").write_text("<source>\n</source>\n")
    (root / "docker-compose.fluentd.yml").write_text("services: {}\n")
    (root / "app.py").write_text("")


def test_prune_removes_fluentd_files_when_logs_go_to_stdout(tmp_path):
    _option_tree(tmp_path)
    removed = service_hooks.prune_options(tmp_path, {"log_shipping": "stdout"})
    assert removed == ["docker-compose.fluentd.yml", "fluentd"]
    assert listing(tmp_path) == ["app.py"]


def test_prune_keeps_fluentd_files_when_chosen_and_ignores_unasked_questions(tmp_path):
    _option_tree(tmp_path)
    assert service_hooks.prune_options(tmp_path, {"log_shipping": "fluentd"}) == []
    assert service_hooks.prune_options(tmp_path, {"repo_name": "x"}) == []
    assert len(listing(tmp_path)) == 4


# --- the record (unit) ------------------------------------------------------------------

@pytest.mark.parametrize(("given", "recorded"), [
    ("https://user:tok@git.example.com/org/t.git", "https://git.example.com/org/t.git"),
    ("https://tok@git.example.com/org/t.git", "https://git.example.com/org/t.git"),
    ("ssh://git@git.example.com/org/t.git", "ssh://git@git.example.com/org/t.git"),
    ("git@git.example.com:org/t.git", "git@git.example.com:org/t.git"),
    ("gh:org/t", "gh:org/t"),
    ("../templates", "../templates"),
])
def test_credentials_are_stripped_like_cookiepatcher(given, recorded):
    from cookiepatcher.record import strip_credentials

    assert service_hooks.strip_credentials(given) == recorded == strip_credentials(given)


def _git_template(tmp_path: Path, subdir: str | None) -> tuple[Path, str]:
    repo = tmp_path / "tpl"
    folder = repo / subdir if subdir else repo
    folder.mkdir(parents=True)
    (folder / "cookiecutter.json").write_text("{}\n")
    git(repo, "init", "-q", "-b", "main")
    return folder, commit_all(repo, "t")


@pytest.mark.parametrize(("subdir", "directory"), [("django-template", "django-template"), (None, None)])
def test_record_names_directory_commit_and_public_answers(tmp_path, subdir, directory):
    folder, sha = _git_template(tmp_path, subdir)
    context = {**DJANGO_OK, "_template": "https://u:p@git.example.com/t.git", "_checkout": "v2",
               "_repo_dir": str(folder), "__prompts__": {}}
    record = service_hooks.build_record(context, folder)
    assert record == {"template": "https://git.example.com/t.git", "directory": directory, "checkout": "v2",
                      "commit": sha, "context": DJANGO_OK}


def test_record_bytes_match_cookiepatcher_format(tmp_path):
    from cookiepatcher.record import Record, dumps_record

    folder, sha = _git_template(tmp_path, "django-template")
    context = {**DJANGO_OK, "short_description": "Zürich ✓", "_template": "gh:o/t", "_checkout": None}
    ours = service_hooks.dumps_record(service_hooks.build_record(context, folder))
    theirs = dumps_record(Record(template="gh:o/t", commit=sha, context={**DJANGO_OK, "short_description": "Zürich ✓"},
                                 directory="django-template", checkout=None))
    assert ours == theirs
    assert ours.endswith("}\n") and "Zürich ✓" in ours


def test_no_record_outside_git_one_warning(tmp_path, capsys):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "cookiecutter.json").write_text("{}")
    project = tmp_path / "project"
    project.mkdir()
    assert service_hooks.post_gen({**DJANGO_OK, "_template": str(folder)}, project, folder) == 0
    assert listing(project) == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: ")


def test_no_record_when_head_lacks_the_template(tmp_path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("x\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "no template yet")
    folder = repo / "django-template"
    folder.mkdir()
    (folder / "cookiecutter.json").write_text("{}")  # not committed
    assert service_hooks.build_record({"_template": str(folder)}, folder) is None
    project = tmp_path / "project"
    project.mkdir()
    service_hooks.post_gen({"_template": str(folder)}, project, folder)
    assert listing(project) == []
    assert capsys.readouterr().err.startswith("warning: the template is not committed")


def test_record_of_dirty_template_names_head_with_a_warning(tmp_path, capsys):
    folder, sha = _git_template(tmp_path, "django-template")
    (folder / "cookiecutter.json").write_text('{"changed": 1}\n')
    project = tmp_path / "project"
    project.mkdir()
    service_hooks.post_gen({"_template": str(folder)}, project, folder)
    assert json.loads((project / "cookiepatcher.json").read_text())["commit"] == sha
    assert capsys.readouterr().err == f"warning: the template has uncommitted changes; cookiepatcher.json names its last commit {sha[:12]}\n"


def test_no_record_during_cookiepatcher_render(tmp_path, monkeypatch):
    folder, _ = _git_template(tmp_path, None)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("COOKIEPATCHER_RENDER", "upgrade")
    assert service_hooks.post_gen({**DJANGO_OK, "_template": str(folder)}, project, folder) == 0
    assert listing(project) == []


# --- through cookiecutter, for each template --------------------------------------------

def _bad_answers(template: str) -> list[tuple[str, str]]:
    own = DJANGO_BAD if template == "django-template" else EXPRESS_BAD
    return [(q, v) for q, v, _ in SHARED_BAD + own if not (q == "repo_name" and "/" in v)]  # '/': see below


# cookiecutter creates the project folder (and, for a name with '/', its parents) before
# the pre-generation hook runs, and removes only the project folder on refusal: the
# template's folder name maps '/' to '_' so a refused name never leaves a parent behind.
SAFE_PROJECT_FOLDER = "{{cookiecutter.repo_name.replace('%c' % 47, '_')}}"


def _path_params() -> list:
    params = []
    for param in template_params():
        (name,) = param.values
        marks = list(param.marks)
        if not marks and not (REPO / name / SAFE_PROJECT_FOLDER).is_dir():
            marks.append(pytest.mark.xfail(strict=False, reason=f"{name}'s project folder is not named {SAFE_PROJECT_FOLDER}"))
        params.append(pytest.param(name, marks=marks, id=param.id))
    return params


def _template_dir(template_repo: Path, template: str) -> Path:
    return template_repo / template


@pytest.mark.parametrize("template", template_params())
def test_bake_refuses_each_invalid_answer_leaving_nothing(cookies, capfd, tmp_path, template_repo, template):
    for question, value in _bad_answers(template):
        given = value
        if any(marker in value for marker in ("{{", "{%", "{#")):
            given = "{% raw %}" + value + "{% endraw %}"  # cookiecutter renders answers before the hook
        result = cookies.bake(extra_context={question: given}, template=str(_template_dir(template_repo, template)))
        err = capfd.readouterr().err
        assert result.exit_code != 0, (question, value)
        lines = [line for line in err.splitlines() if line.startswith("error: ")]
        if lines:
            assert len(lines) == 1 and lines[0].startswith(f"error: invalid answer for '{question}'"), err
        else:  # a value outside a choice list: cookiecutter refuses it before any hook runs
            assert isinstance(result.exception, ValueError), (question, value, err)
            assert f"{value} provided for choice variable {question}" in str(result.exception)
        # pytest-cookies bakes into tmp_path/cookies/bakeNN: only the empty bakeNN folders may remain
        leftovers = [p for p in listing(tmp_path / "cookies") if "/" in p or not p.startswith("bake")]
        assert leftovers == [], (question, value, leftovers)


@pytest.mark.parametrize("template", _path_params())
@pytest.mark.parametrize("value", ["orders/api", "/tmp/orders-abs", "orders/../../x"])
def test_bake_refuses_path_in_repo_name_leaving_no_folder(cookies, capfd, tmp_path, template_repo, template, value):
    result = cookies.bake(extra_context={"repo_name": value}, template=str(_template_dir(template_repo, template)))
    assert result.exit_code != 0
    assert "error: invalid answer for 'repo_name'" in capfd.readouterr().err
    assert [p for p in listing(tmp_path / "cookies") if "/" in p or not p.startswith("bake")] == []
    assert not Path("/tmp/orders-abs").exists()


@pytest.mark.parametrize("template", template_params())
def test_bake_writes_record_with_exact_bytes(cookies, template_repo, template):
    result = cookies.bake(template=str(_template_dir(template_repo, template)))
    assert result.exit_code == 0, result.exception
    defaults = {k: v for k, v in result.context.items() if not k.startswith("_")}
    expected = {
        "template": str(_template_dir(template_repo, template)),
        "directory": template,
        "checkout": None,
        "commit": git(template_repo, "rev-parse", "HEAD"),
        "context": defaults,
    }
    text = (result.project_path / "cookiepatcher.json").read_text(encoding="utf-8")
    assert text == json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("template", template_params())
def test_bake_from_relative_template_path_records_subfolder(tmp_path, template_repo, template):
    # `cookiecutter . --directory django-template` run from the repo root: _repo_dir is relative.
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "cookiecutter", "--no-input", ".", "--directory", template,
                           "--output-dir", str(out)], cwd=template_repo, capture_output=True, text=True,
                          env={**os.environ, "HOME": str(tmp_path)}, check=False)
    assert proc.returncode == 0, proc.stderr
    (project,) = out.iterdir()
    record = json.loads((project / "cookiepatcher.json").read_text())
    assert (record["template"], record["directory"], record["checkout"]) == (".", template, None)
    assert record["commit"] == git(template_repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("template", template_params())
def test_bake_of_uncommitted_template_warns_and_writes_no_record(cookies, capfd, tmp_path, template):
    plain = copy_templates(tmp_path / "plain")
    result = cookies.bake(template=str(plain / template))
    assert result.exit_code == 0, result.exception
    assert not (result.project_path / "cookiepatcher.json").exists()
    assert "warning: the template is not committed in a git checkout" in capfd.readouterr().err


@pytest.mark.parametrize("template", template_params())
def test_bake_under_cookiepatcher_render_writes_no_record_but_prunes(cookies, monkeypatch, template_repo, template):
    monkeypatch.setenv("COOKIEPATCHER_RENDER", "upgrade")
    result = cookies.bake(extra_context={"log_shipping": "stdout"}, template=str(_template_dir(template_repo, template)))
    assert result.exit_code == 0, result.exception
    assert not (result.project_path / "cookiepatcher.json").exists()
    assert not (result.project_path / "fluentd").exists()
    assert not (result.project_path / "docker-compose.fluentd.yml").exists()
