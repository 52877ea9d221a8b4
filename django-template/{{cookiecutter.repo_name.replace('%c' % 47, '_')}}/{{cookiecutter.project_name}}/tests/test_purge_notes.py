"""The batch example command."""
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from {{ cookiecutter.project_name }}.notes.models import Note

pytestmark = pytest.mark.django_db


def make_note(title: str, age_days: int) -> Note:
    owner, _ = get_user_model().objects.get_or_create(username="owner")
    note = Note.objects.create(owner=owner, title=title)
    Note.objects.filter(pk=note.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return note


def test_purge_deletes_only_old_notes():
    make_note("old", 40)
    make_note("new", 1)
    out = StringIO()
    call_command("purge_notes", "--older-than-days", "30", stdout=out)
    assert out.getvalue().strip() == "deleted 1 notes older than 30 days"
    assert list(Note.objects.values_list("title", flat=True)) == ["new"]


def test_dry_run_deletes_nothing():
    make_note("old", 40)
    out = StringIO()
    call_command("purge_notes", "--older-than-days", "30", "--dry-run", stdout=out)
    assert "would delete 1 notes" in out.getvalue()
    assert Note.objects.count() == 1


def test_rejects_non_positive_age():
    with pytest.raises(CommandError):
        call_command("purge_notes", "--older-than-days", "0")
