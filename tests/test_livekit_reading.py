"""How the console reads what LiveKit sends: name-only rooms in ingress events, minimal
rooms in track events, MIGRATION, JOINING participants and what the counts mean."""

from __future__ import annotations

import time
from typing import Any

import pytest
from livekit.protocol import ingress, models, webhook

from monitoring.live import applier
from monitoring.mirror.derive import disconnect_is_abnormal
from monitoring.mirror.rows import room_timeouts_unknown
from monitoring.models import InboxEvent, Ingress, Participant, Room, RoomEvent
from monitoring.reconciler import reconcile_once
from tests.test_webhooks import body_of, post, sign

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 600


def deliver(client: Any, event: webhook.WebhookEvent) -> None:
    body = body_of(event)
    assert post(client, body, sign(body)).status_code == 200


def full_room(sid: str, created: int, name: str = "stage") -> models.Room:
    return models.Room(
        sid=sid, name=name, creation_time=created, empty_timeout=300, departure_timeout=20
    )


def room_started(client: Any, sid: str, at: int) -> Room:
    deliver(
        client,
        webhook.WebhookEvent(
            event="room_started", id=f"EV_start{sid}", created_at=at, room=full_room(sid, at)
        ),
    )
    return Room.objects.get(sid=sid)


def room_finished(client: Any, sid: str, at: int, created: int) -> None:
    deliver(
        client,
        webhook.WebhookEvent(
            event="room_finished", id=f"EV_end{sid}", created_at=at, room=full_room(sid, created)
        ),
    )


def ingress_event(kind: str, *, at: int, event_id: str) -> webhook.WebhookEvent:
    """As LiveKit sends it: the room has only its name."""
    status = (
        ingress.IngressState.Status.ENDPOINT_PUBLISHING
        if kind == "ingress_started"
        else ingress.IngressState.Status.ENDPOINT_INACTIVE
    )
    return webhook.WebhookEvent(
        event=kind,
        id=event_id,
        created_at=at,
        room=models.Room(name="stage"),
        ingress_info=ingress.IngressInfo(
            ingress_id="IN_encoder", name="obs", room_name="stage", state={"status": status}
        ),
    )


# -- ingress events: matched to the session open at their time ---------------------


def test_an_ingress_started_after_the_previous_session_ended_does_not_attach_to_it(client):
    room_started(client, "RM_first", T0)
    room_finished(client, "RM_first", T0 + 60, T0)

    deliver(client, ingress_event("ingress_started", at=T0 + 120, event_id="EV_ing1"))

    assert not Ingress.objects.exists(), "the ended session got nothing"
    assert not RoomEvent.objects.filter(kind="ingress_started").exists()
    assert InboxEvent.objects.get(event_id="EV_ing1").outcome.startswith("ignored")


def test_an_ingress_started_after_the_previous_session_ended_attaches_to_the_new_one(client):
    room_started(client, "RM_first", T0)
    room_finished(client, "RM_first", T0 + 60, T0)
    new = room_started(client, "RM_second", T0 + 100)

    deliver(client, ingress_event("ingress_started", at=T0 + 120, event_id="EV_ing1"))

    assert Ingress.objects.get().room == new
    assert RoomEvent.objects.get(kind="ingress_started").room == new


def test_a_late_ingress_ended_of_the_previous_session_stays_with_that_session(client):
    first = room_started(client, "RM_first", T0)
    deliver(client, ingress_event("ingress_started", at=T0 + 10, event_id="EV_ing1"))
    # The next session starts (its room_started supersedes the first one) ...
    room_started(client, "RM_second", T0 + 100)
    # ... and the first session's ingress_ended, stamped before that, arrives late.
    deliver(client, ingress_event("ingress_ended", at=T0 + 50, event_id="EV_ing2"))

    assert RoomEvent.objects.get(kind="ingress_ended").room == first
    assert Ingress.objects.get().room == first


# -- track events: a minimal room never brings zero timeouts ----------------------------


def test_a_room_first_seen_in_a_track_event_keeps_default_timeouts_until_reconciled(
    client, client_for, support, livekit_sim
):
    livekit_sim.create_room("stage", empty_timeout=600, departure_timeout=45)
    livekit_sim.join("stage", "host-1")
    livekit_sim.clear_outbox()
    livekit_sim.publish("stage", "host-1", "camera")
    (published,) = livekit_sim.outbox()
    response = client.post(
        "/livekit/webhook",
        data=published["body"],
        content_type=published["content_type"],
        HTTP_AUTHORIZATION=published["authorization"],
    )
    assert response.status_code == 200
    applier.apply_pending()

    room = Room.objects.get()
    assert (room.empty_timeout, room.departure_timeout) == (300, 20), "LiveKit's defaults"
    assert room_timeouts_unknown(room=room)
    page = client_for(support).get(f"/rooms/{room.pk}/").content.decode()
    assert "Timeouts not known yet" in page

    reconcile_once()

    room.refresh_from_db()
    assert (room.empty_timeout, room.departure_timeout) == (600, 45)
    assert not room_timeouts_unknown(room=room)
    assert "Timeouts not known yet" not in client.get(f"/rooms/{room.pk}/").content.decode()


# -- MIGRATION and JOINING ---------------------------------------------------------------


def test_a_migration_is_a_deliberate_disconnect_not_a_drop(client):
    room = room_started(client, "RM_first", T0)
    host = models.ParticipantInfo(
        sid="PA_host", identity="host-1", state=models.ParticipantInfo.State.ACTIVE
    )
    deliver(
        client,
        webhook.WebhookEvent(
            event="participant_joined",
            id="EV_join",
            created_at=int(time.time()) - 5,
            room=full_room("RM_first", T0),
            participant=host,
        ),
    )
    Participant.objects.filter(sid="PA_host").update(is_publisher=True, tracks=[{"sid": "TR_a"}])
    host.disconnect_reason = models.DisconnectReason.MIGRATION
    host.state = models.ParticipantInfo.State.DISCONNECTED
    deliver(
        client,
        webhook.WebhookEvent(
            event="participant_left",
            id="EV_left",
            created_at=int(time.time()),
            room=full_room("RM_first", T0),
            participant=host,
        ),
    )

    room.refresh_from_db()
    assert room.status == "idle", "not waiting for a reconnect"
    assert room.publisher_dropped_at is None
    assert not disconnect_is_abnormal("MIGRATION")


def test_a_joining_participant_is_shown_as_joining_and_not_counted(
    client, client_for, support, livekit_sim
):
    livekit_sim.join("stage", "host-1")
    livekit_sim.join("stage", "slow-1", connect=False)

    reconcile_once()

    room = Room.objects.get()
    slow = Participant.objects.get(identity="slow-1")
    assert slow.state == "JOINING"
    assert room.num_participants == 1
    row = client_for(support).get(f"/rooms/{room.pk}/").content.decode()
    assert f'id="participant-{slow.pk}"' in row and "joining" in row

    livekit_sim.connect("stage", "slow-1")
    reconcile_once()

    room.refresh_from_db()
    assert Participant.objects.get(identity="slow-1").state == "ACTIVE"
    assert room.num_participants == 2


# -- what each count means -----------------------------------------------------------------


def test_the_room_page_says_what_each_count_means(client_for, support, livekit_sim):
    livekit_sim.join("stage", "host-1", publish=["camera"])
    reconcile_once()
    room = Room.objects.get()

    page = client_for(support).get(f"/rooms/{room.pk}/").content.decode()

    assert "People in the room who are connected" in page
    assert "publishing at least one track now" in page
