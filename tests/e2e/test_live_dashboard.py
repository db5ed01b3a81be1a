"""The live dashboard in Chromium: LiveKit changes reach open pages without a reload."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from monitoring.models import Room

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


def mirrored_room(name: str, timeout: float = 10.0) -> Room:
    """Wait until the console's mirror (in the test database) holds the room."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name).order_by("-pk").first()
        if room is not None:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {name!r} never reached the mirror")


def mark_page(page: Any) -> None:
    """A flag that survives only as long as the document: a reload would erase it."""
    page.evaluate("() => { window.__sameDocument = true; }")


def still_same_document(page: Any) -> bool:
    return page.evaluate("() => window.__sameDocument === true")


def test_a_participant_joining_appears_on_an_open_room_list_and_room_page_without_reload(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, wait_for_live: Any
) -> None:
    livekit_sim.join(
        "studio",
        "host-1",
        name="Host One",
        attributes={"role": "host"},
        publish=["camera", "microphone"],
    )
    livekit_sim.flush()
    room = mirrored_room("studio")

    page = logged_in_page(moderator)
    wait_for_live(page)
    mark_page(page)
    row = page.locator(f"#room-row-{room.pk}")
    row.wait_for()

    livekit_sim.join("studio", "viewer-2", name="Viewer Two")
    livekit_sim.flush()
    page.wait_for_function(
        f"() => document.querySelector('#room-row-{room.pk} [data-testid=participants]')"
        ".textContent.trim() === '2'"
    )

    # A brand-new room is added to the open list too.
    livekit_sim.join("newcomer", "host-9", publish=["camera"])
    livekit_sim.flush()
    newcomer = mirrored_room("newcomer")
    page.locator(f"#room-row-{newcomer.pk}").wait_for()
    assert still_same_document(page)

    page.goto(f"{page.url.split('/?')[0].rstrip('/')}/rooms/{room.pk}/")
    wait_for_live(page)
    mark_page(page)
    participants = page.locator("#room-participants")
    assert "Viewer Two" in participants.inner_text()
    livekit_sim.join("studio", "viewer-3", name="Viewer Three")
    livekit_sim.flush()
    participants.get_by_text("Viewer Three", exact=True).wait_for()
    assert page.locator("#room-summary [data-testid=participants]").inner_text() == "3"
    assert still_same_document(page)
    assert page.dialogs == []


def test_a_room_ending_changes_its_status_live(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, wait_for_live: Any
) -> None:
    livekit_sim.join("closing-time", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("closing-time")

    page = logged_in_page(moderator)
    wait_for_live(page)
    mark_page(page)
    status = page.locator(f"#room-row-{room.pk} [data-testid=status]")
    status.wait_for()
    assert status.inner_text() != "ended"

    livekit_sim.leave("closing-time", "host-1")
    livekit_sim.advance(3600)
    livekit_sim.flush()
    # The list shows open rooms: the ended one leaves it, and its count, live.
    page.wait_for_function(f"() => document.querySelector('#room-row-{room.pk}') === null")
    page.wait_for_function(
        "() => document.querySelector('#room-count').textContent.trim() === '0 rooms'"
    )
    assert still_same_document(page)

    page.goto(page.url.split("?")[0] + "?status=all")
    assert page.locator(f"#room-row-{room.pk} [data-testid=status]").inner_text() == "ended"


def test_a_hostile_participant_renders_as_text_on_load_and_when_pushed(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, wait_for_live: Any
) -> None:
    hostile_metadata = json.dumps({"bio": "<script>alert(2)</script>", "x": HOSTILE})
    hostile_attributes = {"role": "viewer", "note": "<svg onload=alert(3)>", HOSTILE: HOSTILE}
    livekit_sim.join("hostile", "host-1", publish=["camera"])
    livekit_sim.join(
        "hostile", "evil-1", name=HOSTILE, metadata=hostile_metadata, attributes=hostile_attributes
    )
    livekit_sim.flush()
    room = mirrored_room("hostile")

    # On page load.
    page = logged_in_page(moderator, next_path=f"/rooms/{room.pk}/")
    wait_for_live(page)
    participants = page.locator("#room-participants")
    participants.get_by_text(HOSTILE, exact=True).first.wait_for()
    assert page.locator("#room-participants img").count() == 0

    # In a pushed fragment.
    mark_page(page)
    livekit_sim.join(
        "hostile",
        "evil-2",
        name=HOSTILE + "2",
        metadata=hostile_metadata,
        attributes=hostile_attributes,
    )
    livekit_sim.flush()
    participants.get_by_text(HOSTILE + "2", exact=True).wait_for()
    assert still_same_document(page)
    assert page.locator("#room-participants img, #room-participants svg").count() == 0
    assert "<svg onload=alert(3)>" in participants.inner_text()
    page.wait_for_timeout(300)  # give any injected handler the chance to fire
    assert page.dialogs == []


def connection_state(page: Any) -> str:
    return page.evaluate("() => document.getElementById('connection').dataset.state")


def test_a_page_whose_server_restarts_says_so_reconnects_and_catches_up(
    logged_in_page: Any,
    moderator: Any,
    livekit_sim: Any,
    wait_for_live: Any,
    console_server: Any,
) -> None:
    from django.utils import timezone

    from monitoring.models import SyncState

    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator)
    wait_for_live(page)
    mark_page(page)
    page.locator(f"#room-row-{room.pk}").wait_for()
    console_server.stop()
    page.wait_for_function("() => window.__wsOpen === false")
    assert connection_state(page) == "reconnecting"

    # While the page is cut off, the mirror changes and LiveKit becomes unreachable.
    Room.objects.filter(pk=room.pk).update(num_participants=7)
    SyncState.objects.update_or_create(
        pk=1, defaults={"last_error": "connection refused", "last_error_at": timezone.now()}
    )
    console_server.start()

    wait_for_live(page, timeout=20_000)
    page.wait_for_function(
        f"() => document.querySelector('#room-row-{room.pk} [data-testid=participants]')"
        ".textContent.trim() === '7'"
    )
    banner = page.locator("#livekit-banner")
    banner.get_by_text("LiveKit unreachable", exact=False).wait_for()
    assert banner.get_attribute("data-stale") == "true"
    assert connection_state(page) == "live"
    assert still_same_document(page)


