"""An account's open sockets close when an admin deactivates it or changes its role, and
when it signs out; the page reconnects and is checked against the account as it is now."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.roles import ADMIN, MODERATOR, SUPPORT
from config.asgi import application
from monitoring import realtime
from monitoring.consumers import CLOSE_FORBIDDEN, CLOSE_RECONNECT
from monitoring.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings: Any) -> Any:
    """The sockets and the admin's request share this process: the in-memory layer is real."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def signed_in(user: Any) -> Client:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return client


def socket_for(client: Client, path: str = "/ws/rooms/") -> WebsocketCommunicator:
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    return WebsocketCommunicator(application, path, headers=headers)


async def open_socket(client: Client, path: str = "/ws/rooms/") -> WebsocketCommunicator:
    """A socket past its greeting (the LiveKit banner every socket gets first)."""
    communicator = socket_for(client, path)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.receive_from(timeout=5)
    return communicator


async def close_code(communicator: WebsocketCommunicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    return int(message["code"])


async def still_open(communicator: WebsocketCommunicator) -> bool:
    """The socket still receives pushes (a banner push reaches every open socket)."""
    await sync_to_async(realtime.banner_push)()
    html = await communicator.receive_from(timeout=5)
    return html.startswith('<div id="livekit-banner"')


async def staff_update(admin_client: Client, user: Any, *, role: str, active: bool) -> None:
    data = {"role": role, **({"is_active": "on"} if active else {})}
    response = await sync_to_async(admin_client.post)(f"/accounts/staff/{user.pk}/", data)
    assert response.status_code == 302


async def test_deactivating_an_account_closes_all_its_sockets_and_no_one_elses(
    admin: Any, moderator: Any, support: Any
) -> None:
    theirs = await signed_in(moderator)
    rooms_tab = await open_socket(theirs, "/ws/rooms/")
    wall_tab = await open_socket(theirs, "/ws/wall/")
    colleague = await open_socket(await signed_in(support), "/ws/rooms/")
    admins_own = await open_socket(await signed_in(admin), "/ws/wall/")
    try:
        await staff_update(await signed_in(admin), moderator, role=MODERATOR, active=False)

        assert await close_code(rooms_tab) == CLOSE_RECONNECT
        assert await close_code(wall_tab) == CLOSE_RECONNECT
        assert await still_open(colleague)
        assert await still_open(admins_own)
    finally:
        for communicator in (rooms_tab, wall_tab, colleague, admins_own):
            await communicator.disconnect()


async def test_a_deactivated_account_cannot_reopen_its_socket(admin: Any, moderator: Any) -> None:
    theirs = await signed_in(moderator)
    communicator = await open_socket(theirs)
    try:
        await staff_update(await signed_in(admin), moderator, role=MODERATOR, active=False)
        assert await close_code(communicator) == CLOSE_RECONNECT
    finally:
        await communicator.disconnect()

    reconnect = socket_for(theirs)
    connected, code = await reconnect.connect(timeout=5)
    await reconnect.disconnect()
    assert (connected, code) == (False, CLOSE_FORBIDDEN)


async def test_a_role_change_closes_the_socket_and_the_reconnect_gets_the_new_roles_pushes(
    admin: Any, moderator: Any
) -> None:
    theirs = await signed_in(moderator)
    communicator = await open_socket(theirs)
    try:
        await staff_update(await signed_in(admin), moderator, role=SUPPORT, active=True)
        assert await close_code(communicator) == CLOSE_RECONNECT
    finally:
        await communicator.disconnect()

    reconnected = await open_socket(theirs)
    try:
        by_role = {ADMIN: "for admins", MODERATOR: "for moderators", SUPPORT: "for support"}
        await sync_to_async(realtime.by_role_send)(realtime.ROOMS_GROUP, by_role)
        assert await reconnected.receive_from(timeout=5) == "for support"
        assert await reconnected.receive_nothing(timeout=0.1)
    finally:
        await reconnected.disconnect()


async def test_saving_an_account_unchanged_or_a_refused_change_closes_nothing(
    admin: Any, moderator: Any
) -> None:
    admin_client = await signed_in(admin)
    theirs = await open_socket(await signed_in(moderator))
    admins_own = await open_socket(admin_client)
    try:
        await staff_update(admin_client, moderator, role=MODERATOR, active=True)
        await staff_update(admin_client, admin, role=ADMIN, active=False)  # refused: own account

        assert await sync_to_async(AuditEntry.objects.count)() == 0
        assert await theirs.receive_nothing(timeout=0.2)
        assert await admins_own.receive_nothing(timeout=0.2)
        assert await still_open(theirs)
        assert await still_open(admins_own)
    finally:
        await theirs.disconnect()
        await admins_own.disconnect()


async def test_signing_out_closes_the_accounts_sockets_in_other_tabs(
    support: Any, moderator: Any
) -> None:
    theirs = await signed_in(support)
    tab = await open_socket(theirs, "/ws/wall/")
    colleague = await open_socket(await signed_in(moderator))
    try:
        response = await sync_to_async(theirs.post)("/accounts/logout/")
        assert response.status_code == 302

        assert await close_code(tab) == CLOSE_RECONNECT
        assert await still_open(colleague)
    finally:
        await tab.disconnect()
        await colleague.disconnect()
