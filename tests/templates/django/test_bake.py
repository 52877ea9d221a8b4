"""Bakes of django-template: every choice value renders, parses, lints and validates."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from bake_helpers import REPO, VARIANTS, run, tool

DOCKERRUN_SCHEMA = json.loads((REPO / "tests" / "templates" / "schemas" / "dockerrun-v2.schema.json").read_text())
UNRENDERED = re.compile(r"\{\{\s*cookiecutter|\{%|\{#")

bake_ids = pytest.mark.parametrize("name", list(VARIANTS))


def files(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob("*") if p.is_file())


@bake_ids
def test_nothing_left_unrendered(django_bakes, name):
    project = django_bakes[name]
    bad = []
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), 1):
            if UNRENDERED.search(line):
                bad.append(f"{path.relative_to(project)}:{lineno}: {line.strip()}")
    assert bad == []
    assert [p.name for p in project.rglob("*") if "{" in p.name] == []


@bake_ids
def test_every_json_and_yaml_file_parses(django_bakes, name):
    project = django_bakes[name]
    parsed = 0
    for path in files(project):
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
            parsed += 1
        elif path.suffix in (".yml", ".yaml") or (path.suffix == ".config" and ".ebextensions" in path.parts):
            assert yaml.safe_load(path.read_text(encoding="utf-8")) is not None, path
            parsed += 1
    assert parsed >= 6  # record, 2 Dockerrun, CircleCI, ebextensions, Rundeck


@bake_ids
def test_flake8_clean(django_bakes, name):
    proc = run([tool("flake8")], cwd=django_bakes[name])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@bake_ids
def test_dockerfile_is_hadolint_clean(django_bakes, name):
    proc = run([tool("hadolint"), "Dockerfile"], cwd=django_bakes[name])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (django_bakes[name] / "Dockerfile").read_text()
    python_version = VARIANTS[name].get("python_version", "3.12")
    assert f"ARG PYTHON_VERSION={python_version}\n" in text
    assert text.count("\nFROM ") == 2 and "\nUSER 10001:10001\n" in text
    assert "collectstatic --noinput" in text


@bake_ids
def test_circleci_config_valid_and_complete(django_bakes, name):
    project = django_bakes[name]
    proc = run([tool("check-jsonschema"), "--builtin-schema", "vendor.circle-ci", ".circleci/config.yml"], cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load((project / ".circleci" / "config.yml").read_text())
    jobs = set(config["jobs"])
    for workflow in config["workflows"].values():
        for entry in workflow["jobs"]:
            job, spec = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
            assert job in jobs, job
            assert set(spec.get("requires", [])) <= jobs
    text = (project / ".circleci" / "config.yml").read_text()
    assert '{{ checksum "requirements.txt" }}' in text
    assert "ebi deploy" in text and "bgdeploy" in text and "--noswap" in text and "eb swap" in text
    assert "ebi==0.12.0" in (project / "requirements-deploy.txt").read_text()
    assert not re.search(r"(?i)aws_secret_access_key\s*=\s*[A-Za-z0-9/+]{20,}", text)


def _branches(config: dict, job: str) -> list[str]:
    for entry in config["workflows"]["test-and-deploy"]["jobs"]:
        if isinstance(entry, dict) and job in entry:
            only = entry[job]["filters"]["branches"]["only"]
            return [only] if isinstance(only, str) else only
    return []


def test_branches_map_to_environments(django_bakes):
    config = yaml.safe_load((django_bakes["defaults"] / ".circleci" / "config.yml").read_text())
    assert _branches(config, "deploy-dev") == ["master"]
    assert _branches(config, "deploy-production-idle") == ["deployment/production"]
    assert _branches(config, "swap") == ["deployment/production"]
    swap = config["workflows"]["test-and-deploy"]["jobs"][-1]["swap"]
    assert swap["requires"] == ["e2e-idle"]


@bake_ids
def test_dockerrun_files_validate(django_bakes, name):
    project = django_bakes[name]
    for env in ("dev", "production"):
        data = json.loads((project / "deploy" / env / "Dockerrun.aws.json").read_text())
        jsonschema.validate(data, DOCKERRUN_SCHEMA)
        names = [c["name"] for c in data["containerDefinitions"]]
        fluentd = VARIANTS[name].get("log_shipping") == "fluentd"
        assert names == (["app", "fluentd"] if fluentd else ["app"])
        assert data["containerDefinitions"][0]["image"] == "__IMAGE__"


@bake_ids
def test_option_files_follow_answers(django_bakes, name):
    project, answers = django_bakes[name], VARIANTS[name]
    fluentd = answers.get("log_shipping") == "fluentd"
    for rel in ("docker-compose.fluentd.yml", "fluentd/fluent.conf"):
        assert (project / rel).exists() == fluentd, rel
    requirements = (project / "requirements.txt").read_text()
    assert ("sentry-sdk==" in requirements) == (answers.get("use_sentry") == "yes")
    assert ("newrelic==" in requirements) == (answers.get("use_newrelic") == "yes")
    settings = (project / "my_service" / "settings.py").read_text()
    assert ("SENTRY_DSN" in settings) == (answers.get("use_sentry") == "yes")
    wsgi = (project / "my_service" / "wsgi.py").read_text()
    assert ("NEW_RELIC_LICENSE_KEY" in wsgi) == (answers.get("use_newrelic") == "yes")


@bake_ids
def test_private_index_is_the_only_index(django_bakes, name):
    project, url = django_bakes[name], VARIANTS[name].get("private_index_url", "")
    for req in ("requirements.txt", "requirements-deploy.txt"):
        lines = (project / req).read_text().splitlines()
        assert not any("--extra-index-url" in line for line in lines)
        assert [line for line in lines if line.startswith("--index-url")] == ([f"--index-url {url}"] if url else [])
    pins = [line for line in (project / "requirements.txt").read_text().splitlines() if line and line[0].isalpha()]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.+-]*", p) for p in pins), pins


@bake_ids
def test_record_holds_the_answers(django_bakes, template_repo, name):
    record = json.loads((django_bakes[name] / "cookiepatcher.json").read_text())
    assert record["directory"] == "django-template"
    head = run(["git", "rev-parse", "HEAD"], cwd=template_repo).stdout.strip()
    assert record["commit"] == head and len(head) == 40
    for question, value in VARIANTS[name].items():
        assert record["context"][question] == value


@pytest.mark.parametrize("env", ["dev", "production"])
def test_ci_render_step_gives_valid_dockerrun_with_immutable_tag(django_bakes, tmp_path, env):
    # run the CircleCI command's own shell script on a copy of the bake
    project = django_bakes["all-on"]
    config = yaml.safe_load((project / ".circleci" / "config.yml").read_text())
    script = config["commands"]["render-dockerrun"]["steps"][0]["run"]["command"]
    script = script.replace("<< parameters.environment >>", env)
    work = tmp_path / "work"
    shutil.copytree(project / "deploy", work / "deploy")
    sha = "0123456789abcdef0123456789abcdef01234567"
    proc = run(["bash", "-euo", "pipefail", "-c", script], cwd=work,
               env={**os.environ, "AWS_ACCOUNT_ID": "123456789012", "AWS_DEFAULT_REGION": "ap-northeast-1",
                    "ECR_REPOSITORY": "my-service", "CIRCLE_SHA1": sha})
    assert proc.returncode == 0, proc.stderr
    data = json.loads((work / "build" / "Dockerrun.aws.json").read_text())
    jsonschema.validate(data, DOCKERRUN_SCHEMA)
    app = data["containerDefinitions"][0]
    assert app["image"] == f"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/my-service:{sha}"
    assert {"name": "APP_VERSION", "value": sha} in app["environment"]


@bake_ids
@pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")
def test_ebignore_bundles_only_what_the_environment_mounts(django_bakes, name):
    # ebi 0.12.0 always zips the project through .ebignore (and fails without one), read by
    # the EB CLI with pathspec's 'gitwildmatch' patterns, as here
    from pathspec import PathSpec

    project = django_bakes[name]
    with open(project / ".ebignore", encoding="utf-8") as ebignore:
        spec = PathSpec.from_lines("gitwildmatch", ebignore)
    every = {p.relative_to(project).as_posix() for p in files(project)}
    shipped = every - {m.path for m in spec.match_tree_entries(str(project))}
    fluentd = VARIANTS[name].get("log_shipping") == "fluentd"
    assert shipped == ({"fluentd/fluent.conf"} if fluentd else set())


def test_rundeck_job_runs_an_existing_command_from_the_image(django_bakes):
    project = django_bakes["defaults"]
    jobs = yaml.safe_load((project / "rundeck" / "jobs.yaml").read_text())
    assert isinstance(jobs, list) and jobs
    for job in jobs:
        assert {"name", "group", "sequence", "options"} <= set(job)
        (step,) = job["sequence"]["commands"]
        match = re.search(r"docker run --rm .*\$\{option\.image\}\s+python manage\.py (\w+)", step["exec"])
        assert match, step["exec"]
        assert (project / "my_service" / "notes" / "management" / "commands" / f"{match.group(1)}.py").is_file()
        used = set(re.findall(r"\$\{option\.(\w+)\}", step["exec"]))
        assert used <= {option["name"] for option in job["options"]}
