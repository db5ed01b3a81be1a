"""The console recognises its own observers everywhere: marked in the mirror, left out
of counts and host/status, never offered or targeted by actions, bans or enforcement,
shown as "watched by", and audited when they start and stop watching."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from monitoring import livekit
from monitoring.models import AuditEntry, Ban, BanScope, Participant, Room
from monitoring.moderation import actions, bans
from monitoring.moderation.actions import ActionInvalid
from monitoring.reconciler import reconcile_once
from tests.observer_client import SignalClient
from tests.test_webhooks import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(livekit_sim: Any, settings: Any) -> Any:
    settings.LIVEKIT_PUBLIC_URL = livekit_sim.url.replace("http://", "ws://")
    return livekit_sim


def deliver(client: Any, sim: Any) -> list[str]:
    """Hand the simulator's captured webhooks to the console, as LiveKit would."""
    delivered = []
    for item in sim.outbox():
        response = post(client, item["body"], item["authorization"])
        assert response.status_code == 200, response.content
        delivered.append(item["event"])
    sim.clear_outbox()
    return delivered


@pytest.fixture
def stage(sim: Any, client: Any) -> Room:
    sim.join("stage", "host", publish=["camera", "microphone"])
    sim.join("stage", "viewer-1", can_publish=False)
    deliver(client, sim)
    return Room.objects.get(name="stage")


def watch(user: Any, room_name: str = "stage") -> tuple[SignalClient, str]:
    """Join as the staff member's observer over the simulator's /rtc."""
    from django.conf import settings

    token = livekit.observer_token_mint(room=room_name, staff_id=user.pk, staff_name="")
    signal = SignalClient(settings.LIVEKIT_URL, token.token)
    signal.open()
    return signal, token.identity


def counts(room: Room) -> tuple[int, int, str, str]:
    room.refresh_from_db()
    return room.num_participants, room.num_publishers, room.host_identity, room.status


def test_an_observers_webhooks_never_change_counts_host_or_status(
    client: Any, sim: Any, stage: Room, moderator: Any
) -> None:
    before = counts(stage)
    assert before == (2, 1, "host", "live")

    signal, identity = watch(moderator)
    joined = deliver(client, sim)
    during = counts(stage)
    signal.close()
    time.sleep(0.3)
    left = deliver(client, sim)

    assert joined == ["participant_joined"] and left == ["participant_left"]
    assert during == before
    assert counts(stage) == before
    row = Participant.objects.get(identity=identity)
    assert row.is_observer and row.left_at is not None


def test_livekit_counts_the_observer_but_the_console_does_not(
    client: Any, sim: Any, stage: Room, moderator: Any
) -> None:
    signal, _ = watch(moderator)
    try:
        deliver(client, sim)
        assert sim.room("stage")["num_participants"] == 3
        assert counts(stage)[0] == 2
    finally:
        signal.close()


def test_the_reconciler_marks_observers_and_leaves_them_out_too(
    client: Any, sim: Any, stage: Room, moderator: Any
) -> None:
    signal, identity = watch(moderator)
    try:
        sim.clear_outbox()  # the webhook is lost: only the reconciler sees the observer
        reconcile_once()
        assert Participant.objects.get(identity=identity, left_at__isnull=True).is_observer
        assert counts(stage) == (2, 1, "host", "live")
    finally:
        signal.close()


def test_an_observer_is_never_the_host_of_an_empty_room(
    client: Any, sim: Any, moderator: Any
) -> None:
    sim.create_room("quiet")
    deliver(client, sim)
    signal, _ = watch(moderator, "quiet")
    try:
        deliver(client, sim)
        room = Room.objects.get(name="quiet")
        assert counts(room) == (0, 0, "", "idle")
    finally:
        signal.close()


def test_an_identity_of_the_observer_form_without_the_consoles_mark_is_a_participant(
    client: Any, sim: Any, stage: Room
) -> None:
    sim.join("stage", "roomwatch-observer-1-impostor00", can_publish=False)
    deliver(client, sim)

    assert not Participant.objects.get(identity="roomwatch-observer-1-impostor00").is_observer
    assert counts(stage)[0] == 3


