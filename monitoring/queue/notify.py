"""The optional outgoing notification when an alert opens or updates a case.

Off unless ``ROOMWATCH_ALERT_WEBHOOK_URL`` is set. The JSON body is signed with
HMAC-SHA256 over the raw bytes using ``ROOMWATCH_ALERT_WEBHOOK_SECRET``, sent as
``X-Roomwatch-Signature: sha256=<hex>`` (with ``X-Roomwatch-Timestamp``, also covered by
the signature as ``<timestamp>.<body>``). Sent after commit from a thread of its own,
with a short timeout: the applier and requests never wait for it; failures are logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring.models import Case
from monitoring.queue import categories

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Roomwatch-Signature"
TIMESTAMP_HEADER = "X-Roomwatch-Timestamp"


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload_for(*, case: Case, rule: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "alert",
        "rule": rule,
        "title": categories.label(rule),
        "summary": detail.get("summary", ""),
        "case": {
            "id": case.pk,
            "room": case.room_name or None,
            "identity": case.identity or None,
            "reports": case.report_count,
            "path": f"/queue/cases/{case.pk}/",
        },
        "at": timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def alert_opened_on_commit(*, case: Case, rule: str, detail: dict[str, Any]) -> None:
    url = getattr(settings, "ROOMWATCH_ALERT_WEBHOOK_URL", "")
    if not url:
        return
    body = json.dumps(payload_for(case=case, rule=rule, detail=detail)).encode()
    transaction.on_commit(
        lambda: threading.Thread(
            target=send, kwargs={"url": url, "body": body}, name="alert-notify", daemon=True
        ).start()
    )


def send(*, url: str, body: bytes) -> bool:
    """POST one signed notification; True when the receiver answered 2xx."""
    secret = getattr(settings, "ROOMWATCH_ALERT_WEBHOOK_SECRET", "")
    timeout = float(getattr(settings, "ROOMWATCH_ALERT_WEBHOOK_TIMEOUT_SECONDS", 3))
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Roomwatch",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret=secret, timestamp=timestamp, body=body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            ok = 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.warning("alert notification to %s failed: %s", url, exc)
        return False
    if not ok:
        logger.warning("alert notification to %s answered %s", url, response.status)
    return ok
