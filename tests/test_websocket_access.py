"""The console's websocket accepts signed-in staff only, through the real ASGI stack."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def connect_as(user: Any | None, path: str = "/ws/rooms/") -> tuple[bool, Any]:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        from asgiref.sync import sync_to_async

        client = Client()
        await sync_to_async(client.force_login)(user)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected, code


async def test_anonymous_visitors_are_refused() -> None:
    connected, _ = await connect_as(None)
    assert connected is False


async def test_signed_in_outsiders_are_refused(outsider: Any) -> None:
    connected, _ = await connect_as(outsider)
    assert connected is False


@pytest.mark.parametrize("who", ["support", "moderator", "admin"])
async def test_staff_of_every_role_are_accepted(request: pytest.FixtureRequest, who: str) -> None:
    from asgiref.sync import sync_to_async

    user = await sync_to_async(request.getfixturevalue)(who)
    connected, _ = await connect_as(user)
    assert connected is True


async def test_a_foreign_origin_is_refused(admin: Any) -> None:
    from asgiref.sync import sync_to_async

    client = Client()
    await sync_to_async(client.force_login)(admin)
    headers = [
        (b"origin", b"http://evil.example"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/rooms/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    assert connected is False
