"""Batch example: delete notes older than a number of days (run by Rundeck, see rundeck/)."""
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from {{ cookiecutter.project_name }}.notes.models import Note


class Command(BaseCommand):
    """``manage.py purge_notes --older-than-days N [--dry-run]``."""

    help = "Delete notes created more than N days ago."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-days", type=int, default=90, help="age in days (default 90)")
        parser.add_argument("--dry-run", action="store_true", help="count only, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than_days"]
        if days < 1:
            raise CommandError("--older-than-days must be at least 1")
        old = Note.objects.filter(created_at__lt=timezone.now() - timedelta(days=days))
        if options["dry_run"]:
            self.stdout.write(f"would delete {old.count()} notes older than {days} days")
            return
        deleted, _ = old.delete()
        self.stdout.write(f"deleted {deleted} notes older than {days} days")
