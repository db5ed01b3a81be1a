"""The bare endpoint the console's webhook is compared with: verify, upsert one row.

It does the least a correct receiver must: verify the signature and body hash with
``livekit.api.WebhookReceiver`` and upsert one row (raw SQL, its own table) before
answering. It imports ``livekit.api`` itself on purpose: it is the yardstick, not
console code (which goes through ``monitoring.livekit``).
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection

PATH = "/bench/bare-webhook"
TABLE = "bench_bare_event"


def table_create() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "event_id varchar(64) PRIMARY KEY, kind varchar(40) NOT NULL, "
            "body text NOT NULL, received_at double precision NOT NULL)"
        )


def table_clear() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")


def count(prefix: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE event_id LIKE %s", [prefix + "%"])
        return int(cursor.fetchone()[0])


@cache
def _receiver() -> Any:
    from livekit import api

    return api.WebhookReceiver(
        api.TokenVerifier(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
    )


def record(body: bytes, authorization: str) -> tuple[int, bytes]:
    """(status, JSON body) for one delivery."""
    try:
        event = _receiver().receive(body.decode(), authorization)
    except Exception as exc:
        return 401, json.dumps({"error": str(exc)}).encode()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (event_id, kind, body, received_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (event_id) DO UPDATE SET received_at = excluded.received_at",
                [event.id, event.event, body.decode(), time.time()],
            )
    finally:
        # Back to the pool (PostgreSQL), like a request's connection at its end.
        connection.close()
    return 200, b'{"status": "accepted"}'
