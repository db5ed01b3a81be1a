"""POST /livekit/webhook: only LiveKit's signed events change the mirror, once each."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol import models, webhook

from monitoring.live import applier
from monitoring.models import InboxEvent, Participant, Room, RoomEvent

URL = "/livekit/webhook"


def body_of(event: webhook.WebhookEvent) -> str:
    return MessageToJson(event, indent=None)


def sign(
    body: str,
    *,
    key: str | None = None,
    secret: str | None = None,
    ttl: timedelta = timedelta(minutes=5),
) -> str:
    """A raw JWT like LiveKit's: HS256 with the API secret and the body's sha256."""
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(key or settings.LIVEKIT_API_KEY, secret or settings.LIVEKIT_API_SECRET)
    return token.with_ttl(ttl).with_sha256(digest).to_jwt()


def post(client: Any, body: str, authorization: str | None, *, apply: bool = True) -> Any:
    """Deliver a webhook as LiveKit does; then (unless ``apply=False``) let the applier
    apply whatever the inbox now holds, as the applier process would right after."""
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = client.post(URL, data=body, content_type="application/webhook+json", **headers)
    if apply:
        applier.apply_pending()
    return response


def room_event(
    kind: str,
    *,
    event_id: str = "EV_room0000001",
    sid: str = "RM_abcdefabcdef",
    name: str = "studio-a",
    created_at: int | None = None,
    **fields: Any,
) -> webhook.WebhookEvent:
    return webhook.WebhookEvent(
        event=kind,
        id=event_id,
        created_at=created_at or int(time.time()),
        room=models.Room(sid=sid, name=name, creation_time=int(time.time()), departure_timeout=20),
        **fields,
    )


@pytest.fixture
def started() -> str:
    return body_of(room_event("room_started"))


@pytest.mark.django_db
class TestSignature:
    def test_it_applies_a_signed_room_started(self, client: Any, started: str) -> None:
        response = post(client, started, sign(started))

        assert response.status_code == 200
        assert response.json() == {"status": "accepted", "event": "EV_room0000001"}
        room = Room.objects.get(sid="RM_abcdefabcdef")
        assert room.name == "studio-a"
        assert room.status == "idle"
        assert room.events.get().event_id == "EV_room0000001"

    def test_it_refuses_an_unsigned_webhook(self, client: Any, started: str) -> None:
        response = post(client, started, None)

        assert response.status_code == 401
        assert "not signed" in response.json()["error"]
        assert not Room.objects.exists()

    def test_it_refuses_a_webhook_forged_with_another_secret(
        self, client: Any, started: str
    ) -> None:
        response = post(
            client, started, sign(started, secret="not-the-console-secret-at-all-0123456789")
        )

        assert response.status_code == 401
        assert "signature" in response.json()["error"]
        assert not Room.objects.exists()

    def test_it_refuses_a_webhook_signed_with_an_unknown_key(
        self, client: Any, started: str
    ) -> None:
        response = post(client, started, sign(started, key="someone-else"))

        assert response.status_code == 401
        assert not Room.objects.exists()

    def test_it_refuses_a_tampered_body(self, client: Any, started: str) -> None:
        tampered = started.replace("studio-a", "studio-b")

        response = post(client, tampered, sign(started))

        assert response.status_code == 401
        assert "does not match" in response.json()["error"]
        assert not Room.objects.exists()

    def test_it_refuses_an_expired_webhook(self, client: Any, started: str) -> None:
        response = post(client, started, sign(started, ttl=timedelta(minutes=-5)))

        assert response.status_code == 401
        assert "expired" in response.json()["error"].lower()
        assert not Room.objects.exists()

    def test_it_refuses_a_bearer_prefixed_token_like_livekit_does(
        self, client: Any, started: str
    ) -> None:
        response = post(client, started, "Bearer " + sign(started))

        assert response.status_code == 401
        assert not Room.objects.exists()

    def test_it_refuses_a_token_without_a_body_hash(self, client: Any, started: str) -> None:
        token = api.AccessToken(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET).to_jwt()

        response = post(client, started, token)

        assert response.status_code == 401
        assert "hash" in response.json()["error"]
        assert not Room.objects.exists()

    def test_it_answers_400_to_a_signed_body_that_is_not_an_event(self, client: Any) -> None:
        body = "this is not json"

        response = post(client, body, sign(body))

        assert response.status_code == 400
        assert "not a LiveKit webhook event" in response.json()["error"]
        assert not RoomEvent.objects.exists()

    def test_it_answers_400_to_a_signed_event_without_a_kind(self, client: Any) -> None:
        body = json.dumps({"id": "EV_nokind000001"})

        response = post(client, body, sign(body))

        assert response.status_code == 400
        assert not RoomEvent.objects.exists()

    def test_it_answers_405_to_get(self, client: Any) -> None:
        response = client.get(URL)

        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert "POST" in response.json()["error"]

    def test_it_needs_no_csrf_token_or_session(self, started: str) -> None:
        from django.test import Client

        strict = Client(enforce_csrf_checks=True)

        response = post(strict, started, sign(started))

        assert response.status_code == 200


@pytest.mark.django_db
class TestDeduplication:
    def test_a_redelivered_event_answers_200_and_changes_nothing(self, client: Any) -> None:
        post(client, *_signed(room_event("room_started")))
        joined = room_event(
            "participant_joined",
            event_id="EV_join00000001",
            participant=models.ParticipantInfo(
                sid="PA_one", identity="alice", joined_at=int(time.time())
            ),
        )
        first = post(client, *_signed(joined))
        updated_at = Room.objects.get().updated_at

        again = post(client, *_signed(joined))

        assert first.json()["status"] == "accepted"
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        room = Room.objects.get()
        assert room.num_participants == 1
        assert room.updated_at == updated_at
        assert RoomEvent.objects.filter(event_id="EV_join00000001").count() == 1
        assert Participant.objects.count() == 1

    def test_an_unknown_event_kind_is_acknowledged_and_ignored(self, client: Any) -> None:
        response = post(client, *_signed(room_event("room_exploded")))

        assert response.status_code == 200
        assert response.json()["status"] == "accepted"
        assert InboxEvent.objects.get().outcome.startswith("ignored")
        assert not Room.objects.exists()


def _signed(event: webhook.WebhookEvent) -> tuple[str, str]:
    body = body_of(event)
    return body, sign(body)
