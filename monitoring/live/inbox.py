"""The inbox: a verified webhook is recorded, once, before LiveKit gets its answer.

This is everything a webhook request does: verify the signature on the raw body,
insert one ``InboxEvent`` row (LiveKit's event id is unique, so a redelivery inserts
nothing) and answer. The row is committed before the answer, so an event answered
with 2xx survives any crash after it; appliers (``monitoring.live.applier``) apply it.
Nothing here grows with the room or with the number of open pages.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from monitoring import livekit
from monitoring.models import InboxEvent

# Real events can exceed 1 MiB (512 KiB room metadata + 512 KiB participant metadata +
# 64 KiB attributes) and LiveKit never retries a 4xx: accept up to 2 MiB.
MAX_BODY_BYTES = 2 * 1024 * 1024

# Set whenever an event is recorded, so an applier in this process starts at once.
recorded = threading.Event()


@dataclass(frozen=True)
class Recorded:
    """What happened to one delivery: ``accepted`` (new) or ``duplicate``."""

    status: str
    event_id: str
    kind: str


def room_key(event: livekit.WebhookEvent) -> str:
    """The queue an event is applied in: its room's name (every event names it; ingress
    events carry no sid), else the egress or ingress it is about."""
    if event.room is not None and event.room.name:
        return f"room:{event.room.name}"
    if event.egress is not None and event.egress.room_name:
        return f"room:{event.egress.room_name}"
    if event.ingress is not None and event.ingress.room_name:
        return f"room:{event.ingress.room_name}"
    if event.room is not None and event.room.sid:
        return f"sid:{event.room.sid}"
    return "none"


def webhook_record(*, body: str, authorization: str) -> Recorded:
    """Verify a webhook and record it in the inbox.

    Raises ``livekit.WebhookRejected`` (not ours: 401) or ``ValueError`` (signed but
    not a LiveKit event: 400); database errors propagate (the view answers 503).
    """
    event = livekit.webhook_receive(body, authorization)
    if not event.event:
        raise ValueError("The webhook names no event.")
    # LiveKit always sets an id; without one, the body itself identifies a redelivery.
    event_id = event.id or "body:" + hashlib.sha256(body.encode()).hexdigest()[:56]
    # One statement in autocommit: one round trip and one commit per event, and a
    # redelivery (same id) inserts nothing.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboxEvent._meta.db_table} "
            "(event_id, kind, room_key, body, received_at, outcome, attempts) "
            "VALUES (%s, %s, %s, %s, %s, '', 0) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING id",
            [event_id, event.event[:40], room_key(event)[:300], body, timezone.now()],
        )
        inserted = cursor.fetchone() is not None
    if not inserted:
        return Recorded("duplicate", event_id, event.event)
    recorded.set()
    return Recorded("accepted", event_id, event.event)