def test_watch_start_and_end_are_audited_with_the_staff_member(
    client: Any, sim: Any, stage: Room, moderator: Any
) -> None:
    signal, identity = watch(moderator)
    deliver(client, sim)
    signal.close()
    time.sleep(0.3)
    deliver(client, sim)

    rows = list(AuditEntry.objects.filter(action__startswith="watch.").order_by("pk"))
    assert [(r.action, r.actor, r.identity, r.room_name) for r in rows] == [
        ("watch.start", moderator, identity, "stage"),
        ("watch.end", moderator, identity, "stage"),
    ]
    assert rows[0].room_sid == stage.sid
    assert rows[1].reason == "client initiated"


def test_a_redelivered_join_is_audited_once(
    client: Any, sim: Any, stage: Room, moderator: Any
) -> None:
    signal, _ = watch(moderator)
    try:
        items = sim.outbox()
        for _ in range(2):
            for item in items:
                post(client, item["body"], item["authorization"])
        assert AuditEntry.objects.filter(action="watch.start").count() == 1
    finally:
        signal.close()


def test_watch_rows_are_filterable_and_exported(
    client: Any, client_for: Any, sim: Any, stage: Room, moderator: Any, admin: Any
) -> None:
    signal, identity = watch(moderator)
    deliver(client, sim)
    signal.close()
    time.sleep(0.3)
    deliver(client, sim)
    staff = client_for(admin)

    page = staff.get(reverse("monitoring:audit"), {"action": "watch.start"})
    export = staff.get(reverse("monitoring:audit-export"), {"action": "watch.end"})

    html = page.content.decode()
    assert "<strong>Started watching</strong>" in html
    assert "<strong>Stopped watching</strong>" not in html
    assert '<option value="watch.start"' in html
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(r["action"], r["actor"], r["identity"]) for r in rows] == [
        ("watch.end", moderator.get_username(), identity)
    ]


def test_the_room_page_says_who_is_watching_instead_of_listing_observers(
    client: Any, client_for: Any, sim: Any, stage: Room, moderator: Any, support: Any
) -> None:
    moderator.first_name, moderator.last_name = "Mia", "Moderator"
    moderator.save()
    signal, identity = watch(moderator)
    try:
        deliver(client, sim)
        html = client_for(support).get(reverse("monitoring:room", args=[stage.pk])).content
        html = html.decode()
        assert "watched by: Mia Moderator" in html
        participants = html.split('id="room-participants"')[1].split("</section>")[0]
        assert "host" in participants and identity not in participants
    finally:
        signal.close()


def test_no_action_can_target_an_observer(sim: Any, stage: Room, moderator: Any) -> None:
    identity = "roomwatch-observer-5-abcdefghijkl"
    with pytest.raises(ActionInvalid, match="preview viewer"):
        actions.participant_kick(
            actor=moderator, room=stage, identity=identity, reason="x", token=actions.new_token()
        )
    assert not AuditEntry.objects.filter(action="participant.kick").exists()


def test_a_ban_cannot_target_an_observer(admin: Any) -> None:
    with pytest.raises(ValidationError, match="cannot be banned"):
        bans.ban_create(
            actor=admin,
            identity="roomwatch-observer-5-abcdefghijkl",
            scope=BanScope.GLOBAL,
            reason="spam",
        )
    assert not Ban.objects.exists()


def test_enforcement_never_removes_an_observer(
    client: Any, sim: Any, stage: Room, moderator: Any, admin: Any
) -> None:
    signal, identity = watch(moderator)
    try:
        # A ban row for the identity (say, written before this rule existed).
        Ban.objects.create(
            identity=identity,
            scope=BanScope.GLOBAL,
            reason="old",
            created_by=admin,
            created_by_name=admin.get_username(),
            active_key="legacy-" + identity,
        )
        deliver(client, sim)
        assert bans.ban_enforce_on_join(room_name="stage", identity=identity) is None
        assert any(o["identity"] == identity for o in sim.state()["observers"])
        assert sim.state()["removed"] == []
        assert not AuditEntry.objects.filter(action="ban.enforce").exists()
    finally:
        signal.close()


def test_observer_identities_name_their_staff_member() -> None:
    assert livekit.observer_staff_id("roomwatch-observer-42-AbCdEf123456") == 42
    assert livekit.observer_staff_id("roomwatch-observer-x-AbCdEf123456") is None
    assert livekit.observer_staff_id("someone") is None
