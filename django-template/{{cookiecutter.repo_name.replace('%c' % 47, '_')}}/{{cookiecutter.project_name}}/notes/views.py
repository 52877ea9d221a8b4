"""API views of the example resource."""
from rest_framework import permissions, viewsets
from rest_framework.serializers import BaseSerializer

from {{ cookiecutter.project_name }}.notes.models import Note
from {{ cookiecutter.project_name }}.notes.permissions import IsOwnerOrReadOnly
from {{ cookiecutter.project_name }}.notes.serializers import NoteSerializer


class NoteViewSet(viewsets.ModelViewSet):
    """List, read, create, update and delete notes (``/api/notes/``)."""

    queryset = Note.objects.select_related("owner")
    serializer_class = NoteSerializer
    permission_classes = [permissions.IsAuthenticatedOrReadOnly, IsOwnerOrReadOnly]

    def perform_create(self, serializer: BaseSerializer) -> None:
        """Save the new note as the requesting user's."""
        serializer.save(owner=self.request.user)
