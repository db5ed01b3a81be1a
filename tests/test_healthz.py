"""GET /healthz reports the database, the channel layer and LiveKit."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

TOKEN = "healthz-token-for-the-load-balancer-0001"


def test_everything_up_answers_200(client: Client, db: Any, livekit_sim: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: c["status"] for name, c in body["checks"].items()} == {
        "database": "up",
        "channel_layer": "up",
        "livekit": "up",
    }
    assert response["Cache-Control"].startswith("max-age=0")


def test_livekit_down_answers_503_and_names_it(client: Client, db: Any, settings: Any) -> None:
    settings.LIVEKIT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.HEALTHZ_TOKEN = TOKEN
    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["livekit"]["status"] == "down"
    assert checks["livekit"]["error"]
    assert checks["database"]["status"] == "up"


def test_wrong_livekit_credentials_count_as_down(
    client: Client, db: Any, livekit_sim: Any, settings: Any
) -> None:
    settings.LIVEKIT_API_SECRET = "not-the-secret-livekit-knows-about"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["livekit"]["status"] == "down"


@pytest.mark.django_db(transaction=True)
def test_database_down_answers_503_and_names_it(client: Client, livekit_sim: Any) -> None:
    original = dict(connection.settings_dict)
    # The pooled connections were opened with the real settings: start a new pool.
    close_pool = getattr(connection, "close_pool", lambda: None)
    connection.close()
    close_pool()
    if connection.vendor == "postgresql":
        connection.settings_dict["PORT"] = "9"
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/roomwatch.sqlite3"
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        close_pool()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["livekit"]["status"] == "up"


def test_only_get_is_allowed(client: Client, db: Any) -> None:
    assert client.post("/healthz").status_code == 405


# ------------------------------------------------ who sees why something is down


@pytest.fixture
def livekit_down(settings: Any) -> None:
    settings.LIVEKIT_URL = "http://127.0.0.1:9"


def test_anonymous_callers_get_up_or_down_without_the_reason(
    client: Client, db: Any, livekit_down: None
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": {"status": "up"},
        "channel_layer": {"status": "up"},
        "livekit": {"status": "down"},
    }
    assert "127.0.0.1" not in response.content.decode()


def test_signed_in_staff_see_the_reason(client_for: Any, support: Any, livekit_down: None) -> None:
    response = client_for(support).get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["livekit"]["error"]


def test_a_caller_with_the_token_sees_the_reason(
    client: Client, db: Any, settings: Any, livekit_down: None
) -> None:
    settings.HEALTHZ_TOKEN = TOKEN

    with_token = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    wrong_token = client.get("/healthz", HTTP_AUTHORIZATION="Bearer not-the-token")

    assert with_token.json()["checks"]["livekit"]["error"]
    assert "error" not in wrong_token.json()["checks"]["livekit"]


def test_the_metrics_token_also_shows_the_reason(
    client: Client, db: Any, settings: Any, livekit_down: None
) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.HEALTHZ_TOKEN = ""

    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.json()["checks"]["livekit"]["error"]


def test_outsiders_signed_in_see_no_reason(
    client_for: Any, outsider: Any, livekit_down: None
) -> None:
    response = client_for(outsider).get("/healthz")

    assert "error" not in response.json()["checks"]["livekit"]


# ------------------------------------ the channel layer with Redis and idle sockets

REDIS_LAYERS = [
    "channels_redis.pubsub.RedisPubSubChannelLayer",
    "channels_redis.core.RedisChannelLayer",
]


@pytest.fixture
def redis_layer(request: pytest.FixtureRequest, settings: Any) -> Any:
    """The real Redis channel layer (REDIS_URL, as in production and CI)."""
    import os

    from channels.layers import channel_layers

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": request.param,
            "CONFIG": {"hosts": [url], "prefix": "healthz-test"},
        }
    }
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


@pytest.mark.parametrize("redis_layer", REDIS_LAYERS, indirect=True)
@pytest.mark.django_db(transaction=True)
async def test_idle_open_sockets_do_not_make_the_channel_layer_look_down(
    redis_layer: str, support: Any, livekit_sim: Any, async_client: Any
) -> None:
    from tests.test_consumers import connected_for

    sockets = [await connected_for(support, path) for path in ("/ws/rooms/", "/ws/wall/")]
    try:
        answers = [await async_client.get("/healthz") for _ in range(5)]
    finally:
        for socket in sockets:
            await socket.disconnect()

    assert [a.status_code for a in answers] == [200] * 5
    assert {a.json()["checks"]["channel_layer"]["status"] for a in answers} == {"up"}


@pytest.mark.parametrize("redis_layer", REDIS_LAYERS, indirect=True)
def test_the_check_leaves_no_subscription_or_key_behind(
    redis_layer: str, client: Client, db: Any, livekit_sim: Any
) -> None:
    import os

    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    conn = redis.Redis.from_url(url)
    before = set(conn.pubsub_channels("healthz-test*"))

    for _ in range(3):
        assert client.get("/healthz").status_code == 200

    assert set(conn.pubsub_channels("healthz-test*")) == before
    assert not conn.keys("healthz-test*")


def test_the_in_memory_layer_is_checked_by_a_round_trip(
    client: Client, db: Any, livekit_sim: Any, settings: Any
) -> None:
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()

    assert response.json()["checks"]["channel_layer"] == {"status": "up"}
