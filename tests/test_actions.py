"""Moderator actions against the LiveKit simulator: the effect in LiveKit, the audit row,
and every failure shown, recorded and leaving nothing half done."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.localhost import free_port
from monitoring.models import ActionRequest, AuditEntry, Participant, Room, RoomStatus
from monitoring.moderation import actions
from monitoring.moderation.actions import ActionInvalid

HTMX = {"HTTP_HX_REQUEST": "true"}
REASON = "Harassment or bullying"


def mirror_room(sim: Any, name: str) -> Room:
    """The console's mirror row for a simulator room (as the webhooks would write it)."""
    info = sim.room(name)
    room = Room.objects.create(
        sid=info["sid"], name=name, status=RoomStatus.LIVE, created_at=timezone.now()
    )
    for p in info["participants"]:
        Participant.objects.create(
            room=room,
            sid=p["sid"],
            identity=p["identity"],
            tracks=p["tracks"],
            can_publish=p["permission"]["can_publish"],
            joined_at=timezone.now(),
        )
    return room


def sim_participant(sim: Any, room: str, identity: str) -> dict[str, Any] | None:
    info = sim.room(room)
    if info is None:
        return None
    return next((p for p in info["participants"] if p["identity"] == identity), None)


def post_action(client: Any, room: Room, action: str, **data: Any) -> Any:
    data.setdefault("reason_preset", REASON)
    data.setdefault("token", actions.new_token())
    return client.post(reverse("monitoring:action", args=[room.pk, action]), data, **HTMX)


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture
def stage(livekit_sim: Any, db: Any) -> Room:
    livekit_sim.join("stage", "host-1", publish=["microphone", "camera"])
    livekit_sim.join("stage", "guest-2", publish=["microphone"])
    return mirror_room(livekit_sim, "stage")


# ------------------------------------------------------------------ each action


