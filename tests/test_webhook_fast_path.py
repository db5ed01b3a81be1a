"""Under ASGI, LiveKit's webhooks are answered in front of Django by the same rules
as the view: recorded once, refused when unsigned, never passed on to the pages."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import HttpCommunicator

from monitoring.models import InboxEvent
from monitoring.webhooks import FastPath
from tests.test_webhooks import body_of, room_event, sign

pytestmark = pytest.mark.django_db(transaction=True)


async def django_stand_in(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


async def deliver(
    body: str, authorization: str | None, *, method: str = "POST", host: bytes = b"localhost"
) -> dict[str, Any]:
    headers = [(b"host", host), (b"content-type", b"application/webhook+json")]
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    communicator = HttpCommunicator(
        FastPath(django_stand_in), method, "/livekit/webhook", body=body.encode(), headers=headers
    )
    return await communicator.get_response(timeout=10)


async def test_a_signed_event_is_recorded_and_answered_accepted() -> None:
    body = body_of(room_event("room_started"))

    response = await deliver(body, sign(body))

    assert response["status"] == 200
    assert response["body"] == b'{"status": "accepted", "event": "EV_room0000001"}'
    assert dict(response["headers"])[b"content-type"] == b"application/json"
    assert await InboxEvent.objects.filter(event_id="EV_room0000001").aexists()


async def test_a_redelivery_is_answered_duplicate_and_recorded_once() -> None:
    body = body_of(room_event("room_started"))
    await deliver(body, sign(body))

    again = await deliver(body, sign(body))

    assert again["status"] == 200 and b'"duplicate"' in again["body"]
    assert await InboxEvent.objects.acount() == 1


@pytest.mark.parametrize(
    "authorization, status",
    [(None, 401), ("not-a-token", 401)],
)
async def test_an_unsigned_or_forged_webhook_is_refused_and_records_nothing(
    authorization: str | None, status: int
) -> None:
    body = body_of(room_event("room_started"))

    response = await deliver(body, authorization)

    assert response["status"] == status
    assert not await InboxEvent.objects.aexists()


async def test_other_methods_hosts_and_oversized_bodies_are_refused() -> None:
    body = body_of(room_event("room_started"))

    assert (await deliver(body, sign(body), method="GET"))["status"] == 405
    assert (await deliver(body, sign(body), host=b"evil.example"))["status"] == 400
    huge = "x" * (3 * 1024 * 1024)
    assert (await deliver(huge, sign(huge)))["status"] == 413
    assert not await InboxEvent.objects.aexists()


async def test_every_other_path_goes_on_to_django() -> None:
    communicator = HttpCommunicator(FastPath(django_stand_in), "GET", "/")

    response = await communicator.get_response(timeout=5)

    assert (response["status"], response["body"]) == (299, b"django")
