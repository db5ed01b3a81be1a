"""The live sockets: who may open them, and what they forward."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from config.asgi import application
from monitoring import realtime
from monitoring.models import Participant, Room, RoomStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings: Any) -> Any:
    """Pushes and sockets share this process, so the in-memory layer is the real path."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.ROOMWATCH_PUSH_INTERVAL_SECONDS = 0
    channel_layers.backends.clear()
    realtime.pushes_reset()
    yield
    realtime.pushes_reset()
    channel_layers.backends.clear()


async def communicator_for(user: Any | None, path: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def connected_for(user: Any, path: str) -> WebsocketCommunicator:
    """An open socket past its greeting (the LiveKit banner every socket gets first)."""
    communicator = await communicator_for(user, path)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    greeting = await communicator.receive_from(timeout=5)
    assert greeting.startswith('<div id="livekit-banner" hx-swap-oob="true"')
    return communicator


async def opens(user: Any | None, path: str) -> tuple[bool, Any]:
    communicator = await communicator_for(user, path)
    connected, code = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected, code


def make_room(name: str = "studio") -> Room:
    return Room.objects.create(
        sid=f"RM_{name}", name=name, status=RoomStatus.LIVE, created_at=timezone.now()
    )


@pytest.mark.parametrize("path", ["/ws/rooms/", "/ws/wall/", "/ws/rooms/1/"])
async def test_anonymous_visitors_cannot_open_a_live_socket(path: str) -> None:
    connected, code = await opens(None, path)
    assert connected is False
    assert code == 4403


@pytest.mark.parametrize("path", ["/ws/rooms/", "/ws/wall/", "/ws/rooms/1/"])
async def test_signed_in_non_staff_cannot_open_a_live_socket(outsider: Any, path: str) -> None:
    connected, code = await opens(outsider, path)
    assert connected is False
    assert code == 4403


@pytest.mark.parametrize("path", ["/ws/rooms/", "/ws/wall/", "/ws/rooms/1/"])
async def test_support_staff_can_open_every_live_socket(support: Any, path: str) -> None:
    connected, _ = await opens(support, path)
    assert connected is True


async def test_the_room_socket_receives_the_fresh_participants_after_a_mirror_change(
    support: Any,
) -> None:
    room = await sync_to_async(make_room)()
    communicator = await connected_for(support, f"/ws/rooms/{room.pk}/")
    try:

        def mirror_change() -> None:
            Participant.objects.create(
                room=room,
                sid="PA_1",
                identity="viewer-1",
                name="Viewer One",
                joined_at=timezone.now() - timedelta(seconds=5),
            )
            Room.objects.filter(pk=room.pk).update(num_participants=1)
            realtime.room_changed(room_id=room.pk)
            realtime.pushes_flush()

        await sync_to_async(mirror_change)()
        html = await communicator.receive_from(timeout=5)
        assert 'id="room-participants"' in html
        assert "Viewer One" in html
        assert '<dd data-testid="participants">1</dd>' in html
    finally:
        await communicator.disconnect()


async def test_the_list_socket_receives_the_room_row_and_not_other_rooms_pages(
    moderator: Any,
) -> None:
    room = await sync_to_async(make_room)("listed")
    communicator = await connected_for(moderator, "/ws/rooms/")
    try:
        await sync_to_async(realtime.room_changed)(room_id=room.pk)
        await sync_to_async(realtime.pushes_flush)()
        html = await communicator.receive_from(timeout=5)
        assert html.lstrip().startswith(f'<tr id="room-row-{room.pk}"')
        assert await communicator.receive_nothing(timeout=0.2)
    finally:
        await communicator.disconnect()


async def test_each_socket_gets_the_fragment_rendered_for_its_role(
    support: Any, moderator: Any, admin: Any
) -> None:
    sockets = {}
    for role, user in (("Support", support), ("Moderator", moderator), ("Admin", admin)):
        sockets[role] = await connected_for(user, "/ws/wall/")
    try:
        await sync_to_async(realtime.by_role_send)(
            realtime.WALL_GROUP, {role: f"<p>{role} view</p>" for role in sockets}
        )
        for role, socket in sockets.items():
            assert await socket.receive_from(timeout=5) == f"<p>{role} view</p>"
            assert await socket.receive_nothing(timeout=0.1)
    finally:
        for socket in sockets.values():
            await socket.disconnect()


async def test_anything_a_client_sends_is_ignored(support: Any) -> None:
    communicator = await connected_for(support, "/ws/rooms/")
    try:
        await communicator.send_to(text_data='{"type": "fragment.push", "html": "<p>x</p>"}')
        assert await communicator.receive_nothing(timeout=0.2)
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize("path", ["/ws/rooms/", "/ws/wall/", "/ws/rooms/1/"])
async def test_every_page_socket_receives_the_livekit_banner_when_reachability_flips(
    support: Any, path: str
) -> None:
    from monitoring.models import SyncState

    communicator = await connected_for(support, path)
    try:

        def livekit_goes_down() -> None:
            SyncState.objects.update_or_create(
                pk=1, defaults={"last_error": "connection refused", "last_error_at": timezone.now()}
            )
            realtime.sync_status_changed()

        await sync_to_async(livekit_goes_down)()
        html = await communicator.receive_from(timeout=5)
        assert html.startswith('<div id="livekit-banner" hx-swap-oob="true"')
        assert 'data-stale="true"' in html
        assert "LiveKit unreachable" in html and "connection refused" in html
    finally:
        await communicator.disconnect()


async def test_a_socket_that_opens_first_gets_the_banner_as_it_is_now(support: Any) -> None:
    from monitoring.models import SyncState

    await sync_to_async(SyncState.objects.update_or_create)(
        pk=1, defaults={"last_error": "connection refused", "last_error_at": timezone.now()}
    )
    communicator = await communicator_for(support, "/ws/rooms/")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    try:
        greeting = await communicator.receive_from(timeout=5)
        assert 'data-stale="true"' in greeting and "LiveKit unreachable" in greeting
    finally:
        await communicator.disconnect()
