"""Pushes: the same partials the pages render, sent after commit, coalesced per room."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from monitoring import realtime
from monitoring.models import Participant, Room, RoomStatus


def make_room(name: str = "studio", **fields: Any) -> Room:
    fields.setdefault("sid", f"RM_{name}")
    fields.setdefault("created_at", timezone.now() - timedelta(minutes=5))
    return Room.objects.create(name=name, **fields)


class Listener:
    """A channel subscribed to groups, like a browser's socket would be."""

    def __init__(self, *groups: str) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)("test.")
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def receive(self, timeout: float = 2.0) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            import asyncio

            return await asyncio.wait_for(self.layer.receive(self.channel), timeout)

        return async_to_sync(wait)()

    def nothing_within(self, timeout: float) -> bool:

        try:
            self.receive(timeout)
        except TimeoutError:
            return True
        return False


@pytest.fixture(autouse=True)
def clean_pushes(settings: Any) -> Any:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    realtime.pushes_reset()
    yield
    realtime.pushes_reset()
    channel_layers.backends.clear()


def test_group_names_are_short_ascii() -> None:
    assert realtime.ROOMS_GROUP == "rooms"
    assert realtime.room_group(42) == "room.42"
    assert realtime.room_group(10**18).isascii() and len(realtime.room_group(10**18)) < 100


def test_nothing_is_pushed_for_a_change_that_rolls_back(transactional_db: Any) -> None:
    listener = Listener(realtime.ROOMS_GROUP)
    with pytest.raises(RuntimeError), transaction.atomic():
        room = make_room()
        realtime.room_changed(room_id=room.pk)
        raise RuntimeError("the mirror failed half way")
    assert listener.nothing_within(0.3)


def test_a_committed_change_pushes_the_room_row_to_the_list(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listener = Listener(realtime.ROOMS_GROUP)
    room = make_room("studio-7", status=RoomStatus.LIVE, num_participants=3, num_publishers=1)
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk)
    message = listener.receive()
    assert message["type"] == "fragment.push"
    html = message["by_role"]["Moderator"]
    assert f'id="room-row-{room.pk}"' in html
    assert 'hx-swap-oob="true"' in html
    assert "studio-7" in html


def test_the_room_page_group_gets_the_participants_escaped(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    room = make_room("hostile", status=RoomStatus.LIVE, num_participants=1)
    Participant.objects.create(
        room=room,
        sid="PA_x",
        identity="<img src=x onerror=alert(1)>",
        name="<script>alert(2)</script>",
        metadata='{"bio": "<b onmouseover=alert(3)>"}',
        attributes={"<i>": "<svg onload=alert(4)>"},
        joined_at=timezone.now(),
    )
    listener = Listener(realtime.room_group(room.pk))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk)
    html = listener.receive()["by_role"]["Support"]
    assert 'id="room-participants"' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "<script>" not in html
    assert "<svg onload" not in html
    assert "<b onmouseover" not in html


def test_a_burst_of_changes_is_coalesced_into_a_leading_and_a_trailing_push(
    transactional_db: Any, settings: Any
) -> None:
    # Wide enough that the 100 writes below fit in one interval even on a busy machine.
    settings.ROOMWATCH_PUSH_INTERVAL_SECONDS = 1.5
    room = make_room("busy", status=RoomStatus.LIVE)
    listener = Listener(realtime.room_group(room.pk))
    for count in range(1, 101):
        Room.objects.filter(pk=room.pk).update(num_participants=count)
        realtime.room_changed(room_id=room.pk)
    first = listener.receive()
    assert realtime.pushes_wait_idle(5.0)
    last = listener.receive()
    assert listener.nothing_within(0.4)
    # The leading push showed the first state; the trailing one the last state.
    assert '<dd data-testid="participants">1</dd>' in first["by_role"]["Admin"]
    assert '<dd data-testid="participants">100</dd>' in last["by_role"]["Admin"]


def test_pushes_for_different_rooms_are_not_held_back_by_each_other(
    transactional_db: Any, settings: Any
) -> None:
    settings.ROOMWATCH_PUSH_INTERVAL_SECONDS = 5
    one, two = make_room("one"), make_room("two")
    listener = Listener(realtime.ROOMS_GROUP)
    started = time.monotonic()
    realtime.room_changed(room_id=one.pk)
    realtime.room_changed(room_id=two.pk)
    rows = [listener.receive()["by_role"]["Support"] for _ in range(2)]
    assert time.monotonic() - started < 2
    assert f'id="room-row-{one.pk}"' in rows[0]
    assert f'id="room-row-{two.pk}"' in rows[1]


def test_a_room_that_is_gone_pushes_nothing(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listener = Listener(realtime.ROOMS_GROUP)
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=987654)
    assert listener.nothing_within(0.3)
