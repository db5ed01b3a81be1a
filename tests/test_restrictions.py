"""Restrictions that hold: applied at once, reapplied on every rejoin, lifted with the
earlier permissions given back exactly, and counted each time they had to be enforced."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from monitoring import livekit
from monitoring.models import AuditEntry, Ban, Restriction, Room
from monitoring.moderation.actions import participant_warn
from monitoring.moderation.bans import ban_create, ban_enforce_on_join
from monitoring.moderation.restrictions import (
    RestrictionNotActive,
    permission_restricted,
    restriction_apply,
    restriction_lift,
    restrictions_enforce_on_join,
    restrictions_expire_due,
)
from monitoring.reconciler import reconcile_once
from tests.fixtures.livekit import SimControlError

pytestmark = pytest.mark.django_db


def participant(sim: Any, room: str, identity: str) -> dict[str, Any]:
    found = sim.room(room)
    assert found is not None, f"room {room} is not open"
    return next(p for p in found["participants"] if p["identity"] == identity)


def sources(sim: Any, room: str, identity: str) -> list[str]:
    return sorted(t["source"] for t in participant(sim, room, identity)["tracks"])


def silence(actor: Any, identity: str = "loud", room: str = "lobby", **options: Any) -> Any:
    fields = {"kind": "silence", "scope": "room", "room_name": room, "reason": "shouting"}
    fields.update(options)
    return restriction_apply(actor=actor, identity=identity, duration="10m", **fields)


# --- what a restriction takes away


def test_silence_takes_only_the_microphone_away() -> None:
    base = {"can_publish": True, "can_publish_data": True, "can_subscribe": True, "hidden": False}
    restricted = permission_restricted(base={**base, "can_publish_sources": []}, kinds=["silence"])
    assert restricted["can_publish_sources"] == ["CAMERA", "SCREEN_SHARE", "SCREEN_SHARE_AUDIO"]
    assert restricted["can_publish"] and restricted["can_publish_data"]


def test_silencing_a_microphone_only_token_stops_publishing_rather_than_allowing_all() -> None:
    base = {"can_publish": True, "can_publish_sources": ["MICROPHONE"]}
    restricted = permission_restricted(base=base, kinds=["silence"])
    assert restricted["can_publish"] is False


def test_no_chat_keeps_publishing_and_no_publishing_keeps_chat() -> None:
    no_chat = permission_restricted(base={}, kinds=["no_data"])
    no_publish = permission_restricted(base={}, kinds=["no_publish"])
    assert (no_chat["can_publish"], no_chat["can_publish_data"]) == (True, False)
    assert (no_publish["can_publish"], no_publish["can_publish_data"]) == (False, True)


# --- applied at once


def test_a_silenced_participant_loses_its_microphone_and_cannot_publish_one_again(
    moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "loud", publish=["camera", "microphone"])

    result = silence(moderator)

    assert result.ok, result.message
    assert sources(livekit_sim, "lobby", "loud") == ["CAMERA"]
    permission = participant(livekit_sim, "lobby", "loud")["permission"]
    assert permission["can_publish_sources"] == ["CAMERA", "SCREEN_SHARE", "SCREEN_SHARE_AUDIO"]
    assert permission["can_publish"] and permission["can_publish_data"]
    with pytest.raises(Exception, match=r"403|may not publish"):
        livekit_sim.publish("lobby", "loud", "microphone")
    applied = AuditEntry.objects.get(action="restriction.apply")
    assert (applied.outcome, applied.actor_name, applied.identity) == (
        "done",
        "mia-moderator",
        "loud",
    )
    assert AuditEntry.objects.filter(action="restriction.create").count() == 1


def test_restricting_keeps_every_other_permission_the_participant_had(
    moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "chatty", can_publish=False)

    restriction_apply(
        actor=moderator,
        identity="chatty",
        kind="no_data",
        scope="room",
        room_name="lobby",
        reason="spam links",
        duration="1h",
    )

    permission = participant(livekit_sim, "lobby", "chatty")["permission"]
    assert permission["can_publish_data"] is False
    assert permission["can_publish"] is False and permission["can_subscribe"] is True


def test_a_restriction_on_someone_not_in_the_room_says_so_and_applies_when_they_join(
    moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "host")

    result = silence(moderator)

    assert not result.ok and "not in lobby" in result.message
    app = Restriction.objects.get().applications.get()
    assert app.status == "pending" and "no longer in the room" in app.error
    assert AuditEntry.objects.get(action="restriction.apply").outcome == "failed"
    livekit_sim.join("lobby", "loud", publish=["microphone", "camera"])
    restrictions_enforce_on_join(room_name="lobby", identity="loud")
    assert sources(livekit_sim, "lobby", "loud") == ["CAMERA"]
    assert Restriction.objects.get().applications.get().status == "applied"


def test_a_restriction_that_livekit_could_not_receive_is_recorded_as_failed(
    moderator: Any, settings: Any
) -> None:
    settings.LIVEKIT_URL = "http://127.0.0.1:9"
    settings.LIVEKIT_TIMEOUT_SECONDS = 2

    result = silence(moderator)

    assert not result.ok and "retried when they next join" in result.message
    entry = AuditEntry.objects.get(action="restriction.apply")
    assert entry.outcome == "failed" and "unavailable" in entry.error


def test_a_global_restriction_applies_in_every_room(admin: Any, livekit_sim: Any) -> None:
    for room in ("lobby", "stage"):
        livekit_sim.join(room, "loud", publish=["microphone"])
    livekit_sim.join("quiet", "someone-else", publish=["microphone"])

    result = restriction_apply(
        actor=admin,
        identity="loud",
        kind="no_publish",
        scope="global",
        reason="raiding",
        duration="24h",
    )

    assert sorted(a.room_name for a in result.applications) == ["lobby", "stage"]
    for room in ("lobby", "stage"):
        assert sources(livekit_sim, room, "loud") == []
        assert participant(livekit_sim, room, "loud")["permission"]["can_publish"] is False
    assert sources(livekit_sim, "quiet", "someone-else") == ["MICROPHONE"]
    livekit_sim.join("elsewhere", "loud")
    assert restrictions_enforce_on_join(room_name="elsewhere", identity="loud") is not None
    assert participant(livekit_sim, "elsewhere", "loud")["permission"]["can_publish"] is False


def test_moderators_restrict_in_one_room_but_only_admins_everywhere(
    support: Any, moderator: Any, livekit_sim: Any
) -> None:
    with pytest.raises(PermissionDenied):
        restriction_apply(
            actor=moderator,
            identity="loud",
            kind="silence",
            scope="global",
            reason="x",
            duration="1m",
        )
    with pytest.raises(PermissionDenied):
        silence(support)
    assert not Restriction.objects.exists()


def test_a_restriction_needs_a_reason_a_known_kind_and_a_known_duration(moderator: Any) -> None:
    with pytest.raises(ValidationError, match="Reason"):
        silence(moderator, reason="  ")
    with pytest.raises(ValidationError, match="what to restrict"):
        silence(moderator, kind="everything")
    with pytest.raises(ValidationError, match="how long"):
        restriction_apply(
            actor=moderator,
            identity="loud",
            kind="silence",
            scope="room",
            room_name="lobby",
            reason="r",
            duration="forever",
        )
    assert not Restriction.objects.exists()


# --- reapplied on every rejoin


def test_a_restriction_is_reapplied_when_the_participant_rejoins(
    moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    silence(moderator)
    livekit_sim.join("lobby", "loud", publish=["microphone"])  # a fresh token's grants
    assert sources(livekit_sim, "lobby", "loud") == ["MICROPHONE"]

    outcome = restrictions_enforce_on_join(room_name="lobby", identity="loud")

    assert outcome is not None and outcome.outcome == "done"
    assert sources(livekit_sim, "lobby", "loud") == []
    entry = AuditEntry.objects.get(action="restriction.reapply")
    assert entry.actor_name == "system" and entry.detail["trigger"] == "join"
    restriction = Restriction.objects.get()
    assert restriction.rejoin_count == 1 and restriction.last_rejoin_at is not None


def test_each_rejoin_counts_once_even_when_reported_twice(moderator: Any, livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    silence(moderator)
    for _ in range(2):
        livekit_sim.join("lobby", "loud", publish=["microphone"])
        restrictions_enforce_on_join(room_name="lobby", identity="loud")
        # The same session reported again (webhook and reconciler): not a new rejoin.
        restrictions_enforce_on_join(room_name="lobby", identity="loud")

    assert Restriction.objects.get().rejoin_count == 2


def test_the_reconciler_reapplies_a_restriction_to_a_rejoin_the_webhooks_missed(
    moderator: Any, livekit_sim: Any, django_capture_on_commit_callbacks: Any
) -> None:
    livekit_sim.join("lobby", "loud", publish=["microphone", "camera"])
    reconcile_once()
    silence(moderator)
    livekit_sim.join("lobby", "loud", publish=["microphone", "camera"])

    with django_capture_on_commit_callbacks(execute=True):
        reconcile_once()

    assert sources(livekit_sim, "lobby", "loud") == ["CAMERA"]
    assert Restriction.objects.get().rejoin_count == 1
    assert AuditEntry.objects.filter(action="restriction.reapply", outcome="done").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rejoin_reported_by_a_real_webhook_is_restricted_again(
    moderator: Any, livekit_sim: Any, live_server: Any
) -> None:
    from monitoring.live import applier

    livekit_sim.webhooks(url=f"{live_server.url}{reverse('monitoring:livekit-webhook')}")
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    livekit_sim.flush()
    applier.apply_pending()
    silence(moderator)

    livekit_sim.join("lobby", "loud", publish=["microphone"])
    livekit_sim.flush()
    applier.apply_pending()

    assert sources(livekit_sim, "lobby", "loud") == []
    assert Restriction.objects.get().rejoin_count == 1


# --- lifted


def test_it_lifts_at_expiry_and_the_earlier_permissions_come_back_exactly(
    moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    before = participant(livekit_sim, "lobby", "loud")["permission"]
    result = silence(moderator)
    assert participant(livekit_sim, "lobby", "loud")["permission"] != before

    assert restrictions_expire_due() == 0  # not due yet
    later = result.restriction.expires_at + timedelta(seconds=1)
    assert restrictions_expire_due(now=later) == 1

    assert participant(livekit_sim, "lobby", "loud")["permission"] == before
    livekit_sim.publish("lobby", "loud", "microphone")
    restriction = Restriction.objects.get()
    assert restriction.ended_at is not None and not restriction.is_active(now=later)
    assert AuditEntry.objects.get(action="restriction.restore").detail["trigger"] == "expiry"
    assert AuditEntry.objects.filter(action="restriction.expire").count() == 1
    assert restrictions_expire_due(now=later) == 0


def test_lifting_one_restriction_keeps_the_other_in_force(
    admin: Any, moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    before = participant(livekit_sim, "lobby", "loud")["permission"]
    silenced = silence(moderator).restriction
    restriction_apply(
        actor=moderator,
        identity="loud",
        kind="no_data",
        scope="room",
        room_name="lobby",
        reason="spam",
        duration="1h",
    )

    restriction_lift(actor=admin, restriction=silenced, reason="appeal accepted")

    permission = participant(livekit_sim, "lobby", "loud")["permission"]
    assert permission["can_publish_data"] is False
    assert permission["can_publish_sources"] == before["can_publish_sources"] == []


def test_lifting_early_needs_an_admin_and_a_reason(
    admin: Any, moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    before = participant(livekit_sim, "lobby", "loud")["permission"]
    restriction = silence(moderator).restriction

    with pytest.raises(PermissionDenied):
        restriction_lift(actor=moderator, restriction=restriction, reason="mistake")
    with pytest.raises(ValidationError, match="Reason"):
        restriction_lift(actor=admin, restriction=restriction, reason="")
    assert Restriction.objects.get().lifted_at is None

    restriction_lift(actor=admin, restriction=restriction, reason="mistake")

    assert participant(livekit_sim, "lobby", "loud")["permission"] == before
    lifted = Restriction.objects.get()
    assert (lifted.lifted_by_name, lifted.lift_reason) == ("ada-admin", "mistake")
    assert lifted.ended_at is not None
    with pytest.raises(RestrictionNotActive):
        restriction_lift(actor=admin, restriction=lifted, reason="again")


def test_a_lift_livekit_could_not_carry_out_is_retried(
    admin: Any, moderator: Any, livekit_sim: Any, settings: Any
) -> None:
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    before = participant(livekit_sim, "lobby", "loud")["permission"]
    restriction = silence(moderator).restriction
    url = settings.LIVEKIT_URL
    settings.LIVEKIT_URL = "http://127.0.0.1:9"
    settings.LIVEKIT_TIMEOUT_SECONDS = 2

    restriction_lift(actor=admin, restriction=restriction, reason="appeal")

    assert Restriction.objects.get().ended_at is None
    assert AuditEntry.objects.get(action="restriction.restore").outcome == "failed"
    settings.LIVEKIT_URL = url
    assert restrictions_expire_due() == 1
    assert participant(livekit_sim, "lobby", "loud")["permission"] == before
    assert Restriction.objects.get().ended_at is not None


# --- proof that bans hold


def test_each_ban_enforcement_on_rejoin_is_counted(moderator: Any, livekit_sim: Any) -> None:
    ban_create(actor=moderator, identity="troll", scope="room", room_name="lobby", reason="spam")
    for _ in range(3):
        livekit_sim.join("lobby", "troll")
        ban_enforce_on_join(room_name="lobby", identity="troll")

    ban = Ban.objects.get()
    assert ban.rejoin_count == 3 and ban.last_rejoin_at is not None


def test_a_banned_identity_is_removed_rather_than_restricted(
    moderator: Any, livekit_sim: Any, django_capture_on_commit_callbacks: Any
) -> None:
    silence(moderator, identity="troll")
    ban_create(actor=moderator, identity="troll", scope="room", room_name="lobby", reason="spam")
    livekit_sim.join("lobby", "troll")
    with django_capture_on_commit_callbacks(execute=True):
        reconcile_once()

    assert livekit_sim.room("lobby") is None or not any(
        p["identity"] == "troll" for p in livekit_sim.room("lobby")["participants"]
    )
    assert not AuditEntry.objects.filter(action="restriction.reapply").exists()
    assert Ban.objects.get().rejoin_count == 1


# --- from the room page

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lobby(livekit_sim: Any) -> Room:
    livekit_sim.join("lobby", "host", publish=["camera", "microphone"])
    livekit_sim.join("lobby", "loud", publish=["camera", "microphone"])
    reconcile_once()
    return Room.objects.get(name="lobby")


def restrict_form(**fields: Any) -> dict[str, Any]:
    return {
        "identity": "loud",
        "kind": "no_publish",
        "scope": "room",
        "duration": "10m",
        "reason_preset": "Harassment or bullying",
        **fields,
    }


def test_a_moderator_restricts_from_the_dialog_and_sees_the_outcome_in_place(
    moderator: Any, livekit_sim: Any, lobby: Room, client_for: Any
) -> None:
    client = client_for(moderator)
    form = client.get(
        reverse("monitoring:restriction-form", args=[lobby.pk]), {"identity": "loud"}, **HTMX
    )
    assert form.status_code == 200 and b'value="loud"' in form.content
    assert b'value="global"' not in form.content  # moderators restrict in one room only

    answer = client.post(
        reverse("monitoring:restriction-create", args=[lobby.pk]), restrict_form(), **HTMX
    )

    assert answer.status_code == 200
    assert b"no publishing in lobby until" in answer.content
    assert sources(livekit_sim, "lobby", "loud") == []
    made = Restriction.objects.get()
    assert made.reason == "Harassment or bullying" and made.expires_at is not None


def test_the_dialog_refuses_bad_input_with_400_and_changes_nothing(
    moderator: Any, livekit_sim: Any, lobby: Room, client_for: Any
) -> None:
    client = client_for(moderator)
    url = reverse("monitoring:restriction-create", args=[lobby.pk])
    for bad in ({"reason_preset": ""}, {"kind": "all"}, {"duration": "1y"}, {"identity": ""}):
        assert client.post(url, restrict_form(**bad), **HTMX).status_code == 400, bad
    assert client.post(url, restrict_form(scope="global"), **HTMX).status_code == 403
    assert not Restriction.objects.exists()
    assert sources(livekit_sim, "lobby", "loud") == ["CAMERA", "MICROPHONE"]


def test_support_staff_cannot_restrict_or_lift(
    support: Any, moderator: Any, lobby: Room, client_for: Any
) -> None:
    made = restriction_apply(
        actor=moderator,
        identity="loud",
        kind="no_data",
        scope="room",
        room_name="lobby",
        reason="spam",
        duration="1h",
    ).restriction
    client = client_for(support)
    assert client.get(reverse("monitoring:restriction-form", args=[lobby.pk])).status_code == 403
    assert (
        client.post(
            reverse("monitoring:restriction-create", args=[lobby.pk]), restrict_form()
        ).status_code
        == 403
    )
    lift = reverse("monitoring:restriction-lift", args=[made.pk])
    assert client.post(lift, {"reason": "x"}).status_code == 403
    assert client_for(moderator).post(lift, {"reason": "x"}).status_code == 403
    assert Restriction.objects.get().lifted_at is None


def test_an_admin_lifts_from_the_room_page_with_a_reason(
    admin: Any, moderator: Any, livekit_sim: Any, lobby: Room, client_for: Any
) -> None:
    before = participant(livekit_sim, "lobby", "loud")["permission"]
    made = restriction_apply(
        actor=moderator,
        identity="loud",
        kind="no_publish",
        scope="room",
        room_name="lobby",
        reason="spam",
        duration="1h",
    ).restriction
    client = client_for(admin)
    lift = reverse("monitoring:restriction-lift", args=[made.pk])

    assert client.post(lift, {"reason": ""}, **HTMX).status_code == 400
    answer = client.post(lift, {"reason": "appeal accepted"}, **HTMX)

    assert answer.status_code == 200 and b"lifted" in answer.content
    assert participant(livekit_sim, "lobby", "loud")["permission"] == before
    assert client.post(lift, {"reason": "again"}, **HTMX).status_code == 409


def test_the_mute_dialog_offers_mute_once_or_keep_muted(
    moderator: Any, livekit_sim: Any, lobby: Room, client_for: Any
) -> None:
    client = client_for(moderator)
    form = client.get(
        reverse("monitoring:action-form", args=[lobby.pk, "mute"]), {"identity": "loud"}, **HTMX
    )
    assert b"Mute once" in form.content and b"Keep muted for" in form.content

    kept = client.post(
        reverse("monitoring:action", args=[lobby.pk, "mute"]),
        {
            "identity": "loud",
            "target": "audio",
            "mode": "hold",
            "duration": "10m",
            "reason_preset": "Harassment or bullying",
        },
        **HTMX,
    )

    assert kept.status_code == 200
    made = Restriction.objects.get()
    assert (made.kind, made.room_name, made.identity) == ("silence", "lobby", "loud")
    permission = participant(livekit_sim, "lobby", "loud")["permission"]
    assert "MICROPHONE" not in permission["can_publish_sources"]
    assert permission["can_publish_sources"]


def test_mute_once_stays_a_plain_mute(
    moderator: Any, livekit_sim: Any, lobby: Room, client_for: Any
) -> None:
    client_for(moderator).post(
        reverse("monitoring:action", args=[lobby.pk, "mute"]),
        {"identity": "loud", "target": "audio", "mode": "once", "reason_preset": "Spam or scam"},
        **HTMX,
    )
    assert not Restriction.objects.exists()
    tracks = participant(livekit_sim, "lobby", "loud")["tracks"]
    assert [t["muted"] for t in tracks if t["source"] == "MICROPHONE"] == [True]


# --- warnings that were seen


def rpc_answer(sim: Any, room: str, identity: str, answer: str) -> None:
    sim.post(f"/sim/rooms/{room}/participants/{identity}/rpc", {"answer": answer})


@pytest.mark.parametrize(
    ("answer", "recorded", "said"),
    [
        ("ack", "acknowledged", "acknowledged it"),
        ("refuse", "refused", "refused to show it"),
        ("silent", "no_answer", "did not acknowledge it within 1 s"),
    ],
)
def test_a_warning_records_how_the_participants_app_answered(
    answer: str,
    recorded: str,
    said: str,
    moderator: Any,
    livekit_sim: Any,
    lobby: Room,
    settings: Any,
    client_for: Any,
) -> None:
    settings.ROOMWATCH_WARNING_ACK_SECONDS = 1
    rpc_answer(livekit_sim, "lobby", "loud", answer)

    result = participant_warn(
        actor=moderator, room=lobby, identity="loud", message="Calm down", reason="shouting"
    )

    assert result.ok and said in result.message
    entry = AuditEntry.objects.get(action="participant.warn")
    assert entry.detail["delivery"] == "delivered"
    assert entry.detail["acknowledgement"] == recorded
    call = [c for c in livekit_sim.get("/sim/rpc") if c["identity"] == "loud"][-1]
    assert call["method"] == "roomwatch.warning" and call["answer"] == answer
    assert json.loads(call["payload"])["message"] == "Calm down"
    page = client_for(moderator).get(reverse("monitoring:room", args=[lobby.pk]))
    assert f'data-acknowledgement="{recorded}"'.encode() in page.content


def test_a_warning_to_someone_gone_is_not_delivered_and_asks_nothing(
    moderator: Any, livekit_sim: Any, lobby: Room
) -> None:
    livekit_sim.leave("lobby", "loud")
    result = participant_warn(
        actor=moderator, room=lobby, identity="loud", message="Calm down", reason="shouting"
    )
    assert not result.ok
    assert "delivery" not in AuditEntry.objects.get(action="participant.warn").detail


# --- what the pages show


def test_the_participant_row_shows_an_active_restriction_with_its_time_left(
    moderator: Any, support: Any, livekit_sim: Any, lobby: Room, client_for: Any
) -> None:
    silence(moderator)

    page = client_for(support).get(reverse("monitoring:room", args=[lobby.pk])).content.decode()

    row = page[page.index('data-identity="loud"') :]
    row = row[: row.index("</tr>")]
    assert 'data-testid="restriction"' in row and 'data-kind="silence"' in row
    assert "Silenced (no microphone)" in row and ("10 min left" in row or "9 min left" in row)
    assert "not applied yet" not in row


def test_a_restriction_that_could_not_be_applied_says_so_on_the_row(
    moderator: Any, livekit_sim: Any, lobby: Room, client_for: Any, settings: Any
) -> None:
    url = settings.LIVEKIT_URL
    settings.LIVEKIT_URL = "http://127.0.0.1:9"
    settings.LIVEKIT_TIMEOUT_SECONDS = 2
    silence(moderator)
    settings.LIVEKIT_URL = url

    page = client_for(moderator).get(reverse("monitoring:room", args=[lobby.pk])).content.decode()

    row = page[page.index('data-identity="loud"') :]
    row = row[: row.index("</tr>")]
    assert "not applied yet" in row and "retried when they rejoin" in row


def test_the_room_page_lists_who_is_restricted_and_banned_with_their_rejoin_counts(
    admin: Any, moderator: Any, livekit_sim: Any, lobby: Room, client_for: Any
) -> None:
    silence(moderator)
    ban_create(actor=moderator, identity="troll", scope="room", room_name="lobby", reason="spam")
    livekit_sim.join("lobby", "troll")
    ban_enforce_on_join(room_name="lobby", identity="troll")
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    restrictions_enforce_on_join(room_name="lobby", identity="loud")

    page = client_for(admin).get(reverse("monitoring:room", args=[lobby.pk])).content.decode()

    holds = page[page.index('id="room-holds"') :]
    assert 'data-testid="held-restriction" data-identity="loud"' in holds
    assert 'data-rejoins="1"' in holds
    assert 'data-testid="held-ban" data-identity="troll"' in holds
    assert "removed again 1 time," in holds
    assert "Reason to lift" in holds  # admins may lift from here
    moderator_page = client_for(moderator).get(reverse("monitoring:room", args=[lobby.pk]))
    assert b"Reason to lift" not in moderator_page.content


def test_the_bans_page_shows_how_often_bans_and_restrictions_were_enforced_again(
    moderator: Any, support: Any, livekit_sim: Any
) -> None:
    ban_create(actor=moderator, identity="troll", scope="room", room_name="lobby", reason="spam")
    for _ in range(2):
        livekit_sim.join("lobby", "troll")
        ban_enforce_on_join(room_name="lobby", identity="troll")
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    silence(moderator)
    livekit_sim.join("lobby", "loud", publish=["microphone"])
    restrictions_enforce_on_join(room_name="lobby", identity="loud")

    page = Client()
    page.force_login(support)
    text = page.get(reverse("monitoring:bans")).content.decode()

    assert "removed again 2 times" in text
    restrictions = text[text.index('id="restrictions-active"') :]
    assert 'data-identity="loud"' in restrictions and "restricted again 1 time" in restrictions


def test_the_simulators_rpc_answer_setting_refuses_bad_input(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "loud")
    with pytest.raises(SimControlError) as bad:
        rpc_answer(livekit_sim, "lobby", "loud", "maybe")
    assert bad.value.status == 400 and "ack, refuse, silent" in bad.value.error
    with pytest.raises(SimControlError) as gone:
        rpc_answer(livekit_sim, "lobby", "nobody", "ack")
    assert gone.value.status == 404


def test_an_rpc_to_someone_not_in_the_room_fails_as_livekit_fails_it(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host")
    with pytest.raises(livekit.LiveKitError) as failed:
        async_to_sync(livekit.perform_rpc)(
            room="lobby",
            identity="nobody",
            method="roomwatch.warning",
            payload="{}",
            response_timeout=1,
        )
    assert failed.value.status == 503 and failed.value.code == "unavailable"


def test_the_reconciler_command_ends_restrictions_that_ran_out(
    moderator: Any, livekit_sim: Any
) -> None:
    from io import StringIO

    from django.core.management import call_command

    livekit_sim.join("lobby", "loud", publish=["microphone"])
    before = participant(livekit_sim, "lobby", "loud")["permission"]
    made = silence(moderator).restriction
    Restriction.objects.filter(pk=made.pk).update(expires_at=made.created_at)
    out = StringIO()

    call_command("livekit_sync", "--once", stdout=out)

    assert "Ended 1 restriction(s) that ran out." in out.getvalue()
    assert participant(livekit_sim, "lobby", "loud")["permission"] == before
