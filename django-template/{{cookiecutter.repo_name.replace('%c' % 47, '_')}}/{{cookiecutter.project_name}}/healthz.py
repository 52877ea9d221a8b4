"""``/healthz`` for the load balancer, answered before any Host header check.

The Elastic Beanstalk load balancer's health checker sends the instance's IP address as
the Host header, which ``ALLOWED_HOSTS`` rightly refuses. This middleware sits first in
``MIDDLEWARE`` and answers ``GET``/``HEAD /healthz`` itself, so ``CommonMiddleware`` and
``SecurityMiddleware`` (SSL redirect) never see those requests.
"""
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

HEALTHZ_PATH = "/healthz"


class HealthCheckMiddleware:
    """Answer ``/healthz`` with 200 ``{"status": "ok"}``; pass every other request on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") == HEALTHZ_PATH and request.method in ("GET", "HEAD"):
            return JsonResponse({"status": "ok"})
        return self.get_response(request)
