"""``POST /livekit/webhook``: LiveKit's signed events, applied to the mirror.

No session and no CSRF token: the signature is the authentication. The raw body is
verified before anything is parsed or written, and the answer is quick (LiveKit
retries slow and 5xx deliveries, and drops events older than 30 s).
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from monitoring import livekit, mirror

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@never_cache
def livekit_webhook(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "Webhooks must be sent with POST.")
        response["Allow"] = "POST"
        return response
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, "The webhook body is too large.")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "The webhook body is not UTF-8 text.")
    authorization = request.headers.get("Authorization", "")
    try:
        event = livekit.webhook_receive(body, authorization)
    except livekit.WebhookRejected as exc:
        logger.warning("webhook refused: %s", exc)
        return _error(401, str(exc))
    except ValueError as exc:
        return _error(400, str(exc))
    if not event.event:
        return _error(400, "The webhook names no event.")
    payload = json.loads(body)  # already parsed once as the signed proto JSON
    result = mirror.event_apply(event=event, payload=payload)
    return JsonResponse({"status": result.outcome, "detail": result.detail})
