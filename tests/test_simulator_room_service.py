"""The simulator's RoomService, driven only through livekit-api, against shared/LIVEKIT.md."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from livekit import api

from tests.fixtures.livekit import SimControlError, SimHandle


@pytest.fixture
async def lk(livekit_sim_bare: SimHandle) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(
        livekit_sim_bare.url, livekit_sim_bare.api_key, livekit_sim_bare.api_secret
    ) as client:
        yield client


def token(sim: SimHandle, grants: api.VideoGrants | None, **claims: Any) -> str:
    builder = api.AccessToken(sim.api_key, sim.api_secret)
    if grants is not None:
        builder.with_grants(grants)
    return builder.to_jwt()


async def fails_with(call: Any) -> api.TwirpError:
    with pytest.raises(api.TwirpError) as raised:
        await call
    return raised.value


# -- auth and grants -------------------------------------------------------------


async def test_a_token_without_the_grant_is_refused_as_unauthenticated(livekit_sim_bare):
    without_grant = token(livekit_sim_bare, api.VideoGrants(room_list=True))
    async with api.LiveKitAPI.with_token(without_grant, livekit_sim_bare.url) as lk:
        error = await fails_with(lk.room.create_room(api.CreateRoomRequest(name="stage")))
    assert (error.code, error.message, error.status) == (
        "unauthenticated",
        "permissions denied",
        401,
    )
    assert livekit_sim_bare.state()["rooms"] == []


async def test_room_admin_for_another_room_is_refused(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    other_room = token(livekit_sim_bare, api.VideoGrants(room_admin=True, room="elsewhere"))
    async with api.LiveKitAPI.with_token(other_room, livekit_sim_bare.url) as lk:
        error = await fails_with(
            lk.room.list_participants(api.ListParticipantsRequest(room="stage"))
        )
    assert (error.code, error.status) == ("unauthenticated", 401)


async def test_each_grant_opens_only_its_own_methods(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    record_only = token(livekit_sim_bare, api.VideoGrants(room_record=True))
    async with api.LiveKitAPI.with_token(record_only, livekit_sim_bare.url) as lk:
        assert list((await lk.egress.list_egress(api.ListEgressRequest())).items) == []
        error = await fails_with(lk.ingress.list_ingress(api.ListIngressRequest()))
        assert error.status == 401
        error = await fails_with(lk.room.list_rooms(api.ListRoomsRequest()))
        assert error.status == 401
    ingress_only = token(livekit_sim_bare, api.VideoGrants(ingress_admin=True))
    async with api.LiveKitAPI.with_token(ingress_only, livekit_sim_bare.url) as lk:
        assert list((await lk.ingress.list_ingress(api.ListIngressRequest())).items) == []
        error = await fails_with(lk.egress.list_egress(api.ListEgressRequest()))
        assert error.status == 401


async def test_a_wrong_secret_is_a_plain_text_401_with_no_code(livekit_sim_bare):
    async with api.LiveKitAPI(livekit_sim_bare.url, livekit_sim_bare.api_key, "x" * 40) as lk:
        error = await fails_with(lk.room.list_rooms(api.ListRoomsRequest()))
    assert (error.code, error.message, error.status) == ("unknown", "", 401)


async def test_an_unknown_api_key_is_a_plain_text_401(livekit_sim_bare):
    async with api.LiveKitAPI(livekit_sim_bare.url, "someone-else", "x" * 40) as lk:
        error = await fails_with(lk.room.list_rooms(api.ListRoomsRequest()))
    assert (error.code, error.status) == ("unknown", 401)


async def test_an_expired_token_is_refused_but_the_leeway_is_honoured(livekit_sim_bare):
    now = int(time.time())
    claims = {"iss": livekit_sim_bare.api_key, "video": {"roomList": True}}
    expired = jwt.encode(
        {**claims, "exp": now - 120}, livekit_sim_bare.api_secret, algorithm="HS256"
    )
    within_leeway = jwt.encode(
        {**claims, "exp": now - 30}, livekit_sim_bare.api_secret, algorithm="HS256"
    )
    async with api.LiveKitAPI.with_token(expired, livekit_sim_bare.url) as lk:
        error = await fails_with(lk.room.list_rooms(api.ListRoomsRequest()))
        assert error.status == 401
    async with api.LiveKitAPI.with_token(within_leeway, livekit_sim_bare.url) as lk:
        assert list((await lk.room.list_rooms(api.ListRoomsRequest())).rooms) == []


async def test_a_token_without_expiry_is_refused(livekit_sim_bare):
    forever = jwt.encode(
        {"iss": livekit_sim_bare.api_key, "video": {"roomList": True}},
        livekit_sim_bare.api_secret,
        algorithm="HS256",
    )
    async with api.LiveKitAPI.with_token(forever, livekit_sim_bare.url) as lk:
        error = await fails_with(lk.room.list_rooms(api.ListRoomsRequest()))
    assert error.status == 401


async def test_a_short_lived_token_from_livekit_api_is_accepted(livekit_sim_bare):
    builder = api.AccessToken(livekit_sim_bare.api_key, livekit_sim_bare.api_secret)
    short = (
        builder.with_grants(api.VideoGrants(room_list=True))
        .with_ttl(datetime.timedelta(seconds=5))
        .to_jwt()
    )
    async with api.LiveKitAPI.with_token(short, livekit_sim_bare.url) as lk:
        assert list((await lk.room.list_rooms(api.ListRoomsRequest())).rooms) == []


# -- rooms -----------------------------------------------------------------------


async def test_create_room_is_get_or_create_and_ignores_new_options(lk, livekit_sim_bare):
    first = await lk.room.create_room(
        api.CreateRoomRequest(name="stage", empty_timeout=60, metadata="v1")
    )
    again = await lk.room.create_room(
        api.CreateRoomRequest(name="stage", empty_timeout=999, metadata="v2")
    )
    assert first.sid == again.sid
    assert first.sid.startswith("RM_") and len(first.sid) == 15
    assert (again.empty_timeout, again.metadata) == (60, "v1")
    assert again.departure_timeout == 20
    assert again.creation_time_ms // 1000 == again.creation_time
    assert [r["name"] for r in livekit_sim_bare.state()["rooms"]] == ["stage"]


async def test_create_room_takes_livekit_defaults(lk):
    room = await lk.room.create_room(api.CreateRoomRequest(name="stage"))
    assert (room.empty_timeout, room.departure_timeout, room.max_participants) == (300, 20, 0)


async def test_create_room_refuses_an_overlong_name(lk, livekit_sim_bare):
    error = await fails_with(lk.room.create_room(api.CreateRoomRequest(name="x" * 257)))
    assert (error.code, error.status) == ("invalid_argument", 400)
    assert livekit_sim_bare.state()["rooms"] == []


async def test_list_rooms_filters_by_exact_name_and_skips_unknown_ones(lk, livekit_sim_bare):
    for name in ("stage", "stage-2", "lounge"):
        livekit_sim_bare.create_room(name)
    everything = await lk.room.list_rooms(api.ListRoomsRequest())
    some = await lk.room.list_rooms(api.ListRoomsRequest(names=["stage", "ghost"]))
    assert sorted(r.name for r in everything.rooms) == ["lounge", "stage", "stage-2"]
    assert [r.name for r in some.rooms] == ["stage"]


async def test_num_participants_leaves_out_agents_and_egress_but_counts_hidden_ones(
    lk, livekit_sim_bare
):
    livekit_sim_bare.join("stage", "host-1", publish=["audio", "video"])
    livekit_sim_bare.join("stage", "viewer-1")
    livekit_sim_bare.join("stage", "console-observer", hidden=True)
    livekit_sim_bare.join("stage", "helper-bot", kind="AGENT")
    livekit_sim_bare.join("stage", "recorder", kind="EGRESS")
    (room,) = (await lk.room.list_rooms(api.ListRoomsRequest(names=["stage"]))).rooms
    assert room.num_participants == 3


async def test_num_publishers_counts_publishing_agents_and_those_who_unpublished_everything(
    lk, livekit_sim_bare
):
    host = livekit_sim_bare.join("stage", "host-1", publish=["audio"])
    livekit_sim_bare.join("stage", "viewer-1")
    livekit_sim_bare.join("stage", "helper-bot", kind="AGENT", publish=["audio"])
    livekit_sim_bare.unpublish("stage", "host-1", host["tracks"][0]["sid"])
    (room,) = (await lk.room.list_rooms(api.ListRoomsRequest(names=["stage"]))).rooms
    participant = await lk.room.get_participant(
        api.RoomParticipantIdentity(room="stage", identity="host-1")
    )
    assert room.num_publishers == 2
    assert (list(participant.tracks), participant.is_publisher) == ([], True)


async def test_delete_room_disconnects_everyone_as_room_deleted(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1", publish=["video"])
    livekit_sim_bare.join("stage", "viewer-1")
    livekit_sim_bare.clear_outbox()
    await lk.room.delete_room(api.DeleteRoomRequest(room="stage"))
    state = livekit_sim_bare.state()
    assert state["rooms"] == []
    assert {(r["identity"], r["reason"]) for r in state["removed"]} == {
        ("host-1", "ROOM_DELETED"),
        ("viewer-1", "ROOM_DELETED"),
    }
    assert livekit_sim_bare.events() == [
        "track_unpublished",
        "participant_left",
        "participant_left",
        "room_finished",
    ]


async def test_delete_room_on_an_unknown_room_is_not_found(lk):
    error = await fails_with(lk.room.delete_room(api.DeleteRoomRequest(room="ghost")))
    assert (error.code, error.status) == ("not_found", 404)
    assert error.message == "twirp error unknown: requested room does not exist"


async def test_update_room_metadata_returns_the_room_and_404s_on_unknown(lk, livekit_sim_bare):
    livekit_sim_bare.create_room("stage")
    room = await lk.room.update_room_metadata(
        api.UpdateRoomMetadataRequest(room="stage", metadata='{"topic":"chess"}')
    )
    assert room.metadata == '{"topic":"chess"}'
    assert livekit_sim_bare.room("stage")["metadata"] == '{"topic":"chess"}'
    error = await fails_with(
        lk.room.update_room_metadata(api.UpdateRoomMetadataRequest(room="ghost", metadata="x"))
    )
    assert (error.code, error.status) == ("not_found", 404)


# -- closing ---------------------------------------------------------------------


async def test_a_room_nobody_joined_closes_after_its_empty_timeout(lk, livekit_sim_bare):
    await lk.room.create_room(api.CreateRoomRequest(name="stage", empty_timeout=60))
    livekit_sim_bare.advance(59)
    assert livekit_sim_bare.room("stage") is not None
    livekit_sim_bare.advance(1)
    assert livekit_sim_bare.room("stage") is None
    assert livekit_sim_bare.events()[-1] == "room_finished"


async def test_a_room_closes_departure_timeout_after_the_last_participant_left(
    lk, livekit_sim_bare
):
    await lk.room.create_room(
        api.CreateRoomRequest(name="stage", empty_timeout=5, departure_timeout=30)
    )
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.advance(100)
    assert livekit_sim_bare.room("stage") is not None, "an occupied room stays open"
    livekit_sim_bare.leave("stage", "host-1")
    livekit_sim_bare.advance(29)
    assert livekit_sim_bare.room("stage") is not None
    livekit_sim_bare.advance(1)
    assert livekit_sim_bare.room("stage") is None


async def test_agents_and_egress_do_not_keep_a_room_open(livekit_sim_bare):
    livekit_sim_bare.create_room("stage", departure_timeout=10)
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.join("stage", "helper-bot", kind="AGENT")
    livekit_sim_bare.join("stage", "recorder", kind="EGRESS")
    livekit_sim_bare.leave("stage", "host-1")
    livekit_sim_bare.advance(10)
    assert livekit_sim_bare.room("stage") is None
    removed = {r["identity"]: r["reason"] for r in livekit_sim_bare.state()["removed"]}
    assert removed == {
        "host-1": "CLIENT_INITIATED",
        "helper-bot": "ROOM_CLOSED",
        "recorder": "ROOM_CLOSED",
    }


# -- participants ------------------------------------------------------------------


async def test_list_participants_on_an_unknown_room_is_an_empty_list(lk):
    response = await lk.room.list_participants(api.ListParticipantsRequest(room="ghost"))
    assert list(response.participants) == []


async def test_get_participant_returns_what_the_client_joined_with(lk, livekit_sim_bare):
    livekit_sim_bare.join(
        "stage",
        "host-1",
        name="Night Owl",
        metadata='{"tier":"gold"}',
        attributes={"role": "host"},
        publish=["audio", "video"],
    )
    p = await lk.room.get_participant(api.RoomParticipantIdentity(room="stage", identity="host-1"))
    assert p.sid.startswith("PA_")
    assert (p.name, p.metadata, dict(p.attributes)) == (
        "Night Owl",
        '{"tier":"gold"}',
        {"role": "host"},
    )
    assert p.state == api.ParticipantInfo.State.ACTIVE
    assert p.is_publisher
    assert sorted(api.TrackSource.Name(t.source) for t in p.tracks) == ["CAMERA", "MICROPHONE"]
    assert all(t.sid.startswith("TR_") for t in p.tracks)


@pytest.mark.parametrize(("room", "identity"), [("ghost", "host-1"), ("stage", "ghost")])
async def test_get_participant_unknown_is_not_found(lk, livekit_sim_bare, room, identity):
    livekit_sim_bare.join("stage", "host-1")
    error = await fails_with(
        lk.room.get_participant(api.RoomParticipantIdentity(room=room, identity=identity))
    )
    assert (error.code, error.status) == ("not_found", 404)
    assert error.message == "twirp error unknown: participant does not exist"


async def test_remove_participant_unpublishes_and_does_not_revoke_the_token(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "troll-1", publish=["video"])
    livekit_sim_bare.clear_outbox()
    await lk.room.remove_participant(api.RoomParticipantIdentity(room="stage", identity="troll-1"))
    assert livekit_sim_bare.room("stage")["participants"] == []
    assert livekit_sim_bare.state()["removed"] == [
        {"room": "stage", "identity": "troll-1", "reason": "PARTICIPANT_REMOVED"}
    ]
    assert livekit_sim_bare.events() == ["track_unpublished", "participant_left"]
    rejoined = livekit_sim_bare.join("stage", "troll-1")
    assert rejoined["state"] == "ACTIVE"


async def test_remove_participant_unknown_is_not_found(lk, livekit_sim_bare):
    livekit_sim_bare.create_room("stage")
    error = await fails_with(
        lk.room.remove_participant(api.RoomParticipantIdentity(room="stage", identity="ghost"))
    )
    assert (error.code, error.status) == ("not_found", 404)


# -- muting ------------------------------------------------------------------------


async def test_mute_published_track_mutes_the_track(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    track = livekit_sim_bare.publish("stage", "host-1", "microphone")
    response = await lk.room.mute_published_track(
        api.MuteRoomTrackRequest(
            room="stage", identity="host-1", track_sid=track["sid"], muted=True
        )
    )
    assert response.track.sid == track["sid"] and response.track.muted
    (state_track,) = livekit_sim_bare.room("stage")["participants"][0]["tracks"]
    assert state_track["muted"] is True


async def test_remote_unmute_is_refused_unless_the_room_enables_it(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    track = livekit_sim_bare.publish("stage", "host-1", "microphone", muted=True)
    unmute = api.MuteRoomTrackRequest(
        room="stage", identity="host-1", track_sid=track["sid"], muted=False
    )
    error = await fails_with(lk.room.mute_published_track(unmute))
    assert (error.code, error.status) == ("failed_precondition", 412)
    assert error.message.endswith("remote unmute not enabled")
    assert livekit_sim_bare.room("stage")["participants"][0]["tracks"][0]["muted"] is True

    livekit_sim_bare.create_room("open-mic", enable_remote_unmute=True)
    livekit_sim_bare.join("open-mic", "guest-1")
    track = livekit_sim_bare.publish("open-mic", "guest-1", "microphone", muted=True)
    response = await lk.room.mute_published_track(
        api.MuteRoomTrackRequest(
            room="open-mic", identity="guest-1", track_sid=track["sid"], muted=False
        )
    )
    assert response.track.muted is False


async def test_muting_an_unknown_track_answers_without_a_track(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    response = await lk.room.mute_published_track(
        api.MuteRoomTrackRequest(room="stage", identity="host-1", track_sid="TR_nope", muted=True)
    )
    assert not response.HasField("track")


async def test_muting_for_an_unknown_participant_is_unavailable_after_a_wait(lk, livekit_sim_bare):
    livekit_sim_bare.create_room("stage")
    started = time.monotonic()
    error = await fails_with(
        lk.room.mute_published_track(
            api.MuteRoomTrackRequest(room="stage", identity="ghost", track_sid="TR_x", muted=True)
        )
    )
    assert (error.code, error.message, error.status) == (
        "unavailable",
        "twirp error unknown: no response from servers",
        503,
    )
    assert time.monotonic() - started >= 3 * 0.2, "three RPC attempts of the fixture's 0.2 s"


async def test_send_data_to_a_room_that_does_not_exist_is_unavailable_after_the_rpc_timeout(
    lk, livekit_sim_bare
):
    started = time.monotonic()
    error = await fails_with(lk.room.send_data(api.SendDataRequest(room="ghost", data=b"hi")))
    assert (error.code, error.message, error.status) == (
        "unavailable",
        "twirp error unknown: no response from servers",
        503,
    )
    assert time.monotonic() - started >= 0.2
    assert livekit_sim_bare.state()["data_messages"] == []


async def test_update_subscriptions_for_an_unknown_participant_is_unavailable(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    started = time.monotonic()
    error = await fails_with(
        lk.room.update_subscriptions(
            api.UpdateSubscriptionsRequest(
                room="stage", identity="ghost", track_sids=["TR_x"], subscribe=True
            )
        )
    )
    assert (error.code, error.message, error.status) == (
        "unavailable",
        "twirp error unknown: no response from servers",
        503,
    )
    assert time.monotonic() - started >= 0.2


async def test_a_participant_not_active_a_minute_after_joining_is_aborted_as_join_failure(
    lk, livekit_sim_bare
):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.join("stage", "flaky-1", connect=False)
    livekit_sim_bare.clear_outbox()
    livekit_sim_bare.advance(59)
    still = await lk.room.list_participants(api.ListParticipantsRequest(room="stage"))
    assert sorted(p.identity for p in still.participants) == ["flaky-1", "host-1"]
    livekit_sim_bare.advance(1)
    after = await lk.room.list_participants(api.ListParticipantsRequest(room="stage"))
    assert [p.identity for p in after.participants] == ["host-1"]
    (aborted,) = livekit_sim_bare.outbox()
    body = json.loads(aborted["body"])
    assert body["event"] == "participant_connection_aborted"
    assert (body["participant"]["identity"], body["participant"]["disconnectReason"]) == (
        "flaky-1",
        "JOIN_FAILURE",
    )


# -- updating participants ------------------------------------------------------------


async def test_update_participant_applies_non_empty_fields_and_merges_attributes(
    lk, livekit_sim_bare
):
    livekit_sim_bare.join(
        "stage", "guest-1", name="Guest", metadata="m1", attributes={"role": "viewer", "x": "1"}
    )
    updated = await lk.room.update_participant(
        api.UpdateParticipantRequest(
            room="stage", identity="guest-1", attributes={"role": "co-host", "x": ""}
        )
    )
    assert (updated.name, updated.metadata) == ("Guest", "m1")
    assert dict(updated.attributes) == {"role": "co-host"}
    assert livekit_sim_bare.room("stage")["participants"][0]["attributes"] == {"role": "co-host"}


async def test_a_permission_update_replaces_every_field_and_unpublishes_tracks(
    lk, livekit_sim_bare
):
    livekit_sim_bare.join("stage", "host-1", publish=["audio", "video"])
    livekit_sim_bare.clear_outbox()
    updated = await lk.room.update_participant(
        api.UpdateParticipantRequest(
            room="stage",
            identity="host-1",
            permission=api.ParticipantPermission(can_subscribe=True),
        )
    )
    assert list(updated.tracks) == []
    assert (updated.permission.can_publish, updated.permission.can_publish_data) == (False, False)
    (participant,) = livekit_sim_bare.room("stage")["participants"]
    assert participant["tracks"] == []
    assert participant["permission"]["can_publish"] is False
    assert livekit_sim_bare.room("stage")["num_publishers"] == 1, "is_publisher stays set"
    assert livekit_sim_bare.events() == ["track_unpublished", "track_unpublished"]


async def test_can_publish_sources_unpublishes_the_tracks_it_no_longer_allows(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1", publish=["camera", "microphone"])
    livekit_sim_bare.clear_outbox()
    updated = await lk.room.update_participant(
        api.UpdateParticipantRequest(
            room="stage",
            identity="host-1",
            permission=api.ParticipantPermission(
                can_publish=True,
                can_subscribe=True,
                can_publish_sources=[api.TrackSource.MICROPHONE],
            ),
        )
    )
    assert [t.source for t in updated.tracks] == [api.TrackSource.MICROPHONE]
    (unpublished,) = livekit_sim_bare.outbox()
    assert unpublished["event"] == "track_unpublished"
    assert json.loads(unpublished["body"])["track"]["source"] == "CAMERA"
    with pytest.raises(SimControlError) as refused:
        livekit_sim_bare.publish("stage", "host-1", "camera")
    assert (refused.value.status, refused.value.error) == (
        403,
        "failed to publish track, insufficient permissions",
    )
    livekit_sim_bare.publish("stage", "host-1", "microphone")


async def test_update_participant_refuses_oversized_metadata_and_leaves_it_alone(
    lk, livekit_sim_bare
):
    livekit_sim_bare.join("stage", "host-1", metadata="kept")
    error = await fails_with(
        lk.room.update_participant(
            api.UpdateParticipantRequest(
                room="stage", identity="host-1", metadata="x" * (512 * 1024 + 1)
            )
        )
    )
    assert (error.code, error.status) == ("invalid_argument", 400)
    assert livekit_sim_bare.room("stage")["participants"][0]["metadata"] == "kept"


async def test_update_participant_unknown_is_not_found(lk, livekit_sim_bare):
    livekit_sim_bare.create_room("stage")
    error = await fails_with(
        lk.room.update_participant(
            api.UpdateParticipantRequest(room="stage", identity="ghost", name="x")
        )
    )
    assert (error.code, error.status) == ("not_found", 404)


# -- data ---------------------------------------------------------------------------


async def test_send_data_is_recorded_with_its_topic_and_destinations(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    viewer = livekit_sim_bare.join("stage", "viewer-1")
    await lk.room.send_data(
        api.SendDataRequest(
            room="stage",
            data=b"please keep it civil",
            kind=api.DataPacket.Kind.RELIABLE,
            topic="moderation",
            destination_sids=[viewer["sid"]],
        )
    )
    assert livekit_sim_bare.state()["data_messages"] == [
        {
            "room": "stage",
            "topic": "moderation",
            "payload": "please keep it civil",
            "destination_identities": ["viewer-1"],
            "kind": "RELIABLE",
        }
    ]


# -- rows of shared/LIVEKIT.md not covered above ---------------------------------------


async def test_a_token_not_yet_valid_is_refused_but_the_leeway_is_honoured(livekit_sim_bare):
    now = int(time.time())
    claims = {"iss": livekit_sim_bare.api_key, "exp": now + 600, "video": {"roomList": True}}
    too_early = jwt.encode(
        {**claims, "nbf": now + 120}, livekit_sim_bare.api_secret, algorithm="HS256"
    )
    within_leeway = jwt.encode(
        {**claims, "nbf": now + 30}, livekit_sim_bare.api_secret, algorithm="HS256"
    )
    async with api.LiveKitAPI.with_token(too_early, livekit_sim_bare.url) as lk:
        error = await fails_with(lk.room.list_rooms(api.ListRoomsRequest()))
        assert (error.code, error.message, error.status) == ("unknown", "", 401)
    async with api.LiveKitAPI.with_token(within_leeway, livekit_sim_bare.url) as lk:
        assert list((await lk.room.list_rooms(api.ListRoomsRequest())).rooms) == []


async def test_a_ws_url_is_called_over_http(livekit_sim_bare):
    ws_url = livekit_sim_bare.url.replace("http://", "ws://")
    async with api.LiveKitAPI(ws_url, livekit_sim_bare.api_key, livekit_sim_bare.api_secret) as lk:
        room = await lk.room.create_room(api.CreateRoomRequest(name="stage"))
    assert livekit_sim_bare.room("stage")["sid"] == room.sid


async def test_create_room_fires_room_started_with_the_room(lk, livekit_sim_bare):
    livekit_sim_bare.clear_outbox()
    room = await lk.room.create_room(api.CreateRoomRequest(name="stage"))
    await lk.room.create_room(api.CreateRoomRequest(name="stage"))
    (delivery,) = livekit_sim_bare.outbox()
    verifier = api.TokenVerifier(livekit_sim_bare.api_key, livekit_sim_bare.api_secret)
    event = api.WebhookReceiver(verifier).receive(delivery["body"], delivery["authorization"])
    assert (event.event, event.room.sid, event.room.name) == ("room_started", room.sid, "stage")


async def test_create_room_refuses_oversized_metadata(lk, livekit_sim_bare):
    error = await fails_with(
        lk.room.create_room(api.CreateRoomRequest(name="stage", metadata="x" * (512 * 1024 + 1)))
    )
    assert (error.code, error.status) == ("invalid_argument", 400)
    assert error.message == "metadata size exceeds limits 524288", "a native twirp error"
    assert error.metadata == {"argument": "metadata size exceeds limits"}
    assert livekit_sim_bare.state()["rooms"] == []


async def test_update_room_metadata_refuses_oversized_metadata_and_keeps_the_old(
    lk, livekit_sim_bare
):
    livekit_sim_bare.create_room("stage", metadata="kept")
    error = await fails_with(
        lk.room.update_room_metadata(
            api.UpdateRoomMetadataRequest(room="stage", metadata="x" * (512 * 1024 + 1))
        )
    )
    assert (error.code, error.status) == ("invalid_argument", 400)
    assert livekit_sim_bare.room("stage")["metadata"] == "kept"


@pytest.mark.parametrize(
    "change",
    [{"name": "n" * 257}, {"attributes": {"bio": "x" * (64 * 1024 + 1)}}],
    ids=["name over 256", "attributes over 64 KiB"],
)
async def test_update_participant_refuses_oversized_fields_and_leaves_them_alone(
    lk, livekit_sim_bare, change
):
    livekit_sim_bare.join("stage", "host-1", name="Host", attributes={"role": "host"})
    error = await fails_with(
        lk.room.update_participant(
            api.UpdateParticipantRequest(room="stage", identity="host-1", **change)
        )
    )
    assert (error.code, error.status) == ("invalid_argument", 400)
    (participant,) = livekit_sim_bare.room("stage")["participants"]
    assert (participant["name"], participant["attributes"]) == ("Host", {"role": "host"})


async def test_a_participant_is_joining_until_its_media_connects(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "guest-1", connect=False)
    who = api.RoomParticipantIdentity(room="stage", identity="guest-1")
    joining = await lk.room.get_participant(who)
    assert joining.state == api.ParticipantInfo.State.JOINING
    assert joining.joined_at_ms // 1000 == joining.joined_at
    assert "participant_joined" not in livekit_sim_bare.events()
    livekit_sim_bare.connect("stage", "guest-1")
    assert (await lk.room.get_participant(who)).state == api.ParticipantInfo.State.ACTIVE
    assert livekit_sim_bare.events()[-1] == "participant_joined"


async def test_send_data_without_destinations_goes_to_everyone(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.join("stage", "viewer-1")
    await lk.room.send_data(
        api.SendDataRequest(room="stage", data=b"hello", kind=api.DataPacket.Kind.RELIABLE)
    )
    (message,) = livekit_sim_bare.state()["data_messages"]
    assert (message["payload"], message["destination_identities"]) == ("hello", [])


async def test_participant_methods_need_room_admin_for_that_room(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1", publish=["audio"])
    grants = api.VideoGrants(room_list=True, room_create=True)
    who = api.RoomParticipantIdentity(room="stage", identity="host-1")
    async with api.LiveKitAPI.with_token(
        token(livekit_sim_bare, grants), livekit_sim_bare.url
    ) as lk:
        calls = [
            lk.room.get_participant(who),
            lk.room.remove_participant(who),
            lk.room.mute_published_track(
                api.MuteRoomTrackRequest(room="stage", identity="host-1", track_sid="TR_x")
            ),
            lk.room.update_participant(
                api.UpdateParticipantRequest(room="stage", identity="host-1", name="x")
            ),
            lk.room.send_data(api.SendDataRequest(room="stage", data=b"x")),
            lk.room.update_room_metadata(api.UpdateRoomMetadataRequest(room="stage", metadata="x")),
        ]
        for call in calls:
            error = await fails_with(call)
            assert (error.code, error.status) == ("unauthenticated", 401)
    assert livekit_sim_bare.room("stage")["participants"][0]["name"] == ""
    assert livekit_sim_bare.state()["data_messages"] == []
