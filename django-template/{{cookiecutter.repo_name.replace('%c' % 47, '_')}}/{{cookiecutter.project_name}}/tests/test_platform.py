"""Health check, OpenAPI schema, Swagger UI without CDN, JSON logs."""
import json
import logging

import pytest
from django.test import Client, override_settings

from {{ cookiecutter.project_name }}.jsonlog import JsonFormatter


@override_settings(ALLOWED_HOSTS=["api.example.com"])
def test_healthz_answers_any_host_header():
    # The load balancer's health checker sends the instance IP as Host.
    response = Client(HTTP_HOST="10.0.12.34").get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@override_settings(ALLOWED_HOSTS=["api.example.com"])
def test_other_paths_still_check_the_host_header():
    assert Client(HTTP_HOST="10.0.12.34").get("/api/schema/").status_code == 400


@override_settings(SECURE_SSL_REDIRECT=True)
def test_healthz_is_not_redirected_to_https():
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/api/schema/").status_code == 301


def test_schema_lists_the_example_resource():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/notes/" in schema["paths"]


@pytest.mark.django_db
def test_swagger_ui_uses_no_cdn():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page


def test_log_lines_are_json_with_extra_fields():
    record = logging.makeLogRecord(
        {"name": "app", "levelname": "INFO", "msg": "hi %s", "args": ("there",), "order_id": 7}
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert (data["level"], data["logger"], data["message"], data["order_id"]) == ("INFO", "app", "hi there", 7)
