"""Overload and outage: a request the database cannot serve now is answered 503.

When every pooled connection is busy for ``ROOMWATCH_DB_POOL_TIMEOUT_SECONDS``, or
the database cannot be reached, the view's ``OperationalError`` becomes a 503 with
``Retry-After`` (LiveKit retries 5xx webhooks; browsers and API clients are told to
come back) instead of a 500 that looks like a bug and is never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
MESSAGE = "The console is overloaded or its database is unavailable; retry shortly."
_JSON_PREFIXES = ("/api/", "/livekit/", "/healthz")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("answering 503 for %s: %s", request.path, exception)
        if request.path.startswith(_JSON_PREFIXES) or not request.accepts("text/html"):
            response: HttpResponse = JsonResponse(
                {"error": {"code": "unavailable", "message": MESSAGE}}, status=503
            )
        else:
            response = HttpResponse(render_to_string("503.html", {"message": MESSAGE}), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
