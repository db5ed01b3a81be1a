"""The /sim/ control API: what it accepts, what it refuses, and the truth it reports."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.fixtures.livekit import SimControlError, SimHandle


def refused(call, *args, **kwargs) -> SimControlError:
    with pytest.raises(SimControlError) as raised:
        call(*args, **kwargs)
    return raised.value


def test_joining_an_unknown_room_creates_it_first(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1", attributes={"role": "host"}, publish=["screen"])
    assert livekit_sim_bare.events() == ["room_started", "participant_joined", "track_published"]
    room = livekit_sim_bare.room("stage")
    assert (room["num_participants"], room["num_publishers"]) == (1, 1)
    assert room["participants"][0]["tracks"][0]["source"] == "SCREEN_SHARE"


def test_the_state_reports_every_documented_field(livekit_sim_bare):
    livekit_sim_bare.create_room("stage", metadata="m", max_participants=10, empty_timeout=30)
    livekit_sim_bare.join("stage", "host-1", name="Host", publish=["camera"])
    state = livekit_sim_bare.state()
    assert set(state) == {"rooms", "egress", "ingress", "data_messages", "removed", "observers"}
    (room,) = state["rooms"]
    assert set(room) >= {
        "sid", "name", "num_participants", "num_publishers", "active_recording", "metadata",
        "empty_timeout", "departure_timeout", "max_participants", "creation_time",
        "enable_remote_unmute", "participants",
    }  # fmt: skip
    (participant,) = room["participants"]
    assert set(participant) >= {
        "sid", "identity", "name", "state", "kind", "metadata", "attributes", "permission",
        "joined_at", "tracks",
    }  # fmt: skip
    assert set(participant["permission"]) >= {
        "can_publish", "can_subscribe", "can_publish_data", "hidden",
    }  # fmt: skip
    assert participant["tracks"][0] == {
        "sid": participant["tracks"][0]["sid"],
        "type": "VIDEO",
        "source": "CAMERA",
        "muted": False,
        "name": "camera",
    }


def test_client_side_mute_and_unpublish_change_the_track(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    track = livekit_sim_bare.publish("stage", "host-1", "microphone")
    livekit_sim_bare.mute("stage", "host-1", track["sid"], True)
    assert livekit_sim_bare.room("stage")["participants"][0]["tracks"][0]["muted"] is True
    livekit_sim_bare.mute("stage", "host-1", track["sid"], False)
    assert livekit_sim_bare.room("stage")["participants"][0]["tracks"][0]["muted"] is False
    livekit_sim_bare.unpublish("stage", "host-1", track["sid"])
    assert livekit_sim_bare.room("stage")["participants"][0]["tracks"] == []
    assert livekit_sim_bare.events()[-1] == "track_unpublished"


def test_a_full_room_refuses_another_participant(livekit_sim_bare):
    livekit_sim_bare.create_room("small", max_participants=1)
    livekit_sim_bare.join("small", "host-1")
    error = refused(livekit_sim_bare.join, "small", "viewer-1")
    assert (error.status, error.error) == (400, "room is full")
    livekit_sim_bare.join("small", "helper-bot", kind="AGENT")
    assert len(livekit_sim_bare.room("small")["participants"]) == 2


@pytest.mark.parametrize(
    ("path", "payload", "status", "message"),
    [
        ("/sim/rooms", {}, 400, "name is required"),
        (
            "/sim/rooms",
            {"name": "x", "empty_timeout": -1},
            400,
            "empty_timeout must not be negative",
        ),
        (
            "/sim/rooms",
            {"name": "x", "max_participants": "ten"},
            400,
            "max_participants must be of type int",
        ),
        ("/sim/rooms/stage/participants", {}, 400, "identity is required"),
        (
            "/sim/rooms/stage/participants",
            {"identity": "a", "kind": "ROBOT"},
            400,
            "unknown participant kind 'ROBOT'",
        ),
        (
            "/sim/rooms/stage/participants",
            {"identity": "a", "publish": ["smell"]},
            400,
            "unknown track source 'smell'",
        ),
        (
            "/sim/rooms/stage/participants",
            {"identity": "a", "attributes": {"n": 1}},
            400,
            "attributes must map strings to strings",
        ),
        ("/sim/rooms/stage/participants/ghost/leave", {}, 404, "participant does not exist"),
        (
            "/sim/rooms/stage/participants/ghost/tracks",
            {"source": "camera"},
            404,
            "participant does not exist",
        ),
        ("/sim/rooms/ghost/egress", {}, 404, "requested room does not exist"),
        ("/sim/egress/EG_nope/stop", {}, 404, "egress does not exist"),
        ("/sim/ingress/IN_nope/publish", {}, 404, "ingress does not exist"),
        (
            "/sim/clock",
            {"advance_seconds": -5},
            400,
            "advance_seconds must be a non-negative number",
        ),
        ("/sim/nothing-here", {}, 404, "no such simulator endpoint: POST /sim/nothing-here"),
    ],
)
def test_bad_control_requests_get_a_clear_json_error(
    livekit_sim_bare, path, payload, status, message
):
    livekit_sim_bare.create_room("stage")
    before = livekit_sim_bare.state()
    error = refused(livekit_sim_bare.post, path, payload)
    assert (error.status, error.error) == (status, message)
    assert livekit_sim_bare.state() == before, "nothing was half done"


def test_a_body_that_is_not_json_is_refused(livekit_sim_bare):
    request = urllib.request.Request(
        livekit_sim_bare.url + "/sim/rooms", data=b"{oops", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 400
    assert b"not valid JSON" in raised.value.read()


def test_reset_empties_the_state_and_restores_webhook_defaults(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.webhooks(mode="drop")
    livekit_sim_bare.reset()
    assert livekit_sim_bare.state()["rooms"] == []
    assert livekit_sim_bare.outbox() == []
    assert livekit_sim_bare.webhooks()["mode"] == "normal"


def test_the_django_fixture_points_the_settings_at_the_simulator(livekit_sim):
    assert livekit_sim.url == django_settings.LIVEKIT_URL
    assert livekit_sim.api_key == django_settings.LIVEKIT_API_KEY
    assert livekit_sim.api_secret == django_settings.LIVEKIT_API_SECRET


def test_the_management_command_serves_and_stops_on_sigterm(tmp_path: Path):
    process = subprocess.Popen(
        [
            sys.executable, "manage.py", "livekit_sim", "--port", "0",
            "--api-key", "cli-key", "--api-secret", "c" * 40, "--activity", "2",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("LiveKit simulator on http://127.0.0.1:"), line
        url = line.split(" on ")[1].split(" ")[0]
        sim = SimHandle(url, "cli-key", "c" * 40)
        deadline = time.monotonic() + 10
        while len(sim.state()["rooms"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        rooms = sim.state()["rooms"]
        assert len(rooms) == 2
        roles = {p["attributes"].get("role") for r in rooms for p in r["participants"]}
        assert {"host", "viewer"} <= roles
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "LiveKit simulator stopped." in out


@pytest.mark.parametrize(
    ("room", "identity"),
    [
        ("team {alpha}", "user{1}"),
        ("{}", "}{"),
        ("a/b", "c/d"),
        ("50% off", "%2F"),
        ("Café ☕?#", "ünïcode &=+"),
    ],
)
def test_any_room_or_identity_livekit_accepts_is_addressable(livekit_sim_bare, room, identity):
    livekit_sim_bare.join(room, identity, connect=False)
    livekit_sim_bare.connect(room, identity)
    track = livekit_sim_bare.publish(room, identity, "microphone")
    livekit_sim_bare.mute(room, identity, track["sid"])
    livekit_sim_bare.unpublish(room, identity, track["sid"])
    left = livekit_sim_bare.leave(room, identity)
    assert (left["identity"], left["disconnect_reason"]) == (identity, "CLIENT_INITIATED")
    assert livekit_sim_bare.state()["removed"] == [
        {"room": room, "identity": identity, "reason": "CLIENT_INITIATED"}
    ]
    livekit_sim_bare.start_egress(room)
    assert livekit_sim_bare.create_ingress(room)["room_name"] == room


def test_publishing_a_source_the_permission_does_not_allow_is_refused_like_a_client(
    livekit_sim_bare,
):
    livekit_sim_bare.join("stage", "viewer-1", can_publish=False)
    error = refused(livekit_sim_bare.publish, "stage", "viewer-1", "camera")
    assert (error.status, error.error) == (403, "failed to publish track, insufficient permissions")
    assert livekit_sim_bare.room("stage")["participants"][0]["tracks"] == []
