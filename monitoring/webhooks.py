"""``POST /livekit/webhook``: LiveKit's signed events, recorded in the inbox.

No session and no CSRF token: the signature is the authentication. The raw body is
verified before anything is parsed or written. The answer comes as soon as the event
is durably recorded (LiveKit gives up on slow deliveries and drops events older than
30 s); appliers update the mirror and the pages outside this request.

Served twice over the same rules (``webhook_answer``): as a Django view (the URLconf,
tests, any WSGI server) and, under ASGI, by :class:`FastPath` in front of Django, so
that the hottest endpoint skips the middleware and the per-request thread that pages
need and it does not.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.http.request import split_domain_port, validate_host
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from monitoring import livekit, metrics
from monitoring.live import inbox

logger = logging.getLogger(__name__)

# LiveKit retries a 503 with backoff; tell it when to come back.
RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True)
class Answer:
    status: int
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": message}, headers)


def webhook_answer(*, method: str, body: bytes, authorization: str) -> Answer:
    """What to answer one delivery, having recorded it when it is a LiveKit event."""
    if method != "POST":
        return _error(405, "Webhooks must be sent with POST.", Allow="POST")
    if len(body) > inbox.MAX_BODY_BYTES:
        return _error(413, "The webhook body is too large.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "The webhook body is not UTF-8 text.")
    try:
        recorded = inbox.webhook_record(body=text, authorization=authorization)
    except livekit.WebhookRejected as exc:
        logger.warning("webhook refused: %s", exc)
        return _error(401, str(exc))
    except ValueError as exc:
        return _error(400, str(exc))
    except DatabaseError as exc:
        # Not recorded, so not accepted: LiveKit retries 5xx (not 4xx) with backoff.
        logger.warning("webhook not recorded, database unavailable: %s", exc)
        return _error(
            503,
            "The console cannot record events right now; retry shortly.",
            **{"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return Answer(200, {"status": recorded.status, "event": recorded.event_id})


def _counted(answer: Answer) -> Answer:
    status = answer.status
    outcome = "error" if status >= 500 else "refused" if status >= 400 else "accepted"
    if outcome == "accepted" and answer.payload.get("status") == "duplicate":
        outcome = "duplicate"
    metrics.webhook_received(outcome)
    return answer


@csrf_exempt
@never_cache
def livekit_webhook(request: HttpRequest) -> JsonResponse:
    answer = _counted(
        webhook_answer(
            method=request.method or "",
            body=request.body,
            authorization=request.headers.get("Authorization", ""),
        )
    )
    response = JsonResponse(answer.payload, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


class FastPath:
    """ASGI middleware: answers ``/livekit/webhook`` itself, everything else goes on.

    Same rules as the view (``webhook_answer``) and the same host check Django makes;
    the work runs in the shared thread pool with a pooled connection.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.path = reverse("monitoring:livekit-webhook")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host, _port = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
        if not host or not validate_host(host, settings.ALLOWED_HOSTS):
            answer = _error(400, "The request's host is not one this console serves.")
        else:
            body = await _body(receive, limit=inbox.MAX_BODY_BYTES)
            if body is None:
                answer = _error(413, "The webhook body is too large.")
            else:
                answer = await database_sync_to_async(webhook_answer, thread_sensitive=False)(
                    method=scope.get("method", ""),
                    body=body,
                    authorization=headers.get(b"authorization", b"").decode("latin-1"),
                )
        answer = _counted(answer)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"max-age=0, no-cache, no-store, must-revalidate, private"),
                    *[(k.lower().encode(), v.encode()) for k, v in answer.headers.items()],
                ],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer.payload).encode()})


async def _body(receive: Any, *, limit: int) -> bytes | None:
    """The request body, or None once it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
