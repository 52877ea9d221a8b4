"""The baked service itself: its own tests, Django's deploy checks, the schema, gunicorn.

All bakes share one virtualenv (``service_python``) holding the all-options requirements.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from bake_helpers import run, service_env

PRODUCTION = {
    "DJANGO_SECRET_KEY": "prod-like-" + "k3y-" * 16,
    "DJANGO_ALLOWED_HOSTS": "my-service.example.com",
    "DATABASE_URL": "sqlite:///prod.sqlite3",
}


@pytest.mark.parametrize("name", ["defaults", "all-on"])
def test_service_tests_and_flake8_pass(django_bakes, service_python, name):
    project = django_bakes[name]
    proc = run([str(service_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
               env=service_env(DJANGO_SETTINGS_MODULE="my_service.settings", DJANGO_SECRET_KEY="test-only"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
    flake8 = run([str(service_python), "-m", "flake8"], cwd=project)
    assert flake8.returncode == 0, flake8.stdout


@pytest.mark.parametrize("name", ["defaults", "all-on"])
def test_deploy_checks_pass_with_production_settings(django_bakes, service_python, name):
    project = django_bakes[name]
    proc = run([str(service_python), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
               cwd=project, env=service_env(**PRODUCTION))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


def test_settings_refuse_to_start_without_secret_key(django_bakes, service_python):
    proc = run([str(service_python), "manage.py", "check"], cwd=django_bakes["defaults"], env=service_env())
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY" in proc.stderr


def test_openapi_schema_validates(django_bakes, service_python, tmp_path):
    out = tmp_path / "schema.json"
    proc = run([str(service_python), "manage.py", "spectacular", "--validate", "--fail-on-warn",
                "--format", "openapi-json", "--file", str(out)],
               cwd=django_bakes["all-on"], env=service_env(**PRODUCTION))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "/api/notes/" in json.loads(out.read_text())["paths"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, host: str, accept: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def gunicorn_url(django_bakes, service_python):
    """The all-options bake served by gunicorn on a loopback port, production settings."""
    project = django_bakes["all-on"]
    env = service_env(**{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}, DJANGO_SECURE_SSL_REDIRECT="false",
                      PORT=str(_free_port()), WEB_CONCURRENCY="1")
    for step in (["manage.py", "collectstatic", "--noinput"], ["manage.py", "migrate", "--noinput"]):
        proc = run([str(service_python), *step], cwd=project, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    gunicorn = Path(service_python).parent / "gunicorn"
    log = project.parent / "gunicorn.log"
    with open(log, "wb") as sink:
        server = subprocess.Popen([str(gunicorn), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{env['PORT']}",
                                   "my_service.wsgi"], cwd=project, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{url}/healthz", "127.0.0.1")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_gunicorn_answers_healthz_for_any_host(gunicorn_url):
    for host in ("127.0.0.1", "10.0.3.17", "evil.example.com"):
        status, body = _get(f"{gunicorn_url}/healthz", host)
        assert (status, json.loads(body)) == (200, {"status": "ok"}), host


def test_gunicorn_serves_schema_and_swagger_assets_but_checks_host(gunicorn_url):
    status, body = _get(f"{gunicorn_url}/api/schema/", "127.0.0.1", "application/vnd.oai.openapi+json")
    assert status == 200 and "/api/notes/" in json.loads(body)["paths"]
    assert _get(f"{gunicorn_url}/api/schema/", "10.0.3.17")[0] == 400
    status, page = _get(f"{gunicorn_url}/api/docs/", "127.0.0.1", "text/html")
    assert status == 200
    css = page.decode().split("swagger-ui-dist/swagger-ui.")[0].rsplit('"', 1)[1] + "swagger-ui-dist/swagger-ui.css"
    assert _get(gunicorn_url + css if css.startswith("/") else css, "127.0.0.1", "text/css")[0] == 200


def test_service_e2e_tests_pass_against_gunicorn(django_bakes, service_python, gunicorn_url):
    e2e = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "e2etests/pytest.ini", "-p", "no:django", "e2etests"]
    proc = run([str(service_python), *e2e], cwd=django_bakes["all-on"], env=service_env(E2E_BASE_URL=gunicorn_url))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout and "warning" not in proc.stdout.lower()


def test_gunicorn_and_django_log_json_lines(django_bakes, gunicorn_url):
    assert _get(f"{gunicorn_url}/api/notes/", "127.0.0.1")[0] == 200
    assert _get(f"{gunicorn_url}/api/notes/", "10.9.9.9")[0] == 400  # Django logs the DisallowedHost
    log = django_bakes["all-on"].parent / "gunicorn.log"
    deadline = time.monotonic() + 5
    while "DisallowedHost" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in entries)
    assert any(e["logger"] == "gunicorn.access" and "GET /api/notes/" in e["message"] for e in entries)
    assert any(e["logger"] == "django.security.DisallowedHost" for e in entries)
