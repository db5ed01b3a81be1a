"""Live preview: observer tokens (claims, grants, TTL, who may have one), the
simulator's /rtc signalling, and evidence frames (stored, attached, audited, guarded)."""

from __future__ import annotations

import csv
import io
import struct
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.models import AuditEntry, Evidence, Room, RoomStatus
from monitoring.moderation import actions
from tests.observer_client import Refused, SignalClient

pytestmark = pytest.mark.django_db


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def sim(livekit_sim: Any, settings: Any) -> Any:
    settings.LIVEKIT_PUBLIC_URL = livekit_sim.url.replace("http://", "ws://")
    return livekit_sim


@pytest.fixture
def evidence_dir(settings: Any, tmp_path: Any) -> Any:
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    from django.core.files.storage import storages

    storages._storages.pop("evidence", None)
    yield tmp_path
    storages._storages.pop("evidence", None)


@pytest.fixture
def stage(sim: Any) -> Room:
    sim.join("stage", "host", publish=["camera", "microphone"])
    info = sim.room("stage")
    return Room.objects.create(
        sid=info["sid"], name="stage", status=RoomStatus.LIVE, created_at=timezone.now()
    )


def token_url(room: Room) -> str:
    return reverse("monitoring:watch-token", args=[room.pk])


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


# --- The token --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["support", "moderator", "admin"])
def test_staff_with_view_access_get_an_observer_token(
    role: str, request: pytest.FixtureRequest, client_for: Any, stage: Room, sim: Any
) -> None:
    user = request.getfixturevalue(role)

    response = client_for(user).get(token_url(stage))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"url", "token", "identity", "expires_at"}
    assert body["url"] == sim.url.replace("http://", "ws://")
    assert body["identity"].startswith(f"roomwatch-observer-{user.pk}-")
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_token_may_subscribe_hidden_to_one_room_and_nothing_else(
    client_for: Any, moderator: Any, stage: Room, sim: Any
) -> None:
    body = client_for(moderator).get(token_url(stage)).json()

    claims = jwt.decode(body["token"], sim.api_secret, algorithms=["HS256"], issuer=sim.api_key)

    assert claims["sub"] == body["identity"]
    assert claims["video"] == {
        "roomJoin": True,
        "room": "stage",
        "hidden": True,
        "canSubscribe": True,
        "canPublish": False,
        "canPublishData": False,
        "canUpdateOwnMetadata": False,
    }
    assert claims["attributes"] == {"roomwatch.observer": "console"}
    assert not set(claims) - {"sub", "iss", "nbf", "exp", "name", "video", "attributes"}


def test_the_token_lives_for_the_configured_ttl_and_says_when_it_expires(
    client_for: Any, moderator: Any, stage: Room, settings: Any
) -> None:
    settings.ROOMWATCH_OBSERVER_TOKEN_TTL_SECONDS = 120
    body = client_for(moderator).get(token_url(stage)).json()
    claims = claims_of(body["token"])

    assert claims["exp"] - claims["nbf"] == 120
    assert abs(claims["exp"] - time.time() - 120) < 5
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromtimestamp(
        claims["exp"], tz=UTC
    )


def test_the_default_ttl_is_ten_minutes(client_for: Any, moderator: Any, stage: Room) -> None:
    claims = claims_of(client_for(moderator).get(token_url(stage)).json()["token"])
    assert claims["exp"] - claims["nbf"] == 600


def test_every_token_gets_a_new_identity_unless_it_renews_one(
    client_for: Any, moderator: Any, stage: Room
) -> None:
    client = client_for(moderator)
    first = client.get(token_url(stage)).json()["identity"]
    second = client.get(token_url(stage)).json()["identity"]
    renewed = client.get(token_url(stage), {"renew": first}).json()["identity"]

    assert first != second
    assert renewed == first


def test_nobody_renews_another_staff_members_identity(
    client_for: Any, moderator: Any, admin: Any, stage: Room
) -> None:
    theirs = client_for(admin).get(token_url(stage)).json()["identity"]

    response = client_for(moderator).get(token_url(stage), {"renew": theirs})

    assert response.status_code == 400
    assert "your own" in response.json()["error"]


def test_anonymous_visitors_are_sent_to_sign_in(client: Any, stage: Room) -> None:
    response = client.get(token_url(stage))

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_signed_in_non_staff_are_refused(client_for: Any, outsider: Any, stage: Room) -> None:
    assert client_for(outsider).get(token_url(stage)).status_code == 403


def test_only_get_is_answered(client_for: Any, moderator: Any, stage: Room) -> None:
    assert client_for(moderator).post(token_url(stage)).status_code == 405


def test_an_unknown_room_is_not_found(client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).get(reverse("monitoring:watch-token", args=[999999]))
    assert response.status_code == 404


def test_an_ended_room_has_nothing_to_watch(client_for: Any, moderator: Any, stage: Room) -> None:
    Room.objects.filter(pk=stage.pk).update(status=RoomStatus.ENDED, ended_at=timezone.now())

    response = client_for(moderator).get(token_url(stage))

    assert response.status_code == 400
    assert "ended" in response.json()["error"]


