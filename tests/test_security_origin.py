"""A live socket opens only from the exact origin the console is served from: same
scheme, host and port (or one of CSRF_TRUSTED_ORIGINS)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application, normalized_origin

pytestmark = pytest.mark.django_db(transaction=True)


async def opens(
    user: Any, *, origin: str, host: str = "localhost:8000", scheme: str = "ws", **extra: str
) -> bool:
    client = Client()
    await sync_to_async(client.force_login)(user)
    headers = [
        (b"origin", origin.encode()),
        (b"host", host.encode()),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        *((k.encode(), v.encode()) for k, v in extra.items()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/rooms/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected


async def test_the_consoles_own_origin_is_accepted(support: Any) -> None:
    assert await opens(support, origin="http://localhost:8000") is True


async def test_the_same_host_on_another_port_is_refused(support: Any) -> None:
    assert await opens(support, origin="http://localhost:9000") is False


async def test_the_same_host_without_the_port_is_refused(support: Any) -> None:
    assert await opens(support, origin="http://localhost") is False


async def test_the_same_host_and_port_over_another_scheme_is_refused(support: Any) -> None:
    assert await opens(support, origin="https://localhost:8000") is False


async def test_a_page_served_over_https_is_accepted_only_as_https(support: Any) -> None:
    assert await opens(support, origin="https://localhost", host="localhost", scheme="wss")
    assert not await opens(support, origin="http://localhost", host="localhost", scheme="wss")


async def test_a_missing_origin_is_refused(support: Any) -> None:
    client = Client()
    await sync_to_async(client.force_login)(support)
    headers = [
        (b"host", b"localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/rooms/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    assert connected is False


async def test_a_host_outside_allowed_hosts_gives_no_origin(support: Any) -> None:
    assert await opens(support, origin="http://evil.example", host="evil.example") is False


async def test_a_trusted_origin_is_accepted_exactly(support: Any, settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example.com"]

    assert await opens(support, origin="https://console.example.com", host="internal:8001")
    assert not await opens(support, origin="https://console.example.com:8443", host="internal:8001")
    assert not await opens(support, origin="http://console.example.com", host="internal:8001")


async def test_behind_a_tls_proxy_the_forwarded_scheme_counts(support: Any, settings: Any) -> None:
    settings.BEHIND_TLS_PROXY = True

    assert await opens(
        support, origin="https://localhost", host="localhost", **{"x-forwarded-proto": "https"}
    )
    settings.BEHIND_TLS_PROXY = False
    assert not await opens(
        support, origin="https://localhost", host="localhost", **{"x-forwarded-proto": "https"}
    )


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://Console.Example.com:443", "https://console.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("ftp://localhost", None),
        ("http://localhost/path", None),
        ("http://localhost:notaport", None),
    ],
)
def test_origins_are_compared_in_their_normal_form(value: str, origin: str | None) -> None:
    assert normalized_origin(value) == origin
