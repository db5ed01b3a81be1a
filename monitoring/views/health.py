from __future__ import annotations

import asyncio
import logging
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring import livekit

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("healthz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned a different message")


async def _check(name: str, coro) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(coro, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # every failure is reported, none may crash the probe
        logger.warning("healthz: %s is down: %s", name, exc)
        return name, {"status": "down", "error": str(exc) or type(exc).__name__}
    return name, {"status": "up"}


def _last_reconcile() -> dict[str, object] | None:
    """The last reconciler pass's figures (informative: they never fail the probe)."""
    from monitoring.reconciler import last_pass

    try:
        last = last_pass()
    except Exception as exc:
        logger.warning("healthz: the last reconciler pass cannot be read: %s", exc)
        return None
    return last.as_json() if last is not None else None


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness of what the console depends on; 503 when any of them is down."""
    results = dict(
        await asyncio.gather(
            _check("database", sync_to_async(_database, thread_sensitive=True)()),
            _check("channel_layer", _channel_layer()),
            _check("livekit", livekit.ping()),
        )
    )
    healthy = all(r["status"] == "up" for r in results.values())
    reconciler = await sync_to_async(_last_reconcile, thread_sensitive=True)()
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": results, "reconciler": reconciler},
        status=200 if healthy else 503,
    )
