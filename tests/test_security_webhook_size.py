"""Real LiveKit events can exceed 1 MiB (512 KiB room metadata + 512 KiB participant
metadata + 64 KiB attributes) and LiveKit never retries a 4xx: up to 2 MiB is accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from livekit.protocol import models

from monitoring.live import inbox
from monitoring.models import InboxEvent, Participant
from tests.test_webhooks import body_of, post, room_event, sign

pytestmark = pytest.mark.django_db

KIB = 1024


def joined_with_metadata(room_metadata: int, participant_metadata: int) -> str:
    event = room_event(
        "participant_joined",
        event_id="EV_big000000001",
        participant=models.ParticipantInfo(
            sid="PA_big",
            identity="host-1",
            state=models.ParticipantInfo.State.ACTIVE,
            joined_at=1,
            metadata=json.dumps({"bio": "p" * participant_metadata}),
            attributes={f"a{i}": "v" * 1000 for i in range(64)},
        ),
    )
    event.room.metadata = json.dumps({"about": "r" * room_metadata})
    return body_of(event)


def test_a_signed_event_of_one_and_a_half_mib_is_accepted_and_applied(client: Any) -> None:
    body = joined_with_metadata(room_metadata=700 * KIB, participant_metadata=700 * KIB)
    assert 1.4 * 1024 * KIB < len(body.encode()) < 2 * 1024 * KIB

    response = post(client, body, sign(body))

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert InboxEvent.objects.get(event_id="EV_big000000001").applied_at is not None
    assert len(Participant.objects.get(identity="host-1").metadata) > 700 * KIB


def test_django_lets_a_body_up_to_the_webhook_limit_reach_the_view() -> None:
    assert inbox.MAX_BODY_BYTES == 2 * 1024 * KIB
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE > inbox.MAX_BODY_BYTES


def test_a_body_over_two_mib_is_refused_with_413(client: Any) -> None:
    body = joined_with_metadata(room_metadata=1100 * KIB, participant_metadata=1100 * KIB)

    response = post(client, body, sign(body), apply=False)

    assert response.status_code == 413
    assert not InboxEvent.objects.exists()
