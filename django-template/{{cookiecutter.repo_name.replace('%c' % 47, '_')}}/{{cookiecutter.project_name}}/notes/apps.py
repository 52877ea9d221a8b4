"""App configuration of the example resource."""
from django.apps import AppConfig


class NotesConfig(AppConfig):
    """The ``notes`` app (label ``notes``)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "{{ cookiecutter.project_name }}.notes"
    label = "notes"