def test_ending_a_stream_deletes_the_room_and_stops_its_recording(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    egress = livekit_sim.start_egress("stage")

    response = post_action(client_for(moderator), stage, "end")

    assert response.status_code == 200
    assert "Stream ended" in response.content.decode()
    assert livekit_sim.room("stage") is None
    state = livekit_sim.state()
    assert {r["identity"] for r in state["removed"]} >= {"host-1", "guest-2"}
    recording = next(e for e in state["egress"] if e["egress_id"] == egress["egress_id"])
    assert recording["status"] in ("EGRESS_COMPLETE", "EGRESS_ENDING")
    entry = AuditEntry.objects.get(action="room.end")
    assert (entry.outcome, entry.actor_name, entry.actor_role) == (
        "done",
        "mia-moderator",
        "Moderator",
    )
    assert (entry.room_name, entry.room_sid, entry.reason) == ("stage", stage.sid, REASON)
    stage.refresh_from_db()
    assert stage.status == RoomStatus.ENDED
    assert not stage.participants.filter(left_at__isnull=True).exists()


def test_kicking_removes_the_participant_in_livekit_and_records_it(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    response = post_action(
        client_for(moderator), stage, "kick", identity="guest-2", reason="spamming the chat"
    )

    assert response.status_code == 200
    assert "guest-2 was removed" in response.content.decode()
    assert sim_participant(livekit_sim, "stage", "guest-2") is None
    assert sim_participant(livekit_sim, "stage", "host-1") is not None
    assert {"room": "stage", "identity": "guest-2", "reason": "PARTICIPANT_REMOVED"} in (
        livekit_sim.state()["removed"]
    )
    entry = AuditEntry.objects.get(action="participant.kick")
    assert (entry.identity, entry.outcome) == ("guest-2", "done")
    assert entry.reason == f"{REASON}: spamming the chat"
    assert stage.participants.get(identity="guest-2").left_at is not None


def test_muting_one_track_mutes_only_that_track_in_livekit(
    livekit_sim: Any, stage: Room, moderator: Any
) -> None:
    camera = next(
        t for t in sim_participant(livekit_sim, "stage", "host-1")["tracks"] if t["type"] == "VIDEO"
    )

    result = actions.participant_mute(
        actor=moderator, room=stage, identity="host-1", track_sid=camera["sid"], reason=REASON
    )

    assert result.ok, result.message
    tracks = {
        t["sid"]: t["muted"] for t in sim_participant(livekit_sim, "stage", "host-1")["tracks"]
    }
    assert tracks[camera["sid"]] is True
    assert sum(tracks.values()) == 1
    entry = AuditEntry.objects.get(action="participant.mute")
    assert entry.detail["tracks"] == [camera["sid"]]
    mirrored = stage.participants.get(identity="host-1").tracks
    assert next(t for t in mirrored if t["sid"] == camera["sid"])["muted"] is True


def test_muting_all_audio_mutes_every_audio_track_and_no_video(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    livekit_sim.publish("stage", "host-1", "screen_share_audio")

    response = post_action(client_for(moderator), stage, "mute", identity="host-1", target="audio")

    assert response.status_code == 200
    tracks = sim_participant(livekit_sim, "stage", "host-1")["tracks"]
    assert all(t["muted"] for t in tracks if t["type"] == "AUDIO")
    assert len([t for t in tracks if t["type"] == "AUDIO"]) == 2
    assert not any(t["muted"] for t in tracks if t["type"] == "VIDEO")


def test_unmute_is_explained_not_silently_failed_when_remote_unmute_is_off(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    mic = sim_participant(livekit_sim, "stage", "guest-2")["tracks"][0]
    livekit_sim.mute("stage", "guest-2", mic["sid"])

    response = post_action(
        client_for(moderator), stage, "unmute", identity="guest-2", target=f"track:{mic['sid']}"
    )

    assert response.status_code == 409
    assert "Remote unmute is off for this room" in response.content.decode()
    assert sim_participant(livekit_sim, "stage", "guest-2")["tracks"][0]["muted"] is True
    entry = AuditEntry.objects.get(action="participant.unmute")
    assert entry.outcome == "failed"
    assert "failed_precondition" in entry.error


def test_unmute_works_where_the_room_allows_remote_unmute(
    livekit_sim: Any, db: Any, moderator: Any
) -> None:
    livekit_sim.create_room("open-mic", enable_remote_unmute=True)
    livekit_sim.join("open-mic", "singer", publish=["microphone"])
    mic = sim_participant(livekit_sim, "open-mic", "singer")["tracks"][0]
    livekit_sim.mute("open-mic", "singer", mic["sid"])
    room = mirror_room(livekit_sim, "open-mic")

    result = actions.participant_mute(
        actor=moderator, room=room, identity="singer", scope="audio", muted=False, reason=REASON
    )

    assert result.ok, result.message
    assert sim_participant(livekit_sim, "open-mic", "singer")["tracks"][0]["muted"] is False


def test_the_unmute_button_is_offered_only_where_remote_unmute_is_enabled(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any, settings: Any
) -> None:
    mic = sim_participant(livekit_sim, "stage", "guest-2")["tracks"][0]
    livekit_sim.mute("stage", "guest-2", mic["sid"])
    Participant.objects.filter(identity="guest-2").update(
        tracks=sim_participant(livekit_sim, "stage", "guest-2")["tracks"]
    )
    client = client_for(moderator)

    page = client.get(reverse("monitoring:room", args=[stage.pk])).content.decode()
    assert 'data-testid="remote-unmute-off"' in page  # a note in the menu, not between buttons
    assert "remote unmute is off in LiveKit" in page
    assert 'data-action="unmute"' not in page

    settings.ROOMWATCH_REMOTE_UNMUTE = True
    page = client.get(reverse("monitoring:room", args=[stage.pk])).content.decode()
    assert 'data-action="unmute"' in page


def test_revoking_publishing_unpublishes_and_keeps_every_other_permission(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    before = sim_participant(livekit_sim, "stage", "host-1")["permission"]

    response = post_action(client_for(moderator), stage, "revoke", identity="host-1")

    assert response.status_code == 200
    after = sim_participant(livekit_sim, "stage", "host-1")
    assert after["permission"]["can_publish"] is False
    assert after["tracks"] == []
    assert {k: v for k, v in after["permission"].items() if k != "can_publish"} == {
        k: v for k, v in before.items() if k != "can_publish"
    }
    mirrored = stage.participants.get(identity="host-1")
    assert (mirrored.can_publish, mirrored.tracks) == (False, [])
    assert AuditEntry.objects.get(action="participant.revoke_publishing").outcome == "done"

    post_action(client_for(moderator), stage, "restore", identity="host-1")

    assert sim_participant(livekit_sim, "stage", "host-1")["permission"]["can_publish"] is True
    assert AuditEntry.objects.get(action="participant.restore_publishing").outcome == "done"


def test_allow_publishing_is_offered_only_where_a_moderator_revoked_publishing(
    client_for: Any, moderator: Any, stage: Room, livekit_sim: Any
) -> None:
    room_url = reverse("monitoring:room", args=[stage.pk])
    stage.participants.filter(identity="guest-2").update(can_publish=False)  # a plain viewer

    page = client_for(moderator).get(room_url).content.decode()
    assert "Allow publishing…" not in page

    post_action(client_for(moderator), stage, "revoke", identity="host-1")
    page = client_for(moderator).get(room_url).content.decode()

    assert page.count("Allow publishing…") == 1 and "Restore publishing" not in page
    response = post_action(client_for(moderator), stage, "restore", identity="host-1")
    assert "host-1 may publish now." in response.content.decode()
    assert sim_participant(livekit_sim, "stage", "host-1")["permission"]["can_publish"] is True


def test_warning_a_participant_sends_a_data_message_on_the_moderation_topic(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    response = post_action(
        client_for(moderator), stage, "warn", identity="guest-2", message="Keep it civil."
    )

    assert response.status_code == 200
    [sent] = livekit_sim.state()["data_messages"]
    assert sent["topic"] == "roomwatch.moderation"
    assert sent["destination_identities"] == ["guest-2"]
    payload = json.loads(sent["payload"])
    assert payload["type"] == "warning"
    assert (payload["message"], payload["reason"], payload["from"]) == (
        "Keep it civil.",
        REASON,
        "Moderator",
    )
    assert payload["at"].endswith("Z")
    entry = AuditEntry.objects.get(action="participant.warn")
    assert entry.detail["message"] == "Keep it civil."


def test_warning_the_room_reaches_everyone(livekit_sim: Any, stage: Room, admin: Any) -> None:
    result = actions.room_warn(actor=admin, room=stage, message="Stream ends soon.", reason=REASON)

    assert result.ok
    [sent] = livekit_sim.state()["data_messages"]
    assert (sent["room"], sent["destination_identities"]) == ("stage", [])
    assert json.loads(sent["payload"])["from"] == "Admin"
    assert AuditEntry.objects.get(action="room.warn").actor_role == "Admin"


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason_preset": "", "reason": "  "}, "Give a reason"),
        ({"reason_preset": "", "reason": "x" * 501}, "too long"),
        ({"reason_preset": "Because I said so"}, "Pick a reason from the list"),
        ({"identity": ""}, "which participant"),
        ({"token": "not a token!"}, "reload the page"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_done(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any, data: Any, message: str
) -> None:
    response = post_action(client_for(moderator), stage, "kick", **{"identity": "guest-2", **data})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert sim_participant(livekit_sim, "stage", "guest-2") is not None
    assert not AuditEntry.objects.exists()


def test_a_warning_needs_a_message(livekit_sim: Any, stage: Room, moderator: Any) -> None:
    with pytest.raises(ActionInvalid, match="Write the warning"):
        actions.room_warn(actor=moderator, room=stage, message=" ", reason=REASON)
    assert livekit_sim.state()["data_messages"] == []


def test_an_unknown_action_is_not_found(stage: Room, client_for: Any, moderator: Any) -> None:
    response = post_action(client_for(moderator), stage, "explode")
    assert response.status_code == 404


def test_without_htmx_an_action_redirects_back_with_a_message(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    client = client_for(moderator)
    back = reverse("monitoring:room", args=[stage.pk])

    response = client.post(
        reverse("monitoring:action", args=[stage.pk, "kick"]),
        {"identity": "guest-2", "reason": "spam", "token": actions.new_token(), "next": back},
        follow=True,
    )

    assert response.redirect_chain == [(back, 302)]
    assert "guest-2 was removed from the room." in response.content.decode()


def test_the_form_asks_for_a_reason_and_confirms_destructive_steps(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    url = reverse("monitoring:action-form", args=[stage.pk, "kick"])

    page = client_for(moderator).get(url, {"identity": "guest-2"}, **HTMX).content.decode()

    assert 'name="reason_preset"' in page and 'name="reason"' in page
    assert REASON in page
    # One confirmation, in the dialog itself: never the browser's confirm() box.
    assert "hx-confirm=" not in page
    assert "Remove this participant from the room?" in page
    assert 'hx-disabled-elt="find button[type=submit]"' in page
    assert 'name="token"' in page


# ------------------------------------------------------------- failure modes


def test_kicking_someone_already_gone_reports_already_removed(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    livekit_sim.leave("stage", "guest-2")

    response = post_action(client_for(moderator), stage, "kick", identity="guest-2")

    assert response.status_code == 404
    assert "guest-2 was already removed" in response.content.decode()
    entry = AuditEntry.objects.get(action="participant.kick")
    assert entry.outcome == "failed"
    assert "not_found" in entry.error
    reasons = [r["reason"] for r in livekit_sim.state()["removed"]]
    assert "PARTICIPANT_REMOVED" not in reasons


def test_ending_a_stream_that_is_already_gone_is_reported_and_recorded(
    livekit_sim: Any, stage: Room, moderator: Any
) -> None:
    livekit_sim.post("/sim/reset")

    result = actions.room_end(actor=moderator, room=stage, reason=REASON)

    assert not result.ok and result.code == "not_found"
    assert "already ended" in result.message
    assert AuditEntry.objects.get(action="room.end").outcome == "failed"


def test_livekit_down_is_shown_and_recorded_with_nothing_half_done(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any, settings: Any
) -> None:
    settings.LIVEKIT_URL = f"http://127.0.0.1:{free_port()}"

    response = post_action(client_for(moderator), stage, "end")

    assert response.status_code == 502
    assert "LiveKit cannot be reached." in response.content.decode()
    entry = AuditEntry.objects.get(action="room.end")
    assert entry.outcome == "failed"
    assert "unavailable" in entry.error
    assert livekit_sim.room("stage") is not None
    stage.refresh_from_db()
    assert stage.status == RoomStatus.LIVE
    assert not ActionRequest.objects.filter(target__isnull=False).exists()


def test_a_livekit_timeout_is_shown_and_recorded_with_nothing_half_done(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any, settings: Any
) -> None:
    settings.LIVEKIT_TIMEOUT_SECONDS = 0.3
    with silent_port() as port:
        settings.LIVEKIT_URL = f"http://127.0.0.1:{port}"
        response = post_action(client_for(moderator), stage, "kick", identity="guest-2")

    assert response.status_code == 504
    assert "LiveKit did not answer within 0.3 s." in response.content.decode()
    entry = AuditEntry.objects.get(action="participant.kick")
    assert (entry.outcome, entry.identity) == ("failed", "guest-2")
    assert "deadline_exceeded" in entry.error
    assert sim_participant(livekit_sim, "stage", "guest-2") is not None
    assert stage.participants.get(identity="guest-2").left_at is None


# ------------------------------------------------------- double submit, races


def test_a_double_submit_acts_once_and_answers_with_the_first_result(
    livekit_sim: Any, stage: Room, client_for: Any, moderator: Any
) -> None:
    client = client_for(moderator)
    token = actions.new_token()

    first = post_action(client, stage, "warn", identity="guest-2", message="Hi", token=token)
    second = post_action(client, stage, "warn", identity="guest-2", message="Hi", token=token)

    assert first.status_code == second.status_code == 200
    assert "Already submitted once: Warning sent to guest-2." in second.content.decode()
    assert len(livekit_sim.state()["data_messages"]) == 1
    assert AuditEntry.objects.filter(action="participant.warn").count() == 1


def test_a_second_moderator_doing_the_same_thing_at_once_is_told_to_wait(
    livekit_sim: Any, stage: Room, moderator: Any, admin: Any
) -> None:
    # The first moderator's kick has claimed its target and is waiting on LiveKit.
    ActionRequest.objects.create(
        token=actions.new_token(), target="participant.kick:stage:guest-2:", action="kick"
    )

    result = actions.participant_kick(actor=admin, room=stage, identity="guest-2", reason=REASON)

    assert (result.ok, result.status) == (False, "busy")
    assert "Another moderator is doing exactly this right now" in result.message
    assert sim_participant(livekit_sim, "stage", "guest-2") is not None
    assert not AuditEntry.objects.exists()


def test_a_second_moderator_kicking_after_the_first_is_told_already_removed(
    livekit_sim: Any, stage: Room, moderator: Any, admin: Any
) -> None:
    first = actions.participant_kick(actor=moderator, room=stage, identity="guest-2", reason=REASON)
    second = actions.participant_kick(actor=admin, room=stage, identity="guest-2", reason=REASON)

    assert (first.ok, second.ok) == (True, False)
    assert "already removed" in second.message
    assert [r["identity"] for r in livekit_sim.state()["removed"]] == ["guest-2"]
