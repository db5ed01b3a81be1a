"""With Redis (the channel layer) down, the console says so and keeps working: actions
still take effect and are recorded; only the live pushes are lost until it returns."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from monitoring.localhost import free_port
from monitoring.models import AuditEntry
from tests.test_actions import mirror_room, post_action, sim_participant


@pytest.fixture
def redis_down(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }


def test_healthz_names_the_channel_layer_as_down(
    client: Client, db: Any, livekit_sim: Any, redis_down: None, settings: Any
) -> None:
    settings.HEALTHZ_TOKEN = "healthz-token-for-the-load-balancer-0001"
    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {settings.HEALTHZ_TOKEN}")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["channel_layer"]["status"] == "down"
    assert checks["channel_layer"]["error"]
    assert checks["database"]["status"] == "up"
    assert checks["livekit"]["status"] == "up"


@pytest.mark.django_db(transaction=True)
def test_a_kick_still_takes_effect_and_is_audited(
    client: Client, moderator: Any, livekit_sim: Any, redis_down: None
) -> None:
    livekit_sim.join("stage", "host-1", publish=["microphone", "camera"])
    livekit_sim.join("stage", "troll-9")
    room = mirror_room(livekit_sim, "stage")
    client.force_login(moderator)

    response = post_action(client, room, "kick", identity="troll-9")

    assert response.status_code == 200
    assert sim_participant(livekit_sim, "stage", "troll-9") is None
    entry = AuditEntry.objects.get(action="participant.kick", identity="troll-9")
    assert entry.outcome == "done"
