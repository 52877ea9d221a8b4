"""Serializer of the example model."""
from rest_framework import serializers

from {{ cookiecutter.project_name }}.notes.models import Note


class NoteSerializer(serializers.ModelSerializer):
    """A note as JSON; ``owner`` is the owner's username, set from the request."""

    owner = serializers.ReadOnlyField(source="owner.username")

    class Meta:
        model = Note
        fields = ["id", "owner", "title", "body", "created_at", "updated_at"]
        read_only_fields = ["id", "owner", "created_at", "updated_at"]