def test_the_public_url_defaults_to_the_api_url_as_a_websocket() -> None:
    import subprocess
    import sys

    def public_url(api: str) -> str:
        code = (
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.LIVEKIT_PUBLIC_URL)"
        )
        env = {"DJANGO_SETTINGS_MODULE": "config.settings", "LIVEKIT_URL": api, "PATH": ""}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    assert public_url("http://lk.internal:7880") == "ws://lk.internal:7880"
    assert public_url("https://lk.example.com") == "wss://lk.example.com"


# --- The simulator's signalling ---------------------------------------------------


def observer_token(client_for: Any, user: Any, room: Room) -> dict[str, Any]:
    return client_for(user).get(token_url(room)).json()


def test_the_simulator_lets_an_observer_join_hidden_and_answers_a_join(
    client_for: Any, moderator: Any, stage: Room, sim: Any
) -> None:
    token = observer_token(client_for, moderator, stage)
    signal = SignalClient(sim.url, token["token"])
    try:
        first = signal.open()

        assert first.WhichOneof("message") == "join"
        assert first.join.participant.identity == token["identity"]
        assert first.join.participant.permission.hidden
        assert not first.join.participant.permission.can_publish
        assert not first.join.participant.permission.can_publish_data
        assert [p.identity for p in first.join.other_participants] == ["host"]
        assert first.join.room.name == "stage"
        assert signal.ping().WhichOneof("message") == "pong_resp"
        state = sim.state()
        assert [(o["room"], o["identity"]) for o in state["observers"]] == [
            ("stage", token["identity"])
        ]
        # LiveKit counts hidden participants in num_participants.
        assert sim.room("stage")["num_participants"] == 2
    finally:
        signal.close()
    time.sleep(0.3)
    assert sim.state()["observers"] == []
    assert sim.events()[-2:] == ["participant_joined", "participant_left"]


def test_the_simulator_refuses_tokens_as_livekit_does(
    client_for: Any, moderator: Any, stage: Room, sim: Any
) -> None:
    from livekit import api

    def attempt(token: str) -> tuple[int, str]:
        with pytest.raises(Refused) as refused:
            SignalClient(sim.url, token).open()
        return refused.value.status, refused.value.text

    good = observer_token(client_for, moderator, stage)["token"]
    assert attempt(good[:-4] + "AAAA")[0] == 401
    assert attempt("not-a-jwt") == (401, "invalid authorization token")
    other_key = api.AccessToken("someone-else", "x" * 40).with_identity("a")
    assert attempt(
        other_key.with_grants(api.VideoGrants(room_join=True, room="stage")).to_jwt()
    ) == (
        401,
        "invalid API key",
    )
    expired = (
        api.AccessToken(sim.api_key, sim.api_secret)
        .with_identity("late")
        .with_grants(api.VideoGrants(room_join=True, room="stage"))
        .with_ttl(__import__("datetime").timedelta(seconds=-120))
        .to_jwt()
    )
    status, text = attempt(expired)
    assert status == 401 and text.startswith("invalid authorization token: ")
    no_join = (
        api.AccessToken(sim.api_key, sim.api_secret)
        .with_identity("lurker")
        .with_grants(api.VideoGrants(room="stage", room_list=True))
        .to_jwt()
    )
    assert attempt(no_join) == (401, "permissions denied")
    assert sim.state()["observers"] == []


def test_a_plain_request_to_rtc_is_not_found(sim: Any) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(sim.url + "/rtc", timeout=5)
    assert error.value.code == 404


def test_an_observer_removed_by_the_api_is_told_to_leave(
    client_for: Any, moderator: Any, stage: Room, sim: Any
) -> None:
    from asgiref.sync import async_to_sync

    from monitoring import livekit

    token = observer_token(client_for, moderator, stage)
    signal = SignalClient(sim.url, token["token"])
    try:
        signal.open()
        async_to_sync(livekit.remove_participant)(room="stage", identity=token["identity"])
        message = signal.receive()
        from livekit.protocol import rtc as rtc_pb

        leave = rtc_pb.SignalResponse()
        leave.ParseFromString(message.data)
        assert leave.WhichOneof("message") == "leave"
    finally:
        signal.close()


# --- Evidence ---------------------------------------------------------------------


def upload(client: Any, room: Room, data: bytes, **query: str) -> Any:
    url = reverse("monitoring:evidence-upload", args=[room.pk])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(url, data=data, content_type="image/png")


def test_a_captured_frame_is_stored_and_audited(
    client_for: Any, moderator: Any, stage: Room, evidence_dir: Any
) -> None:
    response = upload(client_for(moderator), stage, png(), identity="host")

    assert response.status_code == 201
    evidence = Evidence.objects.get()
    assert evidence.room_name == "stage" and evidence.identity == "host"
    assert evidence.attached_at is None
    assert (evidence_dir / evidence.image.name).read_bytes() == png()
    entry = AuditEntry.objects.get(action="evidence.capture")
    assert entry.detail["evidence"] == [evidence.pk]
    assert entry.actor == moderator


