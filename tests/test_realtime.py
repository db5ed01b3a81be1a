"""Pushes: the pages' own partials, sent after commit by the pusher, only what changed,
coalesced per room, each role on its own groups."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from monitoring import realtime
from monitoring.live.pusher import pusher
from monitoring.models import Participant, Room, RoomEvent, RoomStatus, WatchedRoom


def make_room(name: str = "studio", **fields: Any) -> Room:
    fields.setdefault("sid", f"RM_{name}")
    fields.setdefault("created_at", timezone.now() - timedelta(minutes=5))
    return Room.objects.create(name=name, **fields)


def join(room: Room, identity: str, **fields: Any) -> Participant:
    fields.setdefault("joined_at", timezone.now())
    return Participant.objects.create(room=room, sid=f"PA_{identity}", identity=identity, **fields)


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

    def html(self) -> str:
        return self.receive()["html"]

    def all_html(self) -> str:
        """Every message that arrives until the socket goes quiet, joined."""
        messages = [self.html()]
        while True:
            try:
                messages.append(self.receive(0.2)["html"])
            except TimeoutError:
                return "".join(messages)

    def nothing_within(self, timeout: float) -> bool:
        try:
            self.receive(timeout)
        except TimeoutError:
            return True
        return False


def moderators(group: str) -> str:
    return realtime.role_group(group, "Moderator")


def page_open(room: Room) -> None:
    """Someone has the room's page open (its socket registers it, as a browser's does)."""
    WatchedRoom.objects.create(channel_name=f"test.{room.pk}", room=room, seen_at=timezone.now())


@pytest.fixture(autouse=True)
def clean_pushes(settings: Any) -> Any:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    realtime.pushes_reset()
    yield
    realtime.pushes_reset()
    channel_layers.backends.clear()


def test_group_names_are_short_ascii_and_one_per_role() -> None:
    assert realtime.ROOMS_GROUP == "rooms"
    assert realtime.room_group(42) == "room.42"
    assert realtime.role_group("room.42", "Moderator") == "room.42.moderator"
    assert realtime.room_group(10**18).isascii() and len(realtime.room_group(10**18)) < 100


def test_nothing_is_pushed_for_a_change_that_rolls_back(transactional_db: Any) -> None:
    listener = Listener(moderators(realtime.ROOMS_GROUP))
    with pytest.raises(RuntimeError), transaction.atomic():
        room = make_room()
        realtime.room_changed(room_id=room.pk)
        raise RuntimeError("the mirror failed half way")
    realtime.pushes_flush()
    assert listener.nothing_within(0.3)


def test_a_committed_change_is_pushed_by_the_pusher_not_by_the_writer(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listener = Listener(moderators(realtime.ROOMS_GROUP))
    room = make_room("studio-7", status=RoomStatus.LIVE, num_participants=3, num_publishers=1)
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk)
    assert listener.nothing_within(0.2)

    assert realtime.pushes_flush() == 1
    message = listener.receive()
    assert message["type"] == "fragment.push"
    assert f'id="room-row-{room.pk}"' in message["html"]
    assert 'hx-swap-oob="true"' in message["html"]
    assert "studio-7" in message["html"]


def test_each_role_gets_only_its_own_html(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    room = make_room("roles", status=RoomStatus.LIVE)
    join(room, "guest")
    page_open(room)
    support = Listener(realtime.role_group(realtime.room_group(room.pk), "Support"))
    moderator = Listener(moderators(realtime.room_group(room.pk)))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk, identities=["guest"])
    realtime.pushes_flush()

    assert 'data-action="kick"' in moderator.all_html()
    assert 'data-action="kick"' not in support.all_html()


def test_the_whole_room_page_is_pushed_escaped_when_everything_changed(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    room = make_room("hostile", status=RoomStatus.LIVE, num_participants=1)
    join(
        room,
        "<img src=x onerror=alert(1)>",
        name="<script>alert(2)</script>",
        metadata='{"bio": "<b onmouseover=alert(3)>"}',
        attributes={"<i>": "<svg onload=alert(4)>"},
    )
    page_open(room)
    listener = Listener(realtime.role_group(realtime.room_group(room.pk), "Support"))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk)
    realtime.pushes_flush()
    html = listener.html()
    assert 'id="room-participants"' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "<script>" not in html
    assert "<svg onload" not in html
    assert "<b onmouseover" not in html


def test_a_join_pushes_its_row_and_the_counts_not_the_whole_room(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    room = make_room("crowd", status=RoomStatus.LIVE)
    for n in range(50):
        join(room, f"viewer-{n}")
    newcomer = join(room, "newcomer")
    event = RoomEvent.objects.create(
        room=room, kind="participant_joined", occurred_at=timezone.now(), summary="newcomer joined"
    )
    page_open(room)
    listener = Listener(moderators(realtime.room_group(room.pk)))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(
            room_id=room.pk, identities=["newcomer"], arrivals=["newcomer"], event_ids=[event.pk]
        )
    realtime.pushes_flush()
    page, rows = listener.html(), listener.html()

    assert rows.startswith('<tbody hx-swap-oob="beforeend:#present-rows">')
    assert f'id="participant-{newcomer.pk}"' in rows
    html = page + rows
    assert 'id="room-summary"' in html and "(51)" in html
    assert '<ol hx-swap-oob="afterbegin:#timeline-list">' in html and "newcomer joined" in html
    assert "viewer-7" not in html


def test_a_leave_moves_the_row_to_the_people_who_left(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    room = make_room("exit", status=RoomStatus.LIVE)
    gone = join(room, "leaver", left_at=timezone.now(), state="DISCONNECTED")
    page_open(room)
    listener = Listener(moderators(realtime.room_group(room.pk)))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk, identities=["leaver"])
    realtime.pushes_flush()
    listener.html()  # the counts
    rows = listener.html()

    # Table rows travel alone: the browser parses a message by its first tag.
    assert rows.startswith('<tbody hx-swap-oob="afterbegin:#departed-rows">')
    assert f'id="participant-{gone.pk}"' in rows


def test_the_pushed_participant_row_is_the_row_the_page_renders(
    db: Any, django_capture_on_commit_callbacks: Any, client_for: Any, moderator: Any
) -> None:
    room = make_room("same", status=RoomStatus.LIVE)
    muted = join(
        room,
        "speaker",
        tracks=[{"sid": "TR_a", "type": "AUDIO", "source": "MICROPHONE", "muted": True}],
        is_publisher=True,
    )
    page = client_for(moderator).get(reverse("monitoring:room", args=[room.pk])).content.decode()
    page_open(room)
    listener = Listener(moderators(realtime.room_group(room.pk)))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk, identities=["speaker"])
    realtime.pushes_flush()
    pushed = listener.all_html()

    def row(html: str) -> str:
        found = re.search(rf'<tr id="participant-{muted.pk}".*?</tr>', html, re.S)
        assert found, html
        return found.group(0).replace(' hx-swap-oob="true"', "")

    assert row(pushed) == row(page)


def test_a_burst_of_changes_is_coalesced_into_a_leading_and_a_trailing_push(
    db: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ROOMWATCH_PUSH_INTERVAL_SECONDS = 60
    room = make_room("busy", status=RoomStatus.LIVE)
    page_open(room)
    listener = Listener(realtime.role_group(realtime.room_group(room.pk), "Admin"))
    for count in range(1, 101):
        Room.objects.filter(pk=room.pk).update(num_participants=count)
        with django_capture_on_commit_callbacks(execute=True):
            realtime.room_changed(room_id=room.pk, identities=[])
        pusher.flush(due_only=True)
    first = listener.html()
    assert listener.nothing_within(0.2)

    pusher.flush()  # the interval has passed
    last = listener.html()
    assert listener.nothing_within(0.2)
    assert '<dd data-testid="participants">1</dd>' in first
    assert '<dd data-testid="participants">100</dd>' in last


def test_pushes_for_different_rooms_are_not_held_back_by_each_other(
    db: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ROOMWATCH_PUSH_INTERVAL_SECONDS = 60
    one, two = make_room("one"), make_room("two")
    listener = Listener(moderators(realtime.ROOMS_GROUP))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=one.pk, identities=[])
        realtime.room_changed(room_id=two.pk, identities=[])

    assert pusher.flush(due_only=True) == 2
    rows = [listener.html() for _ in range(2)]
    assert any(f'id="room-row-{one.pk}"' in row for row in rows)
    assert any(f'id="room-row-{two.pk}"' in row for row in rows)


def test_a_room_whose_page_nobody_has_open_pushes_only_its_list_row_and_tile(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    room = make_room("unwatched", status=RoomStatus.LIVE)
    page = Listener(moderators(realtime.room_group(room.pk)))
    rows = Listener(moderators(realtime.ROOMS_GROUP), moderators(realtime.WALL_GROUP))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=room.pk, identities=[])
    realtime.pushes_flush()

    pushed = rows.all_html()
    assert f'id="room-row-{room.pk}"' in pushed and f'id="wall-tile-{room.pk}"' in pushed
    assert page.nothing_within(0.2)


def test_a_room_that_is_gone_pushes_nothing(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listener = Listener(moderators(realtime.ROOMS_GROUP))
    with django_capture_on_commit_callbacks(execute=True):
        realtime.room_changed(room_id=987654)
    realtime.pushes_flush()
    assert listener.nothing_within(0.3)


def test_the_pusher_thread_sends_without_anyone_flushing(
    transactional_db: Any, settings: Any
) -> None:
    settings.ROOMWATCH_PUSH_INTERVAL_SECONDS = 0
    room = make_room("threaded", status=RoomStatus.LIVE)
    listener = Listener(moderators(realtime.ROOMS_GROUP))
    pusher.start()
    try:
        realtime.room_changed(room_id=room.pk, identities=[])
        assert f'id="room-row-{room.pk}"' in listener.receive(timeout=5)["html"]
    finally:
        pusher.stop()
