"""``GET /healthz``: is the database, the channel layer and LiveKit up?

Load balancers call it anonymously: they get each dependency's up/down and 200 or 503.
The reason a dependency is down (an address, an error text) is shown only to signed-in
staff or to a caller with ``Authorization: Bearer <HEALTHZ_TOKEN>`` (or METRICS_TOKEN).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import Action, can
from monitoring import livekit

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis_hosts() -> list[Any]:
    """The Redis servers behind the default channel layer, or none for other layers."""
    config = settings.CHANNEL_LAYERS.get("default", {})
    if not str(config.get("BACKEND", "")).startswith("channels_redis."):
        return []
    return list(config.get("CONFIG", {}).get("hosts") or ["redis://localhost:6379"])


async def _redis_ping(host: Any) -> None:
    # A connection of its own, not the layer's: a PING must not wait behind the layer's
    # subscriptions, nor a receive behind the process's one receive loop (a message sent
    # to the check's own channel name then waited for an idle socket's receive to finish,
    # so idle consoles answered TimeoutError).
    import redis.asyncio as aioredis
    from channels_redis.utils import create_pool, decode_hosts

    client = aioredis.Redis(connection_pool=create_pool(decode_hosts([host])[0]))
    try:
        if not await client.ping():
            raise RuntimeError("Redis did not answer PING")
    finally:
        await client.aclose(close_connection_pool=True)


async def _channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    hosts = _redis_hosts()
    if hosts:
        await asyncio.gather(*(_redis_ping(host) for host in hosts))
        return
    # A process-local layer (in memory): a round trip on a channel of its own.
    channel = await layer.new_channel()
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


def bearer_matches(request: HttpRequest, token: str) -> bool:
    """``Authorization: Bearer <token>`` with ``token`` set (compared in constant time)."""
    if not token:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def _may_see_details(request: HttpRequest) -> bool:
    if bearer_matches(request, settings.HEALTHZ_TOKEN) or bearer_matches(
        request, settings.METRICS_TOKEN
    ):
        return True
    try:
        user = await request.auser()
        return await sync_to_async(can)(user, Action.VIEW)
    except Exception:  # the database may be what is down: then only the token helps
        return False


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
    if not await _may_see_details(request):
        results = {name: {"status": r["status"]} for name, r in results.items()}
    reconciler = await sync_to_async(_last_reconcile, thread_sensitive=True)()
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": results, "reconciler": reconciler},
        status=200 if healthy else 503,
    )


def _from_allowed_network(request: HttpRequest) -> bool:
    import ipaddress

    from config.proxy import client_address

    address = client_address(request)
    if not address or not settings.METRICS_ALLOWED_NETWORKS:
        return False
    ip = ipaddress.ip_address(address)
    return any(
        ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape: ``Authorization: Bearer <METRICS_TOKEN>``, or a client address
    in ``METRICS_ALLOWED_NETWORKS``; nothing is served while neither is configured."""
    from monitoring import metrics as figures

    if not (bearer_matches(request, settings.METRICS_TOKEN) or _from_allowed_network(request)):
        if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_NETWORKS:
            return HttpResponse(
                "Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.\n",
                status=403,
                content_type="text/plain",
            )
        return HttpResponse(
            "A bearer token (METRICS_TOKEN) is required.\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return HttpResponse(figures.exposition(), content_type=figures.CONTENT_TYPE)
