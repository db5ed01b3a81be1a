"""The LiveKit gateway against the simulator: every call's effect, every error mapped."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from livekit import api as lkapi

from monitoring import livekit
from monitoring.localhost import free_port

ROOT = Path(__file__).resolve().parent.parent


def sim_room(sim: Any, name: str) -> dict[str, Any] | None:
    return next((room for room in sim.state()["rooms"] if room["name"] == name), None)


def sim_participant(sim: Any, room: str, identity: str) -> dict[str, Any] | None:
    found = sim_room(sim, room)
    if found is None:
        return None
    return next((p for p in found["participants"] if p["identity"] == identity), None)


def sim_egress(sim: Any, egress_id: str) -> dict[str, Any]:
    return next(e for e in sim.state()["egress"] if e["egress_id"] == egress_id)


def published(sim: Any, room: str, identity: str, source: str) -> dict[str, Any]:
    participant = sim_participant(sim, room, identity)
    assert participant is not None
    return next(t for t in participant["tracks"] if t["source"] == source)


# ---------------------------------------------------------------- reading


async def test_it_lists_every_room_with_its_sid_and_creation_time(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio"])
    livekit_sim.join("stage", "host-2")

    rooms = {room.name: room for room in await livekit.list_rooms()}

    assert set(rooms) == {"lobby", "stage"}
    assert rooms["lobby"].sid == sim_room(livekit_sim, "lobby")["sid"]
    assert rooms["lobby"].sid.startswith("RM_")
    assert isinstance(rooms["lobby"].created_at, datetime)
    assert rooms["lobby"].created_at.tzinfo is not None
    assert rooms["lobby"].empty_timeout == sim_room(livekit_sim, "lobby")["empty_timeout"]


async def test_it_lists_only_the_named_rooms_that_exist(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1")
    livekit_sim.join("stage", "host-2")

    rooms = await livekit.list_rooms(names=["stage", "no-such-room"])

    assert [room.name for room in rooms] == ["stage"]


async def test_it_lists_participants_with_their_tracks_as_names(livekit_sim: Any) -> None:
    livekit_sim.join(
        "lobby",
        "host-1",
        name="The Host",
        metadata='{"role": "host"}',
        attributes={"role": "host"},
        publish=["audio", "video"],
    )
    livekit_sim.join("lobby", "viewer-1")

    participants = {p.identity: p for p in await livekit.list_participants(room="lobby")}

    host = participants["host-1"]
    truth = sim_participant(livekit_sim, "lobby", "host-1")
    assert host.sid == truth["sid"]
    assert host.name == "The Host"
    assert host.metadata == '{"role": "host"}'
    assert host.attributes == {"role": "host"}
    assert host.state == "ACTIVE"
    assert host.kind == "STANDARD"
    assert host.is_publisher
    assert host.disconnect_reason == ""
    assert host.joined_at is not None and host.joined_at.tzinfo is not None
    assert {(t.type, t.source) for t in host.tracks} == {
        ("AUDIO", "MICROPHONE"),
        ("VIDEO", "CAMERA"),
    }
    assert {t.sid for t in host.tracks} == {t["sid"] for t in truth["tracks"]}
    assert host.tracks[0].as_json()["sid"] == host.tracks[0].sid
    assert participants["viewer-1"].tracks == ()
    assert not participants["viewer-1"].is_publisher


async def test_it_lists_no_participants_for_an_unknown_room(livekit_sim: Any) -> None:
    assert await livekit.list_participants(room="no-such-room") == []


async def test_it_gets_one_participant(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["video"])

    participant = await livekit.get_participant(room="lobby", identity="host-1")

    assert participant.identity == "host-1"
    assert participant.sid == sim_participant(livekit_sim, "lobby", "host-1")["sid"]
    assert participant.permission is not None and participant.permission.can_publish
    assert [t.source for t in participant.tracks] == ["CAMERA"]


async def test_it_says_the_participant_is_gone_when_getting_an_unknown_one(
    livekit_sim: Any,
) -> None:
    livekit_sim.join("lobby", "host-1")

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.get_participant(room="lobby", identity="nobody")

    assert str(caught.value) == "The participant is no longer in the room."
    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    assert caught.value.is_not_found


# ---------------------------------------------------------------- rooms


async def test_it_deletes_a_room_and_everyone_in_it_leaves(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio"])
    livekit_sim.join("stage", "host-2")

    await livekit.delete_room(room="lobby")

    assert sim_room(livekit_sim, "lobby") is None
    assert sim_room(livekit_sim, "stage") is not None


async def test_it_says_the_room_no_longer_exists_when_deleting_an_unknown_room(
    livekit_sim: Any,
) -> None:
    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.delete_room(room="no-such-room")

    assert str(caught.value) == "The room no longer exists in LiveKit."
    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    assert "room does not exist" in caught.value.detail
    assert not caught.value.detail.startswith("twirp error")


async def test_it_updates_the_room_metadata(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1")

    room = await livekit.update_room_metadata(room="lobby", metadata='{"topic": "cooking"}')

    assert room.metadata == '{"topic": "cooking"}'
    assert sim_room(livekit_sim, "lobby")["metadata"] == '{"topic": "cooking"}'


async def test_it_says_the_room_no_longer_exists_when_updating_its_metadata(
    livekit_sim: Any,
) -> None:
    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.update_room_metadata(room="no-such-room", metadata="x")

    assert str(caught.value) == "The room no longer exists in LiveKit."


# ---------------------------------------------------------------- participants


async def test_it_removes_a_participant(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1")
    livekit_sim.join("lobby", "troll")

    await livekit.remove_participant(room="lobby", identity="troll")

    assert sim_participant(livekit_sim, "lobby", "troll") is None
    assert sim_participant(livekit_sim, "lobby", "host-1") is not None
    removed = livekit_sim.state()["removed"]
    assert {"room": "lobby", "identity": "troll"}.items() <= removed[-1].items()


async def test_it_says_the_participant_is_gone_when_removing_an_unknown_one(
    livekit_sim: Any,
) -> None:
    livekit_sim.join("lobby", "host-1")

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.remove_participant(room="lobby", identity="nobody")

    assert str(caught.value) == "The participant is no longer in the room."
    assert caught.value.status == 404


async def test_it_mutes_a_published_track(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio", "video"])
    microphone = published(livekit_sim, "lobby", "host-1", "MICROPHONE")

    track = await livekit.mute_track(
        room="lobby", identity="host-1", track_sid=microphone["sid"], muted=True
    )

    assert track is not None and track.muted and track.sid == microphone["sid"]
    assert published(livekit_sim, "lobby", "host-1", "MICROPHONE")["muted"] is True
    assert published(livekit_sim, "lobby", "host-1", "CAMERA")["muted"] is False


async def test_it_says_remote_unmute_is_not_enabled(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio"])
    microphone = published(livekit_sim, "lobby", "host-1", "MICROPHONE")
    await livekit.mute_track(
        room="lobby", identity="host-1", track_sid=microphone["sid"], muted=True
    )

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.mute_track(
            room="lobby", identity="host-1", track_sid=microphone["sid"], muted=False
        )

    assert str(caught.value) == "Remote unmute is not enabled for this room."
    assert (caught.value.code, caught.value.status) == ("failed_precondition", 412)
    assert caught.value.is_precondition_failed
    assert published(livekit_sim, "lobby", "host-1", "MICROPHONE")["muted"] is True


async def test_it_returns_no_track_when_muting_an_unknown_track_sid(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio"])

    track = await livekit.mute_track(
        room="lobby", identity="host-1", track_sid="TR_doesnotexist", muted=True
    )

    assert track is None


async def test_it_says_the_participant_may_have_left_when_muting_someone_unknown(
    livekit_sim: Any,
) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio"])

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.mute_track(room="lobby", identity="nobody", track_sid="TR_x", muted=True)

    assert str(caught.value) == (
        "LiveKit got no answer for this participant; they may have left the room."
    )
    assert (caught.value.code, caught.value.status) == ("unavailable", 503)
    assert caught.value.is_transient


async def test_it_revokes_publishing_and_the_tracks_are_unpublished(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio", "video"])

    participant = await livekit.update_permissions(
        room="lobby", identity="host-1", can_publish=False
    )

    assert participant.permission is not None
    assert not participant.permission.can_publish
    assert participant.permission.can_subscribe and participant.permission.can_publish_data
    truth = sim_participant(livekit_sim, "lobby", "host-1")
    assert truth["permission"]["can_publish"] is False
    assert truth["permission"]["can_subscribe"] is True
    assert truth["tracks"] == []


async def test_it_keeps_the_permission_fields_it_was_not_asked_to_change(
    livekit_sim: Any,
) -> None:
    livekit_sim.join("lobby", "recorder-bot")
    # Another system made the participant hidden and camera-only; a moderator's
    # change of one field must not wipe that out (LiveKit replaces every field).
    async with lkapi.LiveKitAPI(
        livekit_sim.url, livekit_sim.api_key, livekit_sim.api_secret
    ) as client:
        await client.room.update_participant(
            lkapi.UpdateParticipantRequest(
                room="lobby",
                identity="recorder-bot",
                permission=lkapi.ParticipantPermission(
                    can_publish=True,
                    can_subscribe=True,
                    can_publish_data=True,
                    hidden=True,
                    can_publish_sources=[lkapi.TrackSource.CAMERA],
                ),
            )
        )

    participant = await livekit.update_permissions(
        room="lobby", identity="recorder-bot", can_publish_data=False
    )

    assert participant.permission is not None
    assert participant.permission.hidden
    assert participant.permission.can_publish_sources == ("CAMERA",)
    permission = sim_participant(livekit_sim, "lobby", "recorder-bot")["permission"]
    assert permission["hidden"] is True
    assert permission["can_publish_sources"] == ["CAMERA"]
    assert permission["can_publish_data"] is False
    assert permission["can_publish"] is True


async def test_it_restores_publishing(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["audio"])
    await livekit.update_permissions(room="lobby", identity="host-1", can_publish=False)

    participant = await livekit.update_permissions(
        room="lobby", identity="host-1", can_publish=True
    )

    assert participant.can_publish
    assert sim_participant(livekit_sim, "lobby", "host-1")["permission"]["can_publish"] is True


async def test_it_refuses_an_unknown_track_source_without_calling_livekit(
    livekit_sim: Any,
) -> None:
    livekit_sim.join("lobby", "host-1")

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.update_permissions(
            room="lobby", identity="host-1", can_publish_sources=["HOLOGRAM"]
        )

    assert "HOLOGRAM" in str(caught.value)
    permission = sim_participant(livekit_sim, "lobby", "host-1")["permission"]
    assert permission["can_publish_sources"] == []


async def test_it_says_the_participant_is_gone_when_updating_permissions(
    livekit_sim: Any,
) -> None:
    livekit_sim.join("lobby", "host-1")

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.update_permissions(room="lobby", identity="nobody", can_publish=False)

    assert str(caught.value) == "The participant is no longer in the room."


async def test_it_sends_a_json_message_to_chosen_identities_on_a_topic(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1")
    livekit_sim.join("lobby", "troll")

    await livekit.send_data(
        room="lobby",
        payload={"type": "warning", "text": "Be kind ✓"},
        topic="moderation",
        destination_identities=["troll"],
    )

    message = livekit_sim.state()["data_messages"][-1]
    assert message["room"] == "lobby"
    assert message["topic"] == "moderation"
    assert message["destination_identities"] == ["troll"]
    assert message["payload"] == '{"type":"warning","text":"Be kind ✓"}'


async def test_it_sends_raw_bytes_to_everyone(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1")

    await livekit.send_data(room="lobby", payload=b"hello")

    message = livekit_sim.state()["data_messages"][-1]
    assert message["payload"] == "hello"
    assert message["destination_identities"] == []


# ---------------------------------------------------------------- egress and ingress


def start_recording(sim: Any, room: str) -> str:
    return sim.post(f"/sim/rooms/{room}/egress", {})["egress_id"]


async def test_it_lists_recordings_of_a_room_with_their_status(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["video"])
    livekit_sim.join("stage", "host-2", publish=["video"])
    lobby_recording = start_recording(livekit_sim, "lobby")
    start_recording(livekit_sim, "stage")

    recordings = await livekit.list_egress(room="lobby")

    assert [r.egress_id for r in recordings] == [lobby_recording]
    recording = recordings[0]
    assert recording.room_name == "lobby"
    assert recording.room_id == sim_room(livekit_sim, "lobby")["sid"]
    assert recording.status == sim_egress(livekit_sim, lobby_recording)["status"]
    assert recording.status.startswith("EGRESS_")
    assert recording.is_active
    assert recording.started_at is None or recording.started_at.tzinfo is not None
    assert len(await livekit.list_egress()) == 2


async def test_it_stops_a_recording_and_says_so_when_it_already_ended(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1", publish=["video"])
    recording = start_recording(livekit_sim, "lobby")

    stopped = await livekit.stop_egress(egress_id=recording)

    assert (stopped.egress_id, stopped.status) == (recording, "EGRESS_ENDING")
    assert sim_egress(livekit_sim, recording)["status"] == "EGRESS_COMPLETE"
    assert [r.egress_id for r in await livekit.list_egress(active=True)] == []
    ended = await livekit.list_egress(active=False)
    assert [r.egress_id for r in ended] == [recording]
    assert ended[0].ended_at is not None and ended[0].ended_at >= ended[0].started_at
    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.stop_egress(egress_id=recording)
    assert str(caught.value) == "The recording has already ended."
    assert (caught.value.code, caught.value.status) == ("failed_precondition", 412)


async def test_it_lists_the_ingress_of_a_room(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host-1")
    created = livekit_sim.post(
        "/sim/rooms/lobby/ingress",
        {"name": "OBS", "participant_identity": "obs-encoder", "participant_name": "OBS"},
    )

    ingresses = await livekit.list_ingress(room="lobby")

    assert [i.ingress_id for i in ingresses] == [created["ingress_id"]]
    ingress = ingresses[0]
    assert (ingress.name, ingress.room_name) == ("OBS", "lobby")
    assert ingress.participant_identity == "obs-encoder"
    assert ingress.input_type == "RTMP_INPUT"
    assert ingress.state == created["status"]
    assert await livekit.list_ingress(room="stage") == []


# ---------------------------------------------------------------- failures


async def test_it_says_livekit_refused_the_credentials_when_the_secret_is_wrong(
    livekit_sim: Any, settings: Any
) -> None:
    settings.LIVEKIT_API_SECRET = "not-the-secret-livekit-knows-0000"

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.list_rooms()

    assert str(caught.value) == "LiveKit refused the console's credentials."
    assert caught.value.status == 401
    assert caught.value.is_auth_error


async def test_it_says_livekit_refused_the_credentials_when_the_key_is_unknown(
    livekit_sim: Any, settings: Any
) -> None:
    settings.LIVEKIT_API_KEY = "unknown-key"

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.ping()

    assert str(caught.value) == "LiveKit refused the console's credentials."
    assert caught.value.status == 401


async def test_it_never_lets_livekit_api_read_credentials_from_the_environment(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_API_KEY", "from-the-environment")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "from-the-environment")
    settings.LIVEKIT_API_KEY = ""

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.list_rooms()

    assert "no LiveKit URL, API key and secret" in str(caught.value)


async def test_it_says_livekit_cannot_be_reached_when_nothing_listens(settings: Any) -> None:
    settings.LIVEKIT_URL = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(livekit.LiveKitError) as caught:
        await livekit.ping()

    assert str(caught.value) == "LiveKit cannot be reached."
    assert (caught.value.code, caught.value.status) == ("unavailable", 0)
    assert caught.value.is_unreachable and caught.value.is_transient


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_it_says_livekit_did_not_answer_in_time(settings: Any) -> None:
    settings.LIVEKIT_TIMEOUT_SECONDS = 0.2
    async with silent_server() as port:
        settings.LIVEKIT_URL = f"http://127.0.0.1:{port}"
        started = asyncio.get_running_loop().time()

        with pytest.raises(livekit.LiveKitError) as caught:
            await livekit.list_participants(room="lobby")

    assert asyncio.get_running_loop().time() - started < 2
    assert str(caught.value) == "LiveKit did not answer within 0.2 s."
    assert caught.value.code == "deadline_exceeded"
    assert caught.value.is_timeout and caught.value.is_transient


# ---------------------------------------------------------------- the session


class CountingProxy:
    """A TCP relay in front of the simulator that counts the connections made to it."""

    def __init__(self, port: int) -> None:
        self.target_port = port
        self.accepted = 0
        self.open = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.open -= 1


@contextlib.contextmanager
def proxy_in_thread(port: int) -> Iterator[tuple[CountingProxy, int]]:
    proxy = CountingProxy(port)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        holder["server"] = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    ready.wait(5)
    try:
        yield proxy, holder["server"].sockets[0].getsockname()[1]
    finally:
        holder["server"].close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def wait_for(condition: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_it_reuses_one_connection_per_event_loop_and_closes_it_with_the_loop(
    livekit_sim: Any, settings: Any
) -> None:
    livekit_sim.join("lobby", "host-1")
    with proxy_in_thread(int(livekit_sim.url.rsplit(":", 1)[1])) as (proxy, port):
        settings.LIVEKIT_URL = f"http://127.0.0.1:{port}"

        async def three_calls() -> list[str]:
            await livekit.list_rooms()
            await livekit.list_participants(room="lobby")
            return [room.name for room in await livekit.list_rooms()]

        assert async_to_sync(three_calls)() == ["lobby"]

        assert proxy.accepted == 1
        # The loop async_to_sync ran on is gone; so is its session and connection.
        assert wait_for(lambda: proxy.open == 0)


# ---------------------------------------------------------------- the boundary

CONSOLE_PACKAGES = ("config", "accounts", "monitoring")


def imports_livekit_api(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(alias.name.startswith("livekit.api") for alias in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith("livekit.api"):
                return True
            if module == "livekit" and any(alias.name == "api" for alias in node.names):
                return True
    return False


def livekit_api_importers(root: Path) -> list[str]:
    """The console modules below ``root`` that import ``livekit.api``, apart from the
    gateway package, the simulator (which stands in for LiveKit itself) and the load
    benchmark (which times the bare livekit-api calls the console is compared with)."""
    exempt = [root / "monitoring" / name for name in ("livekit", "livekit_sim", "bench")]
    offenders = []
    for package in CONSOLE_PACKAGES:
        for path in (root / package).rglob("*.py"):
            if any(folder in path.parents for folder in exempt):
                continue
            if imports_livekit_api(ast.parse(path.read_text(), filename=str(path))):
                offenders.append(str(path.relative_to(root)))
    return offenders


def test_only_the_gateway_imports_livekit_api() -> None:
    gateway = ROOT / "monitoring" / "livekit"

    assert livekit_api_importers(ROOT) == []
    assert imports_livekit_api(ast.parse((gateway / "client.py").read_text()))


def test_the_boundary_check_catches_a_module_beside_the_gateway(tmp_path: Path) -> None:
    for name in ("monitoring/livekit/client.py", "monitoring/livekit_ext.py", "accounts/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("from livekit import api\n")

    assert livekit_api_importers(tmp_path) == ["accounts/x.py", "monitoring/livekit_ext.py"]