def reconcile_in_a_worker_thread() -> Any:
    """One reconciler pass, off Playwright's thread (which refuses async_to_sync)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from monitoring.reconciler import reconcile_once

    def run() -> Any:
        try:
            return reconcile_once()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="the reconciler's push crosses processes only through Redis",
)
def test_livekit_becoming_unreachable_and_coming_back_is_shown_live_on_an_open_page(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, wait_for_live: Any, settings: Any
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator, next_path=f"/rooms/{room.pk}/")
    wait_for_live(page)
    mark_page(page)
    banner = page.locator("#livekit-banner")
    assert banner.inner_text().strip() == ""

    reachable = settings.LIVEKIT_URL
    settings.LIVEKIT_URL = "http://127.0.0.1:9"  # nothing listens there
    assert reconcile_in_a_worker_thread().error
    banner.get_by_text("LiveKit unreachable", exact=False).wait_for()
    assert banner.get_attribute("role") == "alert"

    settings.LIVEKIT_URL = reachable
    assert reconcile_in_a_worker_thread().ok
    page.wait_for_function(
        "() => document.getElementById('livekit-banner').textContent.trim() === ''"
    )
    assert banner.get_attribute("data-stale") is None
    assert still_same_document(page)


def test_live_for_durations_keep_counting_between_pushes(
    page: Any, logged_in_page: Any, moderator: Any, livekit_sim: Any, wait_for_live: Any
) -> None:
    livekit_sim.join("long-show", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("long-show")
    page.clock.install()
    logged_in_page(moderator)
    wait_for_live(page)
    live_for = page.locator(f"#room-row-{room.pk} [data-live-since]")
    assert live_for.inner_text() == "just now"

    page.clock.run_for(3 * 60_000 + 16_000)  # no push meanwhile: nothing changed in LiveKit

    assert live_for.inner_text() == "3\xa0minutes"
    page.clock.run_for(62 * 60_000)
    assert live_for.inner_text() == "1\xa0hour, 5\xa0minutes"


def test_a_page_whose_session_ended_while_disconnected_says_it_is_offline(
    logged_in_page: Any, moderator: Any, wait_for_live: Any, console_server: Any
) -> None:
    from django.contrib.sessions.models import Session

    page = logged_in_page(moderator)
    wait_for_live(page)
    console_server.stop()
    page.wait_for_function("() => window.__wsOpen === false")
    Session.objects.all().delete()  # signed out elsewhere, or the session expired
    console_server.start()

    page.wait_for_function(
        "() => document.getElementById('connection').dataset.state === 'offline'",
        timeout=20_000,
    )
    assert "sign in again" in page.locator("#connection").get_attribute("title")
    assert page.url.endswith("/")  # the page stays as it was, its last state readable


def test_the_room_page_fits_a_phone_without_scrolling_sideways(
    page: Any, logged_in_page: Any, moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera", "microphone"])
    livekit_sim.join("studio", "viewer-2", metadata='{"bio": "a rather long biography"}')
    livekit_sim.flush()
    room = mirrored_room("studio")
    page.set_viewport_size({"width": 390, "height": 844})
    logged_in_page(moderator, next_path=f"/rooms/{room.pk}/")
    page.locator("#room-participants").get_by_text("viewer-2").first.wait_for()

    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    table = page.locator("#room-participants table.participants").first
    assert table.locator("th", has_text="Tracks").is_visible()
    assert table.locator("th", has_text="Role").is_visible()
    assert not table.locator("th", has_text="Metadata").is_visible()
    assert table.locator("tr[data-identity=host-1] .pill.track").first.is_visible()
