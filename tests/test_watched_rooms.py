"""Watched rooms: an open room page or wall has its rooms polled every second, so what
LiveKit sends no webhook for (a self-mute, metadata, attributes) reaches the page."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from config.asgi import application
from monitoring import realtime, reconciler
from monitoring.live import watch
from monitoring.models import Participant, Room, RoomEvent, WatchedRoom
from tests.test_realtime import Listener
from tests.test_reconciler import deliver_outbox


@pytest.fixture(autouse=True)
def in_memory_layer(settings: Any) -> Any:
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.ROOMWATCH_PUSH_INTERVAL_SECONDS = 0
    channel_layers.backends.clear()
    realtime.pushes_reset()
    yield
    realtime.pushes_reset()
    channel_layers.backends.clear()


def live_room(client: Any, sim: Any, name: str = "show") -> tuple[Room, str]:
    """A live room whose host publishes a microphone, mirrored by its webhooks."""
    sim.join(name, "host", publish=["microphone"])
    sim.join(name, "viewer", can_publish=False)
    deliver_outbox(client, sim)
    room = Room.objects.get(name=name, ended_at__isnull=True)
    track_sid = Participant.objects.get(room=room, identity="host").tracks[0]["sid"]
    return room, track_sid


def host_track(room: Room) -> dict[str, Any]:
    return Participant.objects.get(room=room, identity="host", left_at__isnull=True).tracks[0]


@pytest.mark.django_db
class TestRegistry:
    def test_a_room_page_watches_its_room_until_it_closes(self) -> None:
        room = Room.objects.create(sid="RM_w", name="w", created_at=timezone.now())

        assert watch.room_watch_start(room_id=room.pk, channel_name="page-1")
        assert watch.watched_room_ids() == {room.pk}

        watch.room_watch_stop(channel_name="page-1")
        assert watch.watched_room_ids() == set()

    def test_a_room_that_does_not_exist_is_not_registered(self) -> None:
        assert not watch.room_watch_start(room_id=999_999, channel_name="page-1")
        assert not WatchedRoom.objects.exists()

    def test_an_ended_room_is_not_polled(self) -> None:
        room = Room.objects.create(
            sid="RM_w", name="w", created_at=timezone.now(), ended_at=timezone.now()
        )
        watch.room_watch_start(room_id=room.pk, channel_name="page-1")

        assert watch.watched_room_ids() == set()

    def test_an_open_wall_watches_the_busiest_live_rooms(self) -> None:
        now = timezone.now()
        live = [
            Room.objects.create(
                sid=f"RM_{n}", name=f"r{n}", created_at=now, status="live", num_participants=n
            )
            for n in range(3)
        ]
        Room.objects.create(sid="RM_idle", name="idle", created_at=now, status="idle")

        watch.room_watch_start(channel_name="wall-1", wall=True)

        assert watch.watched_room_ids() == {room.pk for room in live}

    def test_registrations_nobody_renewed_go_stale_and_are_cleaned(self) -> None:
        room = Room.objects.create(sid="RM_w", name="w", created_at=timezone.now())
        watch.room_watch_start(room_id=room.pk, channel_name="dead-process")
        watch.room_watch_start(room_id=room.pk, channel_name="open-page")
        WatchedRoom.objects.filter(channel_name="dead-process").update(
            seen_at=timezone.now() - timedelta(seconds=watch.TTL_SECONDS + 1)
        )

        assert watch.watches_clean() == 1
        assert list(WatchedRoom.objects.values_list("channel_name", flat=True)) == ["open-page"]
        assert watch.watched_room_ids() == {room.pk}


@pytest.mark.django_db
class TestFastPoll:
    def test_a_self_mute_in_a_watched_room_reaches_the_mirror_and_the_page_in_one_poll(
        self, client: Any, livekit_sim: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        room, track_sid = live_room(client, livekit_sim)
        watch.room_watch_start(room_id=room.pk, channel_name="page-1")
        listener = Listener(realtime.role_group(realtime.room_group(room.pk), "Moderator"))
        livekit_sim.mute("show", "host", track_sid, muted=True)
        assert livekit_sim.events() == []  # LiveKit says nothing about a self-mute

        with django_capture_on_commit_callbacks(execute=True):
            result = reconciler.watched_poll_once()
        realtime.pushes_flush()

        assert result.ok and result.corrected_room_ids == [room.pk]
        assert host_track(room)["muted"] is True
        pushed = listener.all_html()
        host = Participant.objects.get(room=room, identity="host")
        viewer = Participant.objects.get(room=room, identity="viewer")
        assert f'id="participant-{host.pk}"' in pushed  # the changed row only
        assert f'id="participant-{viewer.pk}"' not in pushed
        correction = room.events.get(kind="reconciled")
        assert "host's tracks differed" in correction.summary

    def test_metadata_and_attributes_changed_elsewhere_reach_a_watched_room(
        self, client: Any, livekit_sim: Any, livekit_sim_server: Any
    ) -> None:
        room, _ = live_room(client, livekit_sim)
        watch.room_watch_start(room_id=room.pk, channel_name="page-1")
        livekit_sim_server.server.state.update_participant(
            room="show", identity="viewer", metadata='{"tier": "gold"}', attributes={"lang": "fr"}
        )

        reconciler.watched_poll_once()

        viewer = Participant.objects.get(room=room, identity="viewer")
        assert viewer.metadata == '{"tier": "gold"}'
        assert viewer.attributes == {"lang": "fr"}

    def test_a_room_nobody_watches_is_not_polled(self, client: Any, livekit_sim: Any) -> None:
        room, track_sid = live_room(client, livekit_sim)
        livekit_sim.mute("show", "host", track_sid, muted=True)

        result = reconciler.watched_poll_once()

        assert result.livekit_calls == 0
        assert host_track(room)["muted"] is False

    def test_a_poll_that_finds_nothing_changed_writes_and_pushes_nothing(
        self, client: Any, livekit_sim: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        room, _ = live_room(client, livekit_sim)
        watch.room_watch_start(room_id=room.pk, channel_name="page-1")
        events = RoomEvent.objects.count()

        with django_capture_on_commit_callbacks() as callbacks:
            result = reconciler.watched_poll_once()

        assert result.ok and result.corrected_room_ids == []
        assert RoomEvent.objects.count() == events
        assert callbacks == []

    def test_a_new_session_of_the_same_name_is_left_to_the_full_pass(
        self, client: Any, livekit_sim: Any
    ) -> None:
        room, _ = live_room(client, livekit_sim)
        watch.room_watch_start(room_id=room.pk, channel_name="page-1")
        livekit_sim.webhooks(mode="drop", probability=1.0)
        livekit_sim.post("/sim/reset")
        livekit_sim.join("show", "someone-else")

        reconciler.watched_poll_once()

        assert not room.participants.filter(identity="someone-else").exists()
        assert room.participants.filter(left_at__isnull=True).count() == 2


@pytest.mark.django_db(transaction=True)
class TestSockets:
    async def socket(self, user: Any, path: str) -> WebsocketCommunicator:
        client = Client()
        await sync_to_async(client.force_login)(user)
        headers = [
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ]
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.receive_from(timeout=5)  # the banner greeting
        return communicator

    async def test_an_open_room_page_is_watched_until_its_socket_closes(self, support: Any) -> None:
        room = await Room.objects.acreate(sid="RM_w", name="w", created_at=timezone.now())
        communicator = await self.socket(support, f"/ws/rooms/{room.pk}/")
        try:
            assert await sync_to_async(watch.watched_room_ids)() == {room.pk}
        finally:
            await communicator.disconnect()
        assert await sync_to_async(watch.watched_room_ids)() == set()

    async def test_an_open_wall_is_watched_until_its_socket_closes(self, support: Any) -> None:
        room = await Room.objects.acreate(
            sid="RM_w", name="w", created_at=timezone.now(), status="live"
        )
        communicator = await self.socket(support, "/ws/wall/")
        try:
            assert await sync_to_async(watch.watched_room_ids)() == {room.pk}
        finally:
            await communicator.disconnect()
        assert not await WatchedRoom.objects.aexists()

    async def test_a_refused_socket_watches_nothing(self, outsider: Any) -> None:
        room = await Room.objects.acreate(sid="RM_w", name="w", created_at=timezone.now())
        client = Client()
        await sync_to_async(client.force_login)(outsider)
        communicator = WebsocketCommunicator(
            application,
            f"/ws/rooms/{room.pk}/",
            headers=[
                (b"origin", b"http://localhost"),
                (b"host", b"localhost"),
                (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
            ],
        )
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()

        assert not connected
        assert not await WatchedRoom.objects.aexists()


@pytest.mark.django_db(transaction=True)
def test_run_forever_polls_watched_rooms_beside_the_interval_pass(
    client: Any, livekit_sim: Any
) -> None:
    room, track_sid = live_room(client, livekit_sim)
    reconciler.reconcile_once()
    watch.room_watch_start(room_id=room.pk, channel_name="page-1")
    stop = threading.Event()
    worker = threading.Thread(
        target=reconciler.run_forever,
        kwargs={"stop": stop, "interval": 3600, "poll_seconds": 0.2},
        daemon=True,
    )
    worker.start()
    try:
        time.sleep(0.5)  # the interval pass has run; the next one is an hour away
        livekit_sim.mute("show", "host", track_sid, muted=True)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not host_track(room)["muted"]:
            time.sleep(0.05)
        assert host_track(room)["muted"] is True
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
