"""Smoke tests of a running service (see conftest.py for the target)."""


def test_healthz(http, base_url):
    response = http.get(f"{base_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_schema_is_served(http, base_url):
    response = http.get(f"{base_url}/api/schema/", timeout=10, headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    assert "/api/notes/" in response.json()["paths"]


def test_notes_are_readable_anonymously(http, base_url):
    response = http.get(f"{base_url}/api/notes/", timeout=10)
    assert response.status_code == 200
    assert "results" in response.json()
