"""Admin registration of the example model."""
from django.contrib import admin

from {{ cookiecutter.project_name }}.notes.models import Note


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    """List notes with their owner and creation time."""

    list_display = ("title", "owner", "created_at")
    search_fields = ("title",)
