"""GET /metrics: Prometheus figures for a self-hoster, behind a token or a network
setting; JSON log lines with LOG_FORMAT=json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone

from monitoring import livekit, metrics, realtime
from monitoring.models import InboxEvent
from tests.test_webhooks import body_of, post, room_event, sign

TOKEN = "metrics-token-for-prometheus-000001"


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: Client, settings: Any) -> str:
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def value_in(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in the scrape")


# ------------------------------------------------------------------ who may scrape


@pytest.mark.django_db
class TestAccess:
    def test_nothing_is_served_while_neither_a_token_nor_a_network_is_set(
        self, client: Client
    ) -> None:
        response = client.get("/metrics")

        assert response.status_code == 403
        assert b"METRICS_TOKEN" in response.content

    def test_the_token_is_required_once_set(self, client: Client, settings: Any) -> None:
        settings.METRICS_TOKEN = TOKEN

        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200

    def test_an_allowed_network_scrapes_without_the_token(
        self, client: Client, settings: Any
    ) -> None:
        settings.METRICS_ALLOWED_NETWORKS = ["10.20.0.0/16"]

        assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="10.21.3.4").status_code == 401

    def test_a_forwarded_header_does_not_fake_an_allowed_network(
        self, client: Client, settings: Any
    ) -> None:
        settings.METRICS_ALLOWED_NETWORKS = ["10.20.0.0/16"]
        settings.TRUSTED_PROXY_COUNT = 0

        response = client.get(
            "/metrics", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="10.20.1.1"
        )

        assert response.status_code == 401

    def test_staff_sessions_do_not_open_metrics(self, client_for: Any, admin: Any) -> None:
        assert client_for(admin).get("/metrics").status_code == 403


# --------------------------------------------------------- read from the database


@pytest.mark.django_db
def test_pending_events_and_apply_lag_are_read_from_the_database(
    client: Client, settings: Any
) -> None:
    now = timezone.now()
    InboxEvent.objects.create(
        event_id="EV_pending1",
        kind="room_started",
        room_key="a",
        body="{}",
        received_at=now - timedelta(seconds=30),
    )
    InboxEvent.objects.create(
        event_id="EV_applied1",
        kind="room_started",
        room_key="b",
        body="{}",
        received_at=now - timedelta(seconds=3),
        applied_at=now,
        outcome="applied",
    )
    InboxEvent.objects.create(
        event_id="EV_applied2",
        kind="room_started",
        room_key="c",
        body="{}",
        received_at=now - timedelta(seconds=1),
        applied_at=now,
        outcome="failed: boom",
    )

    text = scrape(client, settings)

    assert value_in(text, "roomwatch_inbox_pending_events") == 1
    assert 29 <= value_in(text, "roomwatch_inbox_oldest_pending_seconds") < 60
    assert value_in(text, "roomwatch_inbox_applied_recent_events") == 2
    assert 2.9 <= value_in(text, 'roomwatch_apply_lag_seconds{quantile="1"}') <= 3.1
    assert value_in(text, "roomwatch_inbox_failed_recent_events") == 1


@pytest.mark.django_db
def test_an_empty_inbox_reads_zero(client: Client, settings: Any) -> None:
    text = scrape(client, settings)

    assert value_in(text, "roomwatch_inbox_pending_events") == 0
    assert value_in(text, "roomwatch_inbox_oldest_pending_seconds") == 0
    assert value_in(text, 'roomwatch_apply_lag_seconds{quantile="0.5"}') == 0


# --------------------------------------------------------------- counted in-process


@pytest.mark.django_db
def test_webhooks_are_counted_by_how_they_were_answered(client: Client) -> None:
    before = {
        o: sample("roomwatch_webhooks_total", outcome=o)
        for o in ("accepted", "duplicate", "refused")
    }
    body = body_of(room_event("room_started", event_id="EV_count0000001"))

    post(client, body, sign(body))
    post(client, body, sign(body))
    post(client, body, "not-a-signature")

    after = {o: sample("roomwatch_webhooks_total", outcome=o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {
        "accepted": 1,
        "duplicate": 1,
        "refused": 1,
    }


def test_pushes_are_counted_per_page(settings: Any) -> None:
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    before = sample("roomwatch_pushes_total", page="room")
    try:
        realtime.group_send(realtime.role_group(realtime.room_group(7), "support"), {"type": "x"})
    finally:
        channel_layers.backends.clear()

    assert sample("roomwatch_pushes_total", page="room") - before == 1


@pytest.mark.django_db(transaction=True)
async def test_open_sockets_are_counted_per_page(support: Any, settings: Any) -> None:
    from channels.layers import channel_layers

    from tests.test_consumers import connected_for

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    before = sample("roomwatch_open_sockets", page="rooms")
    sockets = [await connected_for(support, "/ws/rooms/") for _ in range(2)]
    wall = await connected_for(support, "/ws/wall/")
    try:
        assert sample("roomwatch_open_sockets", page="rooms") - before == 2
    finally:
        for socket in [*sockets, wall]:
            await socket.disconnect()
        channel_layers.backends.clear()

    assert sample("roomwatch_open_sockets", page="rooms") == before


def test_livekit_calls_are_timed_per_method(livekit_sim: Any) -> None:
    before = sample("roomwatch_livekit_call_seconds_count", method="list_rooms")

    async_to_sync(livekit.list_rooms)()

    assert sample("roomwatch_livekit_call_seconds_count", method="list_rooms") - before == 1


def test_livekit_errors_are_counted_by_code(settings: Any) -> None:
    settings.LIVEKIT_URL = "http://127.0.0.1:9"
    before = sample("roomwatch_livekit_errors_total", method="ping", code="unavailable")

    with pytest.raises(livekit.LiveKitError) as failure:
        async_to_sync(livekit.ping)()

    code = failure.value.code
    assert (
        sample("roomwatch_livekit_errors_total", method="ping", code=code)
        - (before if code == "unavailable" else 0)
        == 1
    )


@pytest.mark.django_db(transaction=True)
def test_reconciler_corrections_are_counted_and_the_last_pass_is_shown(
    client: Client, settings: Any, livekit_sim: Any
) -> None:
    from monitoring import reconciler

    livekit_sim.join("studio-m", "host-1", publish=["microphone"])
    before = sample("roomwatch_reconciler_corrections_total")

    result = reconciler.reconcile_once()

    assert result.corrections
    assert sample("roomwatch_reconciler_corrections_total") - before == len(result.corrections)
    text = scrape(client, settings)
    assert value_in(text, "roomwatch_reconciler_last_pass_corrections") == len(result.corrections)
    assert value_in(text, "roomwatch_reconciler_last_pass_ok") == 1


# ---------------------------------------------------------------------------- logs


def run_logging(log_format: str) -> str:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('monitoring.test').warning('webhook refused: %s', 'bad', "
        "extra={'room': 'studio-a'})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_FORMAT": log_format}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stderr.strip()


def test_log_format_json_writes_one_json_object_per_line() -> None:
    line = run_logging("json").splitlines()[-1]

    record = json.loads(line)
    assert record["levelname"] == "WARNING"
    assert record["name"] == "monitoring.test"
    assert record["message"] == "webhook refused: bad"
    assert record["room"] == "studio-a"


def test_plain_logs_stay_the_default() -> None:
    line = run_logging("plain").splitlines()[-1]

    assert line.endswith("WARNING monitoring.test webhook refused: bad")
