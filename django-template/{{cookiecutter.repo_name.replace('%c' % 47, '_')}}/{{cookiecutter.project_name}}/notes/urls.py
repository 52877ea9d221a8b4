"""URLs of the example resource."""
from rest_framework.routers import DefaultRouter

from {{ cookiecutter.project_name }}.notes.views import NoteViewSet

router = DefaultRouter()
router.register("notes", NoteViewSet, basename="note")

urlpatterns = router.urls
