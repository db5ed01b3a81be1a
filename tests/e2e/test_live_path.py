"""The live path in Chromium: several workers behind the console, and a room list that
stays true while pushes arrive."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitoring.models import Room
from tests.conftest import PASSWORD
from tests.e2e.conftest import REPO, WS_OPEN_SCRIPT, ConsoleServer

pytestmark = pytest.mark.e2e


def mirrored_room(name: str, *, newer_than: int = 0, timeout: float = 10.0) -> Room:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name, pk__gt=newer_than).order_by("-pk").first()
        if room is not None:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {name!r} never reached the mirror")


def row_order(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#room-rows tr.room-row", "rows => rows.map(r => r.querySelector('a').textContent)"
    )


@pytest.mark.console_workers("external")
def test_a_webhook_received_by_one_worker_updates_a_page_served_by_another(
    console_server: Any, livekit_sim: Any, moderator: Any, page: Any, tmp_path: Path
) -> None:
    if not os.environ.get("REDIS_URL"):
        pytest.skip("pushes cross worker processes through Redis (set REDIS_URL)")
    # Worker A (the fixture's) receives LiveKit's webhooks; worker B serves the page;
    # an applier of its own applies the events, as in production.
    worker_b = ConsoleServer(env=console_server.env, log=tmp_path / "worker-b.log")
    with (tmp_path / "applier.log").open("ab") as log:
        applier = subprocess.Popen(
            [sys.executable, "manage.py", "livekit_apply"],
            cwd=REPO,
            env=console_server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        worker_b.start()
        livekit_sim.join("two-workers", "host-1", publish=["camera"])
        livekit_sim.flush()
        room = mirrored_room("two-workers")

        page.add_init_script(WS_OPEN_SCRIPT)
        page.set_default_timeout(10_000)
        page.goto(f"{worker_b.url}/accounts/login/?next=/rooms/{room.pk}/")
        page.fill("input[name=username]", moderator.get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_function("() => window.__wsOpen === true")

        livekit_sim.join("two-workers", "viewer-2", name="Viewer Two")
        livekit_sim.flush()
        page.locator("#present-rows").get_by_text("Viewer Two", exact=True).wait_for()
        assert page.locator("#room-summary [data-testid=participants]").inner_text() == "2"
        assert "/livekit/webhook" not in (tmp_path / "worker-b.log").read_text()
    finally:
        worker_b.stop()
        applier.terminate()
        applier.wait(timeout=10)


def test_the_room_list_keeps_its_sort_and_filter_while_rows_are_pushed(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, wait_for_live: Any
) -> None:
    for name, people in (("alpha", 3), ("bravo", 2), ("charlie", 1)):
        for n in range(people):
            livekit_sim.join(name, f"{name}-{n}", publish=["camera"] if n == 0 else [])
    livekit_sim.flush()
    charlie = mirrored_room("charlie")
    page = logged_in_page(moderator, "/?sort=busiest")
    wait_for_live(page)
    page.locator(f"#room-row-{charlie.pk}").wait_for()
    assert row_order(page) == ["alpha", "bravo", "charlie"]

    for n in range(1, 5):
        livekit_sim.join("charlie", f"charlie-{n}")
    livekit_sim.flush()
    page.wait_for_function(
        "() => document.querySelector('#room-rows tr.room-row a').textContent === 'charlie'"
    )
    assert row_order(page) == ["charlie", "alpha", "bravo"]

    # A room that ends leaves the "Open" filter and its count.
    for n in range(2):
        livekit_sim.leave("bravo", f"bravo-{n}")
    livekit_sim.advance(3600)
    livekit_sim.flush()
    page.wait_for_function(
        "() => document.querySelector('#room-count').textContent.trim() === '2 rooms'"
    )
    assert row_order(page) == ["charlie", "alpha"]

    # The same name again is a new session: a new row, not the old one going live.
    livekit_sim.join("bravo", "bravo-again", publish=["camera"])
    livekit_sim.flush()
    again = mirrored_room("bravo", newer_than=charlie.pk)
    page.locator(f"#room-row-{again.pk}").wait_for()
    assert row_order(page) == ["charlie", "alpha", "bravo"]
