"""``POST /livekit/webhook``: LiveKit's signed events, recorded in the inbox.

No session and no CSRF token: the signature is the authentication. The raw body is
verified before anything is parsed or written. The answer comes as soon as the event
is durably recorded (LiveKit gives up on slow deliveries and drops events older than
30 s); appliers update the mirror and the pages outside this request.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from monitoring import livekit, metrics
from monitoring.live import inbox

logger = logging.getLogger(__name__)

# LiveKit retries a 503 with backoff; tell it when to come back.
RETRY_AFTER_SECONDS = 2


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@never_cache
@metrics.counted_webhook
def livekit_webhook(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "Webhooks must be sent with POST.")
        response["Allow"] = "POST"
        return response
    raw = request.body
    if len(raw) > inbox.MAX_BODY_BYTES:
        return _error(413, "The webhook body is too large.")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "The webhook body is not UTF-8 text.")
    try:
        recorded = inbox.webhook_record(
            body=body, authorization=request.headers.get("Authorization", "")
        )
    except livekit.WebhookRejected as exc:
        logger.warning("webhook refused: %s", exc)
        return _error(401, str(exc))
    except ValueError as exc:
        return _error(400, str(exc))
    except DatabaseError as exc:
        # Not recorded, so not accepted: LiveKit retries 5xx (not 4xx) with backoff.
        logger.warning("webhook not recorded, database unavailable: %s", exc)
        response = _error(503, "The console cannot record events right now; retry shortly.")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"status": recorded.status, "event": recorded.event_id})
