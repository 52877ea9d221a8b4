"""express-template bakes: every choice value, one at a time from the defaults, and all options on.

Each bake is checked for unrendered template syntax, files that do not parse, the Dockerfile
(hadolint), the CircleCI config (schema and job references), the Dockerrun files (the
project's schema), the lock file (no download addresses, names rendered) and the files and
lines each option adds or removes.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from express_fixtures import express_bakes  # noqa: F401 (fixtures)
from express_helpers import ALL_ON, SCHEMAS, TEMPLATE, VARIANTS, project_files, run, tool

BAKE_IDS = list(VARIANTS)
JS_COMPILE = (
    "const fs = require('node:fs'); const vm = require('node:vm');"
    "for (const f of process.argv.slice(1)) {"
    "  const params = ['exports', 'require', 'module', '__filename', '__dirname'];"
    "  vm.compileFunction(fs.readFileSync(f, 'utf8'), params, {filename: f});"
    "}"
)


def answers(bake_id: str) -> dict[str, str]:
    """The full answers of a bake: the template defaults overridden by the variant."""
    spec = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    given = VARIANTS[bake_id]
    result = {k: (v[0] if isinstance(v, list) else v) for k, v in spec.items() if not k.startswith("_")}
    result.update(given)
    # the derived defaults follow the name (as their Jinja expressions in cookiecutter.json)
    result.setdefault("subdomain", "")
    if "subdomain" not in given:
        result["subdomain"] = result["repo_name"].replace("_", "-").replace(".", "-")
    if "eb_application" not in given:
        result["eb_application"] = result["repo_name"]
    return result


@pytest.fixture(params=BAKE_IDS)
def bake(request, express_bakes) -> tuple[str, Path]:
    return request.param, express_bakes[request.param]


def test_every_choice_value_is_baked():
    spec = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    baked = {(q, v) for extra in VARIANTS.values() for q, v in extra.items()}
    for question, choices in spec.items():
        if isinstance(choices, list):
            for value in choices[1:]:
                assert (question, value) in baked, (question, value)


def test_no_unrendered_template_syntax(bake):
    _, project = bake
    leftovers = []
    for path in project_files(project):
        text = path.read_text(encoding="utf-8")
        for marker in ("{{ cookiecutter", "{{cookiecutter", "{%", "%}", "{#", "cookiecutter."):
            if marker in text:
                leftovers.append(f"{path.relative_to(project)}: {marker}")
    assert leftovers == []
    assert not any("{{" in p.name or "{%" in p.name for p in project_files(project))


def test_json_and_yaml_files_parse(bake):
    _, project = bake
    parsed = 0
    for path in project_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            json.loads(text)
            parsed += 1
        elif path.suffix in (".yml", ".yaml") or path.parent.name == ".ebextensions":
            assert yaml.safe_load(text) is not None, path
            parsed += 1
    # package.json, lock, 2 Dockerrun, cookiepatcher.json; CircleCI, compose, rundeck, ebextensions
    assert parsed >= 9


def test_javascript_compiles(bake):
    _, project = bake
    scripts = [str(p) for p in project_files(project) if p.suffix == ".js"]
    assert len(scripts) >= 12
    proc = run(["node", "-e", JS_COMPILE, *scripts], project, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_dockerfile_is_hadolint_clean(bake):
    bake_id, project = bake
    proc = run([tool("hadolint"), "--no-color", "Dockerfile"], project, timeout=60)
    assert proc.returncode == 0, proc.stdout
    text = (project / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG NODE_VERSION={answers(bake_id)['node_version']}" in text
    assert "npm ci --omit=dev" in text
    assert "--mount=type=secret,id=npmrc" in text
    assert re.search(r"^USER 1000:1000$", text, re.M), "runs as the unprivileged node user"
    assert ("COPY newrelic.js" in text) == (answers(bake_id)["use_newrelic"] == "yes")


def test_circleci_configs_match_the_schema(express_bakes):
    configs = [str(p / ".circleci" / "config.yml") for p in express_bakes.values()]
    proc = run([tool("check-jsonschema"), "--builtin-schema", "vendor.circle-ci", *configs], Path.cwd(), timeout=120)
    assert proc.returncode == 0, proc.stdout


def test_circleci_workflow_references_exist(bake):
    bake_id, project = bake
    config = yaml.safe_load((project / ".circleci" / "config.yml").read_text(encoding="utf-8"))
    assert config["version"] == 2.1
    jobs, commands, executors = config["jobs"], config["commands"], config["executors"]
    for workflow in config["workflows"].values():
        names = set()
        for entry in workflow["jobs"]:
            name, spec = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
            assert name in jobs, f"workflow runs unknown job {name}"
            for required in spec.get("requires", []):
                assert required in names, f"{name} requires {required}, not listed before it"
            names.add(name)
    for name, job in jobs.items():
        assert job["executor"] in executors, name
        for step in job["steps"]:
            step_name = step if isinstance(step, str) else next(iter(step))
            builtin = {"checkout", "run", "setup_remote_docker", "restore_cache", "save_cache", "store_test_results"}
            assert step_name in builtin or step_name in commands, f"{name}: unknown step {step_name}"
    text = (project / ".circleci" / "config.yml").read_text(encoding="utf-8")
    assert '{{ checksum "package-lock.json" }}' in text, "CircleCI's own template syntax survives Jinja"
    assert "ebi==0.12.0" in (project / "requirements-deploy.txt").read_text(encoding="utf-8")
    sub = answers(bake_id)["subdomain"]
    assert f"ebi deploy \"$EB_APPLICATION\" {sub}-dev" in text
    assert f"ebi bgdeploy \"$EB_APPLICATION\" {sub}-blue {sub}-green {sub} \\\n              --noswap" in text
    assert 'eb swap "$IDLE" --destination_name "$LIVE"' in text
    assert "aws_access_key_id" in text and "--profile deploy" in text


def test_circleci_branch_flow(express_bakes):
    config = yaml.safe_load((express_bakes["defaults"] / ".circleci" / "config.yml").read_text(encoding="utf-8"))
    flow = {}
    for entry in config["workflows"]["test-and-deploy"]["jobs"]:
        name, spec = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        only = spec.get("filters", {}).get("branches", {}).get("only")
        flow[name] = ([only] if isinstance(only, str) else only, spec.get("requires", []))
    assert flow == {
        "test": (None, []),
        "build-image": (["master", "deployment/production"], ["test"]),
        "deploy-dev": (["master"], ["build-image"]),
        "deploy-production-idle": (["deployment/production"], ["build-image"]),
        "e2e-idle": (["deployment/production"], ["deploy-production-idle"]),
        "swap": (["deployment/production"], ["e2e-idle"]),
    }


def test_dockerrun_files_match_the_schema(bake):
    bake_id, project = bake
    schema = json.loads((SCHEMAS / "dockerrun-v2.schema.json").read_text(encoding="utf-8"))
    fluentd = answers(bake_id)["log_shipping"] == "fluentd"
    for env in ("dev", "production"):
        doc = json.loads((project / "deploy" / env / "Dockerrun.aws.json").read_text(encoding="utf-8"))
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
        containers = {c["name"]: c for c in doc["containerDefinitions"]}
        assert set(containers) == ({"app", "fluentd"} if fluentd else {"app"})
        app = containers["app"]
        assert app["image"] == "__IMAGE__"
        assert app["portMappings"] == [{"hostPort": 80, "containerPort": 3000}]
        env_vars = {e["name"]: e["value"] for e in app["environment"]}
        assert env_vars["APP_ENV"] == env
        assert ("SENTRY_ENVIRONMENT" in env_vars) == (answers(bake_id)["use_sentry"] == "yes")
        assert ("NEW_RELIC_APP_NAME" in env_vars) == (answers(bake_id)["use_newrelic"] == "yes")
        assert ("logConfiguration" in app) == fluentd


def test_ebextensions_set_health_and_log_streaming(bake):
    _, project = bake
    config = yaml.safe_load((project / ".ebextensions" / "01-environment.config").read_text(encoding="utf-8"))
    options = config["option_settings"]
    assert options["aws:elasticbeanstalk:environment:process:default"]["HealthCheckPath"] == "/healthz"
    assert options["aws:elasticbeanstalk:healthreporting:system"]["SystemType"] == "enhanced"
    assert options["aws:elasticbeanstalk:cloudwatch:logs"]["StreamLogs"] is True
    # the load balancer keeps its default idle timeout (60 s), below the service's keep-alive (65 s)
    assert "aws:elbv2:loadbalancer" not in options and "aws:elb:policies" not in options


def test_lock_file_has_no_download_addresses_and_matches_package_json(bake, express_bakes):
    bake_id, project = bake
    package = json.loads((project / "package.json").read_text(encoding="utf-8"))
    text = (project / "package-lock.json").read_text(encoding="utf-8")
    lock = json.loads(text)
    name = answers(bake_id)["repo_name"]
    assert package["name"] == lock["name"] == lock["packages"][""]["name"] == name
    assert package["description"] == answers(bake_id)["short_description"]
    assert '"resolved"' not in text
    assert all("integrity" in meta for path, meta in lock["packages"].items() if path and not meta.get("link"))
    root = lock["packages"][""]
    for key in ("dependencies", "devDependencies", "engines"):
        assert root[key] == package[key], key
    default = json.loads((express_bakes["defaults"] / "package.json").read_text(encoding="utf-8"))
    assert (package["dependencies"], package["devDependencies"]) == (default["dependencies"], default["devDependencies"]), \
        "the dependency set must not depend on the answers (one lock file serves every bake)"
    assert set(package["scripts"]) >= {"start", "dev", "test", "lint", "test:e2e"}
    major = answers(bake_id)["node_version"]
    assert package["engines"]["node"].startswith(f">={major}.")
    assert (project / ".nvmrc").read_text(encoding="utf-8").strip() == major


def test_npmrc_reads_the_token_from_the_environment(bake):
    bake_id, project = bake
    lines = (project / ".npmrc").read_text(encoding="utf-8").splitlines()
    settings = [line for line in lines if line and not line.startswith("#")]
    assert "omit-lockfile-registry-resolved=true" in settings
    if answers(bake_id)["npm_registry_url"]:
        assert "@acme:registry=https://npm.example.com/registry/" in settings
        assert "//npm.example.com/registry/:_authToken=${NPM_TOKEN}" in settings
    else:
        assert not any(":registry=" in line or "_auth" in line for line in settings)
    assert all("_authToken=" not in line or line.endswith("=${NPM_TOKEN}") for line in settings)


def test_option_files_follow_the_answers(bake):
    bake_id, project = bake
    given = answers(bake_id)
    fluentd = given["log_shipping"] == "fluentd"
    assert (project / "fluentd" / "fluent.conf").is_file() == fluentd
    assert (project / "docker-compose.fluentd.yml").is_file() == fluentd
    assert (project / "newrelic.js").is_file() == (given["use_newrelic"] == "yes")
    instrument = (project / "src" / "instrument.js").read_text(encoding="utf-8")
    assert ("require('@sentry/node')" in instrument) == (given["use_sentry"] == "yes")
    assert ("require('newrelic')" in instrument) == (given["use_newrelic"] == "yes")
    app = (project / "src" / "app.js").read_text(encoding="utf-8")
    assert ("setupExpressErrorHandler" in app) == (given["use_sentry"] == "yes")
    compose = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))
    assert ("secrets" in compose) == bool(given["npm_registry_url"])
    if fluentd:
        override = yaml.safe_load((project / "docker-compose.fluentd.yml").read_text(encoding="utf-8"))
        assert override["services"]["app"]["logging"]["driver"] == "fluentd"
        assert override["services"]["fluentd"]["volumes"] == ["./fluentd:/fluentd/etc:ro"]


def test_rundeck_job_runs_the_batch_script(bake):
    bake_id, project = bake
    jobs = yaml.safe_load((project / "rundeck" / "jobs.yaml").read_text(encoding="utf-8"))
    assert [job["name"] for job in jobs] == ["daily-report"]
    job = jobs[0]
    assert job["group"] == answers(bake_id)["repo_name"]
    assert "node scripts/daily-report.js" in job["sequence"]["commands"][0]["exec"]
    assert (project / "scripts" / "daily-report.js").is_file()


def test_record_names_the_template_and_the_answers(bake):
    bake_id, project = bake
    record = json.loads((project / "cookiepatcher.json").read_text(encoding="utf-8"))
    assert record["directory"] == "express-template"
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"])
    assert record["context"] == answers(bake_id)


def test_all_on_bake_uses_the_unusual_answers(express_bakes):
    project = express_bakes["all-on"]
    assert project.name == ALL_ON["repo_name"]
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "acme-orders-api-blue" in readme and "eu-west-1" in readme
    assert "NPM_TOKEN" in readme
