"""A room with an open page is watched: what LiveKit sends no webhook for (a
participant muting itself) shows on the page within two seconds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitoring.models import Participant, Room, WatchedRoom

pytestmark = pytest.mark.e2e


def mirrored_host(room_name: str, timeout: float = 10.0) -> Participant:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        host = Participant.objects.filter(
            room__name=room_name, identity="host", left_at__isnull=True
        ).first()
        if host is not None and host.tracks:
            return host
        time.sleep(0.05)
    raise AssertionError(f"the host of {room_name!r} never reached the mirror")


@pytest.mark.console_workers("embedded")
def test_a_self_mute_in_a_watched_room_shows_on_its_open_page_within_two_seconds(
    console: str, livekit_sim: Any, support: Any, logged_in_page: Any, wait_for_live: Any
) -> None:
    livekit_sim.join("watched", "host", publish=["microphone"])
    livekit_sim.join("watched", "viewer", can_publish=False)
    livekit_sim.flush()
    host = mirrored_host("watched")
    room = Room.objects.get(pk=host.room_id)
    page = logged_in_page(support, next_path=f"/rooms/{room.pk}/")
    page.goto(f"{console}/rooms/{room.pk}/")
    wait_for_live(page)
    track = page.locator(f"#participant-{host.pk} .pill.track")
    assert track.inner_text().strip() == "Microphone"
    deadline = time.monotonic() + 5
    while not WatchedRoom.objects.filter(room=room).exists():  # the page's socket registered
        assert time.monotonic() < deadline, "the open page never registered its room"
        time.sleep(0.05)

    livekit_sim.mute("watched", "host", host.tracks[0]["sid"], muted=True)
    started = time.monotonic()
    page.wait_for_selector(f"#participant-{host.pk} .pill.track.is-muted", timeout=5_000)
    shown_after = time.monotonic() - started

    assert "muted" in track.inner_text()
    assert shown_after <= 2.0, f"the self-mute took {shown_after:.2f} s to show"
