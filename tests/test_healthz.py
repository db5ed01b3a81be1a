"""GET /healthz reports the database, the channel layer and LiveKit."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client


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
    response = client.get("/healthz")
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
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict["PORT"] = "9"
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/roomwatch.sqlite3"
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["livekit"]["status"] == "up"


def test_only_get_is_allowed(client: Client, db: Any) -> None:
    assert client.post("/healthz").status_code == 405
