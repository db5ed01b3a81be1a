"""Prometheus metrics, served at ``/metrics`` (``monitoring.views.health.metrics``).

Two kinds of figures:

- Counted in this process (webhooks received, pushes sent, open sockets, LiveKit calls,
  reconciler corrections): scrape every web process (each daphne port) to see them all.
- Read from the database at scrape time (pending inbox events, apply lag, the last
  reconciler pass): the same, and correct, from whichever process is scraped, whichever
  process applies or reconciles.

Other modules call the small functions below; none of them may raise.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Applied events younger than this make the apply-lag figures; at most the latest
# LAG_SAMPLE of them are read, so a scrape costs the same however busy the console is.
LAG_WINDOW_SECONDS = 300
LAG_SAMPLE = 5000

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "roomwatch_webhooks",
    "LiveKit webhooks received by this process, by outcome "
    "(accepted, duplicate, refused: bad signature or body, error: not recorded).",
    ["outcome"],
    registry=REGISTRY,
)
PUSHES = Counter(
    "roomwatch_pushes",
    "Messages sent to page groups by this process, by page (rooms, room, wall, queue, "
    "console, user).",
    ["page"],
    registry=REGISTRY,
)
SOCKETS = Gauge(
    "roomwatch_open_sockets",
    "Live sockets open in this process, by page.",
    ["page"],
    registry=REGISTRY,
)
LIVEKIT_SECONDS = Histogram(
    "roomwatch_livekit_call_seconds",
    "Duration of LiveKit API calls made by this process, by method.",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
LIVEKIT_ERRORS = Counter(
    "roomwatch_livekit_errors",
    "LiveKit API calls that failed, by method and Twirp code (deadline_exceeded, "
    "unavailable, not_found, ...).",
    ["method", "code"],
    registry=REGISTRY,
)
RECONCILER_CORRECTIONS = Counter(
    "roomwatch_reconciler_corrections",
    "Corrections the reconciler made to the mirror in this process.",
    registry=REGISTRY,
)


def _safe(fn: Callable[..., None]) -> Callable[..., None]:
    """Metrics never break what they measure."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # pragma: no cover - a bug here must not fail a request
            logger.exception("metrics: %s failed", fn.__name__)

    return wrapper


# --- Called by other modules --------------------------------------------------------


@_safe
def webhook_received(outcome: str) -> None:
    WEBHOOKS.labels(outcome=outcome).inc()


def page_of(group: str) -> str:
    """The page a group belongs to: ``room.12.moderator`` -> ``room``."""
    return group.split(".", 1)[0] or "other"


@_safe
def push_sent(group: str) -> None:
    PUSHES.labels(page=page_of(group)).inc()


@_safe
def socket_opened(page: str) -> None:
    SOCKETS.labels(page=page).inc()


@_safe
def socket_closed(page: str) -> None:
    SOCKETS.labels(page=page).dec()


@_safe
def livekit_call_done(method: str, seconds: float, error_code: str | None = None) -> None:
    LIVEKIT_SECONDS.labels(method=method).observe(seconds)
    if error_code is not None:
        LIVEKIT_ERRORS.labels(method=method, code=error_code).inc()


def timed_livekit_call(call: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate the gateway's one request function: time every call and count its
    errors, labelled with the gateway function that made it (``list_rooms``, ...)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The gateway function awaiting us (list_rooms, ping, ...).
        method = sys._getframe(1).f_code.co_name.lstrip("_")

        async def timed() -> Any:
            started = time.perf_counter()
            try:
                result = await call(*args, **kwargs)
            except Exception as exc:
                code = getattr(exc, "code", None) or type(exc).__name__
                livekit_call_done(method, time.perf_counter() - started, str(code))
                raise
            livekit_call_done(method, time.perf_counter() - started)
            return result

        return timed()

    functools.update_wrapper(wrapper, call)
    return wrapper


@_safe
def reconciler_corrected(count: int) -> None:
    if count > 0:
        RECONCILER_CORRECTIONS.inc(count)


# --- Read from the database at scrape time -----------------------------------------


class DatabaseCollector:
    """Inbox backlog and apply lag, and the last reconciler pass, read when scraped."""

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            yield from self._inbox()
        except Exception as exc:
            logger.warning("metrics: inbox figures unavailable: %s", exc)
        try:
            yield from self._reconciler()
        except Exception as exc:
            logger.warning("metrics: reconciler figures unavailable: %s", exc)

    def _inbox(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count, Min
        from django.utils import timezone

        from monitoring.models import InboxEvent

        now = timezone.now()
        pending = InboxEvent.objects.filter(applied_at__isnull=True).aggregate(
            count=Count("id"), oldest=Min("received_at")
        )
        yield GaugeMetricFamily(
            "roomwatch_inbox_pending_events",
            "Webhook events recorded and not yet applied.",
            value=pending["count"],
        )
        oldest = pending["oldest"]
        yield GaugeMetricFamily(
            "roomwatch_inbox_oldest_pending_seconds",
            "Age of the oldest event not yet applied (0 when none is pending).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )
        since = now - timedelta(seconds=LAG_WINDOW_SECONDS)
        recent = InboxEvent.objects.filter(applied_at__gte=since)
        rows = recent.order_by("-applied_at").values_list("received_at", "applied_at")
        lags = sorted(max(0.0, (a - r).total_seconds()) for r, a in rows[:LAG_SAMPLE])
        yield GaugeMetricFamily(
            "roomwatch_inbox_applied_recent_events",
            f"Events applied in the last {LAG_WINDOW_SECONDS} s.",
            value=recent.count(),
        )
        lag = GaugeMetricFamily(
            "roomwatch_apply_lag_seconds",
            f"Time from recording to applying, over the latest {LAG_SAMPLE} events applied "
            f"in the last {LAG_WINDOW_SECONDS} s (0 when none was).",
            labels=["quantile"],
        )
        for name, q in (("0.5", 0.5), ("0.99", 0.99), ("1", 1.0)):
            value = lags[min(len(lags) - 1, int(q * (len(lags) - 1) + 0.5))] if lags else 0.0
            lag.add_metric([name], value)
        yield lag
        yield GaugeMetricFamily(
            "roomwatch_inbox_failed_recent_events",
            f"Events whose applying failed in the last {LAG_WINDOW_SECONDS} s.",
            value=recent.filter(outcome__startswith="failed").count(),
        )

    def _reconciler(self) -> Iterator[GaugeMetricFamily]:
        from django.utils import timezone

        from monitoring import models

        pass_model = getattr(models, "ReconcilePass", None)
        if pass_model is None:
            return
        last = pass_model.objects.order_by("-started_at", "-pk").first()
        if last is None:
            return
        figures = {
            "age_seconds": (timezone.now() - last.started_at).total_seconds(),
            "duration_seconds": last.duration_ms / 1000,
            "ok": 1.0 if last.ok else 0.0,
            "corrections": last.corrections,
            "rooms_corrected": last.rooms_corrected,
        }
        for name, value in figures.items():
            yield GaugeMetricFamily(
                f"roomwatch_reconciler_last_pass_{name}",
                f"The last reconciler pass (any process): {name.replace('_', ' ')}.",
                value=value,
            )


REGISTRY.register(DatabaseCollector())


def exposition() -> bytes:
    """Every metric in Prometheus' text format (reads the database)."""
    return generate_latest(REGISTRY)
