"""Permission of the example resource."""
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView


class IsOwnerOrReadOnly(permissions.BasePermission):
    """Anyone may read; only the owner may change or delete."""

    def has_object_permission(self, request: Request, view: APIView, obj: object) -> bool:
        """True for safe methods, else only when ``obj.owner`` is the requesting user."""
        if request.method in permissions.SAFE_METHODS:
            return True
        return getattr(obj, "owner_id", None) == request.user.pk