def test_a_frame_is_attached_to_the_next_action_on_that_room(
    client_for: Any, moderator: Any, stage: Room, sim: Any, evidence_dir: Any
) -> None:
    client = client_for(moderator)
    upload(client, stage, png(), identity="host")
    evidence = Evidence.objects.get()

    result = actions.participant_kick(
        actor=moderator, room=stage, identity="host", reason="nudity", token=actions.new_token()
    )

    assert result.ok
    kick = AuditEntry.objects.get(action="participant.kick")
    assert kick.detail["evidence"] == [evidence.pk]
    evidence.refresh_from_db()
    assert evidence.audit_entry == kick and evidence.attached_at is not None
    # The next action carries nothing: the frame went with the kick.
    actions.room_warn(
        actor=moderator,
        room=stage,
        message="Keep it clean",
        reason="nudity",
        token=actions.new_token(),
    )
    assert "evidence" not in AuditEntry.objects.get(action="room.warn").detail


def test_the_audit_page_links_the_evidence_and_the_csv_names_it(
    client_for: Any, moderator: Any, admin: Any, stage: Room, sim: Any, evidence_dir: Any
) -> None:
    upload(client_for(moderator), stage, png())
    evidence = Evidence.objects.get()
    actions.room_end(actor=moderator, room=stage, reason="nudity", token=actions.new_token())
    link = reverse("monitoring:evidence", args=[evidence.pk])

    client = client_for(admin)
    page = client.get(reverse("monitoring:audit"), {"action": "room.end"})
    export = client.get(reverse("monitoring:audit-export"), {"action": "room.end"})

    assert link in page.content.decode()
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [r["evidence"] for r in rows] == [link]


def test_only_staff_fetch_an_evidence_image(
    client: Any,
    client_for: Any,
    moderator: Any,
    support: Any,
    outsider: Any,
    stage: Room,
    evidence_dir: Any,
) -> None:
    upload(client_for(moderator), stage, png())
    url = reverse("monitoring:evidence", args=[Evidence.objects.get().pk])
    client.logout()

    anonymous = client.get(url)
    outsider_response = client_for(outsider).get(url)
    client.logout()
    staff = client_for(support).get(url)

    assert anonymous.status_code == 302
    assert outsider_response.status_code == 403
    assert staff.status_code == 200
    assert staff["Content-Type"] == "image/png"
    assert b"".join(staff.streaming_content) == png()
    assert "no-store" in staff["Cache-Control"]


def test_evidence_is_never_under_static(evidence_dir: Any, settings: Any) -> None:
    from django.core.files.storage import storages

    location = str(storages["evidence"].location)
    assert not any(location.startswith(str(d)) for d in settings.STATICFILES_DIRS)
    assert not location.startswith(str(settings.STATIC_ROOT))


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"", "image/png", 400, "No image"),
        (b"GIF89a....", "image/png", 400, "must be a PNG"),
        (png(), "image/jpeg", 415, "image/png"),
    ],
)
def test_bad_frames_are_refused_and_nothing_is_stored(
    body: bytes,
    content_type: str,
    status: int,
    words: str,
    client_for: Any,
    moderator: Any,
    stage: Room,
    evidence_dir: Any,
) -> None:
    response = client_for(moderator).post(
        reverse("monitoring:evidence-upload", args=[stage.pk]),
        data=body,
        content_type=content_type,
    )

    assert response.status_code == status
    assert words in response.json()["error"]
    assert not Evidence.objects.exists()
    assert not list(evidence_dir.rglob("*.png"))


def test_an_oversized_frame_is_refused(
    client_for: Any, moderator: Any, stage: Room, evidence_dir: Any, settings: Any
) -> None:
    settings.ROOMWATCH_EVIDENCE_MAX_BYTES = 1024

    response = upload(client_for(moderator), stage, png() + b"\x00" * 2048)

    assert response.status_code == 413
    assert not Evidence.objects.exists()


def test_non_staff_cannot_upload_evidence(
    client: Any, client_for: Any, outsider: Any, stage: Room, evidence_dir: Any
) -> None:
    assert upload(client, stage, png()).status_code == 302
    assert upload(client_for(outsider), stage, png()).status_code == 403
    assert not Evidence.objects.exists()


def test_a_frame_goes_with_a_room_ban_of_that_room(
    client_for: Any, moderator: Any, stage: Room, sim: Any, evidence_dir: Any
) -> None:
    from monitoring.moderation import bans

    upload(client_for(moderator), stage, png(), identity="host")

    bans.ban_create(
        actor=moderator, identity="host", scope="room", room_name="stage", reason="nudity"
    )

    entry = AuditEntry.objects.get(action="ban.create")
    assert entry.detail["evidence"] == [Evidence.objects.get().pk]
    assert Evidence.objects.get().audit_entry == entry
