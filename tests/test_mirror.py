"""The mirror: every LiveKit event applied, idempotently, and status and roles derived."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from livekit.protocol import egress, ingress, models

from monitoring.live import applier
from monitoring.mirror import participant_role_derive, room_status_derive
from monitoring.models import Egress, Ingress, Participant, Room, RoomEvent
from tests.test_webhooks import body_of, post, room_event, sign

NOW = timezone.now()


def deliver(client: Any, event: Any) -> Any:
    body = body_of(event)
    response = post(client, body, sign(body))
    assert response.status_code == 200, response.content
    return response.json()


def person(
    sid: str,
    identity: str,
    *,
    joined_at: int | None = None,
    can_publish: bool = True,
    kind: int = models.ParticipantInfo.Kind.STANDARD,
    attributes: dict[str, str] | None = None,
    metadata: str = "",
    reason: int = 0,
) -> models.ParticipantInfo:
    info = models.ParticipantInfo(
        sid=sid,
        identity=identity,
        state=models.ParticipantInfo.State.ACTIVE,
        joined_at=joined_at or int(time.time()),
        kind=kind,
        metadata=metadata,
        permission=models.ParticipantPermission(can_publish=can_publish, can_subscribe=True),
        disconnect_reason=reason,
    )
    info.attributes.update(attributes or {})
    return info


class Events:
    """Numbered, hand-signed events for one room (for cases the simulator cannot stage)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.n = 0

    def send(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.n += 1
        return deliver(self.client, room_event(kind, event_id=f"EV_hand{self.n:08d}", **fields))


@pytest.fixture
def events(client: Any, db: Any) -> Events:
    return Events(client)


def track(sid: str, source: int = models.TrackSource.CAMERA) -> models.TrackInfo:
    kind = (
        models.TrackType.AUDIO
        if source == models.TrackSource.MICROPHONE
        else (models.TrackType.VIDEO)
    )
    return models.TrackInfo(sid=sid, type=kind, source=source)


# --- Status -------------------------------------------------------------------------


class TestStatusDerivation:
    def test_a_room_nobody_publishes_in_is_idle(self) -> None:
        assert (
            room_status_derive(
                ended=False,
                recorded=False,
                num_publishers=0,
                publisher_dropped_at=None,
                departure_timeout=20,
                now=NOW,
            )
            == "idle"
        )

    def test_a_room_someone_publishes_in_is_live(self) -> None:
        assert (
            room_status_derive(
                ended=False,
                recorded=False,
                num_publishers=1,
                publisher_dropped_at=None,
                departure_timeout=20,
                now=NOW,
            )
            == "live"
        )

    def test_a_dropped_publisher_leaves_the_room_waiting_within_the_departure_timeout(
        self,
    ) -> None:
        dropped = NOW - timedelta(seconds=5)

        waiting = room_status_derive(
            ended=False,
            recorded=False,
            num_publishers=0,
            publisher_dropped_at=dropped,
            departure_timeout=20,
            now=NOW,
        )
        later = room_status_derive(
            ended=False,
            recorded=False,
            num_publishers=0,
            publisher_dropped_at=dropped,
            departure_timeout=20,
            now=NOW + timedelta(seconds=16),
        )

        assert waiting == "waitingReconnect"
        assert later == "idle"

    def test_an_ended_room_is_ended_or_recorded(self) -> None:
        common = {"num_publishers": 0, "publisher_dropped_at": None, "departure_timeout": 20}

        assert room_status_derive(ended=True, recorded=False, now=NOW, **common) == "ended"
        assert room_status_derive(ended=True, recorded=True, now=NOW, **common) == "recorded"


class TestStatusFromEvents:
    def test_a_room_goes_idle_live_waiting_and_ended(self, events: Events) -> None:
        host = person("PA_host", "host")
        events.send("room_started")
        events.send("participant_joined", participant=host)
        assert Room.objects.get().status == "idle"

        events.send("track_published", participant=host, track=track("TR_cam"))
        room = Room.objects.get()
        assert room.status == "live"
        assert room.live_since is not None
        assert room.num_publishers == 1

        dropped = person("PA_host", "host", reason=models.DisconnectReason.SIGNAL_CLOSE)
        events.send("participant_left", participant=dropped)
        room = Room.objects.get()
        assert room.status == "waitingReconnect"
        assert room.num_participants == 0

        events.send("room_finished")
        assert Room.objects.get().status == "ended"

    def test_a_publisher_leaving_on_purpose_makes_the_room_idle_not_waiting(
        self, events: Events
    ) -> None:
        host = person("PA_host", "host")
        events.send("room_started")
        events.send("participant_joined", participant=host)
        events.send("track_published", participant=host, track=track("TR_cam"))

        left = person("PA_host", "host", reason=models.DisconnectReason.CLIENT_INITIATED)
        events.send("participant_left", participant=left)

        room = Room.objects.get()
        assert room.status == "idle"
        assert room.live_since is None

    def test_a_room_whose_recording_completed_is_recorded_once_ended(self, events: Events) -> None:
        events.send("room_started")
        info = egress.EgressInfo(
            egress_id="EG_one",
            room_id="RM_abcdefabcdef",
            room_name="studio-a",
            status=egress.EgressStatus.EGRESS_ACTIVE,
        )
        events.send("egress_started", egress_info=info)
        assert Room.objects.get().active_recording is True

        info.status = egress.EgressStatus.EGRESS_COMPLETE
        events.send("egress_ended", egress_info=info)
        events.send("room_finished")

        room = Room.objects.get()
        assert room.active_recording is False
        assert room.status == "recorded"


# --- Roles --------------------------------------------------------------------------


class TestRoleDerivation:
    def test_the_role_attribute_wins(self) -> None:
        role = participant_role_derive(
            kind="STANDARD",
            attributes={"role": "co-host"},
            metadata="",
            can_publish=False,
            first_publisher=True,
        )
        assert role == "co-host"

    def test_the_role_key_in_json_metadata_is_read_next(self) -> None:
        role = participant_role_derive(
            kind="STANDARD",
            attributes={},
            metadata=json.dumps({"role": "Host"}),
            can_publish=False,
            first_publisher=False,
        )
        assert role == "host"

    @override_settings(ROOMWATCH_ROLE_KEY="stage_role")
    def test_the_role_key_is_configurable(self) -> None:
        attributes = {"role": "viewer", "stage_role": "host"}

        role = participant_role_derive(
            kind="STANDARD",
            attributes=attributes,
            metadata="",
            can_publish=False,
            first_publisher=False,
        )

        assert role == "host"

    def test_metadata_that_is_not_json_falls_back_to_publish_permission(self) -> None:
        role = participant_role_derive(
            kind="STANDARD",
            attributes={},
            metadata="<b>not json",
            can_publish=True,
            first_publisher=True,
        )
        assert role == "host"

    def test_publish_permission_makes_the_first_publisher_host_and_others_co_hosts(
        self,
    ) -> None:
        common = {"kind": "STANDARD", "attributes": {}, "metadata": "", "can_publish": True}

        assert participant_role_derive(first_publisher=True, **common) == "host"
        assert participant_role_derive(first_publisher=False, **common) == "co-host"

    def test_someone_who_cannot_publish_is_a_viewer(self) -> None:
        role = participant_role_derive(
            kind="STANDARD", attributes={}, metadata="", can_publish=False, first_publisher=True
        )
        assert role == "viewer"

    @pytest.mark.parametrize(
        ("kind", "role"),
        [("INGRESS", "ingress"), ("EGRESS", "egress"), ("AGENT", "agent"), ("SIP", "sip")],
    )
    def test_special_participants_are_shown_as_their_kind(self, kind: str, role: str) -> None:
        assert (
            participant_role_derive(
                kind=kind,
                attributes={"role": "host"},
                metadata="",
                can_publish=True,
                first_publisher=True,
            )
            == role
        )


class TestRolesFromEvents:
    def test_roles_and_host_follow_who_is_in_the_room(self, events: Events) -> None:
        events.send("room_started")
        events.send("participant_joined", participant=person("PA_a", "first", joined_at=100))
        events.send("participant_joined", participant=person("PA_b", "second", joined_at=101))
        events.send(
            "participant_joined",
            participant=person("PA_c", "watcher", joined_at=102, can_publish=False),
        )
        events.send(
            "participant_joined",
            participant=person(
                "PA_d", "recorder", joined_at=103, kind=models.ParticipantInfo.Kind.EGRESS
            ),
        )

        roles = dict(Participant.objects.values_list("identity", "role"))
        room = Room.objects.get()
        assert roles == {
            "first": "host",
            "second": "co-host",
            "watcher": "viewer",
            "recorder": "egress",
        }
        assert room.host_identity == "first"
        assert room.num_participants == 3  # the egress participant is not counted

        events.send("participant_left", participant=person("PA_a", "first", joined_at=100))

        assert Participant.objects.get(identity="second").role == "host"
        assert Room.objects.get().host_identity == "second"

    def test_a_declared_host_outranks_the_first_publisher(self, events: Events) -> None:
        events.send("room_started")
        events.send("participant_joined", participant=person("PA_a", "early", joined_at=100))
        events.send(
            "participant_joined",
            participant=person("PA_b", "star", joined_at=101, attributes={"role": "host"}),
        )

        roles = dict(Participant.objects.values_list("identity", "role"))
        assert roles == {"early": "co-host", "star": "host"}
        assert Room.objects.get().host_identity == "star"


# --- Idempotence and order ----------------------------------------------------------


class TestOrder:
    def test_a_late_participant_left_after_a_rejoin_leaves_the_participant_present(
        self, events: Events
    ) -> None:
        events.send("room_started")
        first = person("PA_old", "alice", joined_at=int(time.time()) - 10)
        events.send("participant_joined", participant=first)
        again = person("PA_new", "alice", joined_at=int(time.time()))
        events.send("participant_joined", participant=again)

        events.send("participant_left", participant=first)

        present = Participant.objects.filter(left_at__isnull=True)
        assert list(present.values_list("sid", flat=True)) == ["PA_new"]
        assert Room.objects.get().num_participants == 1

    def test_a_reconnecting_participant_whose_track_arrives_before_its_join_shows_once(
        self, events: Events
    ) -> None:
        events.send("room_started")
        first = person("PA_old", "alice", joined_at=int(time.time()) - 10)
        events.send("participant_joined", participant=first)
        again = person("PA_new", "alice", joined_at=int(time.time()))

        events.send("track_published", participant=again, track=track("TR_new"))

        present = Participant.objects.filter(left_at__isnull=True)
        assert list(present.values_list("sid", flat=True)) == ["PA_new"]
        assert Participant.objects.get(sid="PA_old").disconnect_reason == "DUPLICATE_IDENTITY"
        assert Room.objects.get().num_participants == 1
        events.send("participant_joined", participant=again)
        assert list(present.values_list("sid", flat=True)) == ["PA_new"]
        assert Room.objects.get().num_participants == 1

    def test_a_late_participant_left_of_the_same_session_before_its_rejoin_is_ignored(
        self, events: Events
    ) -> None:
        events.send("room_started")
        rejoined = int(time.time())
        events.send("participant_joined", participant=person("PA_one", "bob", joined_at=rejoined))

        stale = person("PA_one", "bob", joined_at=rejoined - 30)
        events.send("participant_left", participant=stale, created_at=rejoined - 20)

        assert Participant.objects.get().left_at is None

    def test_a_join_delivered_after_its_leave_does_not_bring_the_participant_back(
        self, events: Events
    ) -> None:
        events.send("room_started")
        carol = person("PA_c", "carol")
        events.send("participant_left", participant=carol)

        events.send("participant_joined", participant=carol)

        assert Participant.objects.get().left_at is not None
        assert Room.objects.get().num_participants == 0

    def test_a_track_published_after_its_unpublish_stays_unpublished(self, events: Events) -> None:
        events.send("room_started")
        dan = person("PA_d", "dan")
        events.send("participant_joined", participant=dan)
        events.send("track_unpublished", participant=dan, track=track("TR_x"))

        events.send("track_published", participant=dan, track=track("TR_x"))

        assert Participant.objects.get().tracks == []
        assert Room.objects.get().status == "idle"

    def test_an_older_egress_state_never_overwrites_a_newer_one(self, events: Events) -> None:
        events.send("room_started")
        info = egress.EgressInfo(
            egress_id="EG_one",
            room_id="RM_abcdefabcdef",
            room_name="studio-a",
            status=egress.EgressStatus.EGRESS_COMPLETE,
        )
        events.send("egress_ended", egress_info=info)

        info.status = egress.EgressStatus.EGRESS_ACTIVE
        events.send("egress_updated", egress_info=info)

        assert Egress.objects.get().status == "EGRESS_COMPLETE"
        assert Room.objects.get().active_recording is False

    def test_a_late_room_started_does_not_reopen_a_finished_room(self, events: Events) -> None:
        events.send("room_started")
        events.send("room_finished")

        events.send("room_started")

        assert Room.objects.get().status == "ended"

    def test_a_new_session_of_a_room_name_ends_the_old_one(self, events: Events) -> None:
        events.send("room_started", sid="RM_first0000001")
        events.send("participant_joined", sid="RM_first0000001", participant=person("PA_a", "a"))

        events.send("room_started", sid="RM_second000001")

        old = Room.objects.get(sid="RM_first0000001")
        assert old.status == "ended"
        assert old.participants.get().left_at is not None
        assert Room.objects.get(sid="RM_second000001").status == "idle"
        assert old.events.filter(kind="reconciled").exists()

    def test_events_for_a_room_the_mirror_never_saw_start_create_it(self, events: Events) -> None:
        events.send("participant_joined", participant=person("PA_a", "a"))

        room = Room.objects.get()
        assert room.sid == "RM_abcdefabcdef"
        assert room.num_participants == 1

    def test_every_event_is_stored_with_a_short_summary(self, events: Events) -> None:
        events.send("room_started")
        events.send("participant_joined", participant=person("PA_a", "alice"))
        events.send(
            "ingress_started",
            ingress_info=ingress.IngressInfo(
                ingress_id="IN_one",
                name="obs",
                room_name="studio-a",
                participant_identity="obs-feed",
                state=ingress.IngressState(status=ingress.IngressState.Status.ENDPOINT_PUBLISHING),
            ),
        )

        summaries = list(RoomEvent.objects.values_list("kind", "summary"))
        assert summaries == [
            ("room_started", "Room studio-a started"),
            ("participant_joined", "alice joined"),
            ("ingress_started", "Ingress obs started (endpoint_publishing)"),
        ]
        assert Ingress.objects.get().state == "ENDPOINT_PUBLISHING"


# --- Every event kind, as the simulator signs and sends it ---------------------------


def deliver_outbox(client: Any, sim: Any) -> list[str]:
    kinds = []
    for item in sim.outbox():
        response = client.post(
            "/livekit/webhook",
            data=item["body"],
            content_type=item["content_type"],
            HTTP_AUTHORIZATION=item["authorization"],
        )
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "accepted"
        assert applier.apply_pending() == 1
        kinds.append(item["event"])
    sim.clear_outbox()
    return kinds


@pytest.mark.django_db
class TestEveryEventKind:
    def test_room_and_participant_events_are_applied(self, client: Any, livekit_sim: Any) -> None:
        sim = livekit_sim
        sim.create_room("stage")
        assert deliver_outbox(client, sim) == ["room_started"]
        room = Room.objects.get(name="stage")
        assert room.status == "idle"

        sim.join("stage", "host", name="The Host", attributes={"role": "host"})
        assert deliver_outbox(client, sim) == ["participant_joined"]
        host = Participant.objects.get(identity="host")
        assert (host.name, host.role, host.left_at) == ("The Host", "host", None)

        track_sid = sim.publish("stage", "host", "camera")["sid"]
        assert deliver_outbox(client, sim) == ["track_published"]
        room.refresh_from_db()
        assert room.status == "live"
        assert [t["sid"] for t in Participant.objects.get(identity="host").tracks] == [track_sid]

        sim.unpublish("stage", "host", track_sid)
        assert deliver_outbox(client, sim) == ["track_unpublished"]
        assert Participant.objects.get(identity="host").tracks == []
        room.refresh_from_db()
        assert room.status == "idle"

        sim.join("stage", "shy", connect=False)
        sim.leave("stage", "shy")
        assert deliver_outbox(client, sim) == ["participant_connection_aborted"]
        assert Participant.objects.get(identity="shy").left_at is not None

        sim.leave("stage", "host")
        assert deliver_outbox(client, sim) == ["participant_left"]
        room.refresh_from_db()
        assert room.num_participants == 0
        assert Participant.objects.get(identity="host").disconnect_reason == "CLIENT_INITIATED"

        sim.advance(60)
        assert deliver_outbox(client, sim) == ["room_finished"]
        room.refresh_from_db()
        assert room.status == "ended"
        assert room.ended_at is not None

    def test_recording_events_are_applied(self, client: Any, livekit_sim: Any) -> None:
        sim = livekit_sim
        sim.join("stage", "host", publish=["camera"])
        deliver_outbox(client, sim)

        egress_id = sim.start_egress("stage")["egress_id"]
        assert deliver_outbox(client, sim) == ["egress_started"]
        assert Room.objects.get().active_recording is True

        sim.stop_egress(egress_id)
        assert deliver_outbox(client, sim) == ["egress_updated", "egress_ended"]
        assert Egress.objects.get(egress_id=egress_id).status == "EGRESS_COMPLETE"
        assert Room.objects.get().active_recording is False

    def test_ingress_events_are_applied(self, client: Any, livekit_sim: Any) -> None:
        sim = livekit_sim
        sim.create_room("stage")
        ingress_id = sim.create_ingress("stage", name="obs")["ingress_id"]
        sim.publish_ingress(ingress_id)
        kinds = deliver_outbox(client, sim)
        assert "ingress_started" in kinds
        feed = Participant.objects.get(kind="INGRESS")
        assert feed.role == "ingress"
        assert Ingress.objects.get().state == "ENDPOINT_PUBLISHING"
        assert Room.objects.get().status == "live"

        sim.end_ingress(ingress_id)
        kinds = deliver_outbox(client, sim)

        assert "ingress_ended" in kinds
        [listed] = sim.state()["ingress"]
        assert Ingress.objects.get().state == listed["status"] != "ENDPOINT_PUBLISHING"
        assert Room.objects.get().status == "idle"

    def test_a_dropped_publisher_leaves_the_room_waiting_for_a_reconnect(
        self, client: Any, livekit_sim: Any
    ) -> None:
        sim = livekit_sim
        sim.join("stage", "host", publish=["camera", "microphone"])
        sim.join("stage", "fan", can_publish=False)
        deliver_outbox(client, sim)

        sim.drop("stage", "host")
        deliver_outbox(client, sim)

        room = Room.objects.get()
        assert room.status == "waitingReconnect"
        assert room.num_participants == 1

        sim.join("stage", "host", publish=["camera"])
        deliver_outbox(client, sim)

        assert Room.objects.get().status == "live"

    def test_a_waiting_room_turns_idle_once_the_departure_timeout_passes(
        self, client: Any, livekit_sim: Any
    ) -> None:
        from monitoring.reconciler import reconcile_once

        sim = livekit_sim
        sim.join("stage", "host", publish=["camera"])
        sim.join("stage", "fan", can_publish=False)
        sim.drop("stage", "host")
        deliver_outbox(client, sim)
        room = Room.objects.get()
        assert room.status == "waitingReconnect"
        Room.objects.filter(pk=room.pk).update(
            publisher_dropped_at=timezone.now() - timedelta(seconds=room.departure_timeout + 1)
        )

        reconcile_once()

        assert Room.objects.get().status == "idle"


@pytest.mark.django_db
class TestCost:
    def queries_for_a_join(self, events: Events, viewers: int, sid: str, name: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        room = Room.objects.get()
        Participant.objects.bulk_create(
            Participant(
                room=room,
                sid=f"PA_v{viewers}_{n}",
                identity=f"v{viewers}-{n}",
                can_publish=False,
                joined_at=NOW,
            )
            for n in range(viewers)
        )
        with CaptureQueriesContext(connection) as captured:
            events.send(
                "participant_joined",
                sid=sid,
                name=name,
                participant=person(f"PA_new{viewers}", "newcomer"),
            )
        return len(captured)

    def test_a_join_costs_the_same_in_a_crowded_room_as_in_an_empty_one(
        self, events: Events
    ) -> None:
        # A first join creates the alert rules' settings row: not a cost of the room.
        events.send("room_started", sid="RM_warm", name="warm")
        self.queries_for_a_join(events, 0, "RM_warm", "warm")
        Room.objects.all().delete()
        events.send("room_started", sid="RM_small", name="small")
        small = self.queries_for_a_join(events, 0, "RM_small", "small")
        Room.objects.all().delete()
        events.send("room_started", sid="RM_big", name="big")

        big = self.queries_for_a_join(events, 500, "RM_big", "big")

        assert big == small
        assert Room.objects.get().num_participants == 501


@pytest.mark.django_db
class TestBansHold:
    def test_a_banned_identity_rejoining_is_removed_again_after_the_join_commits(
        self, client: Any, livekit_sim: Any, admin: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        from monitoring.moderation.bans import ban_create

        ban_create(actor=admin, identity="troll", scope="global", reason="raiding")
        livekit_sim.join("stage", "troll", publish=["camera"])
        livekit_sim.join("stage", "fan", can_publish=False)

        with django_capture_on_commit_callbacks(execute=True):
            deliver_outbox(client, livekit_sim)

        removed = [(r["identity"], r["reason"]) for r in livekit_sim.state()["removed"]]
        assert ("troll", "PARTICIPANT_REMOVED") in removed
        assert ("fan", "PARTICIPANT_REMOVED") not in removed

    def test_the_reconciler_removes_a_banned_identity_it_finds(
        self, livekit_sim: Any, admin: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        from monitoring.moderation.bans import ban_create
        from monitoring.reconciler import reconcile_once

        ban_create(actor=admin, identity="troll", scope="room", room_name="stage", reason="spam")
        livekit_sim.join("stage", "troll")

        with django_capture_on_commit_callbacks(execute=True):
            reconcile_once()

        removed = [r["identity"] for r in livekit_sim.state()["removed"]]
        assert removed == ["troll"]


@pytest.mark.django_db
def test_a_late_event_of_an_older_session_does_not_end_the_newer_one(events: Events) -> None:
    now = int(time.time())
    events.send("room_started", sid="RM_new00000001")
    late = room_event(
        "participant_left",
        event_id="EV_lateold0001",
        sid="RM_old00000001",
        participant=person("PA_x", "x", joined_at=now - 600),
    )
    late.room.creation_time = now - 900

    deliver(events.client, late)

    assert Room.objects.get(sid="RM_new00000001").status == "idle"
    assert Room.objects.get(sid="RM_old00000001").status == "ended"
