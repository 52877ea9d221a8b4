"""The example resource through the API: who may read, create, change and delete."""
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from {{ cookiecutter.project_name }}.notes.models import Note

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob", password="pw-bob-123")


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_anonymous_can_list_but_not_create(alice):
    Note.objects.create(owner=alice, title="hello")
    listing = client_for().get("/api/notes/")
    assert listing.status_code == 200
    assert [n["title"] for n in listing.json()["results"]] == ["hello"]
    assert client_for().post("/api/notes/", {"title": "x"}, format="json").status_code == 403


def test_create_sets_owner_from_request(alice):
    response = client_for(alice).post("/api/notes/", {"title": "mine", "body": "text", "owner": "bob"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == "alice"
    assert Note.objects.get().owner == alice


def test_only_owner_may_change_or_delete(alice, bob):
    note = Note.objects.create(owner=alice, title="alice's")
    url = f"/api/notes/{note.pk}/"
    assert client_for(bob).patch(url, {"title": "bob was here"}, format="json").status_code == 403
    assert client_for(bob).delete(url).status_code == 403
    assert client_for(alice).patch(url, {"title": "renamed"}, format="json").status_code == 200
    note.refresh_from_db()
    assert note.title == "renamed"
    assert client_for(alice).delete(url).status_code == 204
    assert not Note.objects.exists()


def test_title_is_required(alice):
    response = client_for(alice).post("/api/notes/", {"body": "no title"}, format="json")
    assert response.status_code == 400
    assert "title" in response.json()
