"""Live preview in Chromium: the room page's Watch joins the simulator's /rtc as a
hidden observer and says what it sees; the wall plays at most the configured number
of previews; livekit-client comes from static/ and nothing is fetched from outside."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from monitoring.models import Room

pytestmark = pytest.mark.e2e


def mirrored_room(name: str, timeout: float = 10.0) -> Room:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name).order_by("-pk").first()
        if room is not None and room.num_publishers:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {name!r} never reached the mirror")


def eventually(page: Any, check: Any, timeout: float = 10.0) -> Any:
    """Poll ``check`` while letting Playwright run the page's route handlers (a plain
    sleep in the test thread would hold every routed request)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(100)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class ClosedNetwork:
    """Abort every request that is not to the console or the simulator; remember them."""

    def __init__(self, page: Any, allowed: list[str]) -> None:
        self.allowed = allowed
        self.blocked: list[str] = []
        self.requests: list[str] = []
        self.sockets: list[str] = []
        page.route("**/*", self.handle)
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def handle(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if any(url.startswith(origin) for origin in self.allowed):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture
def network(page: Any, console: str, livekit_sim: Any) -> ClosedNetwork:
    return ClosedNetwork(page, [console, livekit_sim.url])


def state_text(page: Any) -> str:
    return page.locator("[data-testid=preview-state]").inner_text()


def test_watch_joins_the_simulator_as_a_hidden_observer_and_counts_do_not_change(
    network: ClosedNetwork,
    logged_in_page: Any,
    moderator: Any,
    livekit_sim: Any,
    wait_for_live: Any,
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera", "microphone"])
    livekit_sim.join("studio", "viewer-1", can_publish=False)
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator, f"/rooms/{room.pk}/")
    page.goto(f"{network.allowed[0]}/rooms/{room.pk}/")
    wait_for_live(page)
    participants = page.locator("#room-summary [data-testid=participants]")
    assert participants.inner_text() == "2"
    assert state_text(page) == "not watching"

    page.get_by_role("button", name="Watch").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=preview-state]').textContent"
        " === 'connected, no media'"
    )

    rtc = [url for url in network.sockets if url.startswith(livekit_sim.url.replace("http", "ws"))]
    assert len(rtc) == 1 and urlsplit(rtc[0]).path == "/rtc"
    token = parse_qs(urlsplit(rtc[0]).query)["access_token"][0]
    identity = claims(token)["sub"]
    assert identity.startswith(f"roomwatch-observer-{moderator.pk}-")
    assert claims(token)["video"]["room"] == "studio"
    observers = eventually(page, lambda: livekit_sim.state()["observers"])
    assert [(o["room"], o["identity"]) for o in observers] == [("studio", identity)]
    assert livekit_sim.room("studio")["num_participants"] == 3
    page.wait_for_selector("[data-testid=watched-by]:not([hidden])")
    assert "watched by: " + moderator.get_username() in page.inner_text("#room-summary")
    assert participants.inner_text() == "2"
    assert identity not in page.inner_text("#room-participants")

    page.get_by_role("button", name="Stop watching").click()
    assert eventually(page, lambda: livekit_sim.state()["observers"] == [])
    assert state_text(page) == "not watching"
    page.wait_for_selector("[data-testid=watched-by][hidden]", state="attached")
    assert participants.inner_text() == "2"

    vendored = [u for u in network.requests if "/static/vendor/livekit-client/" in u]
    assert vendored and all(u.startswith(network.allowed[0]) for u in vendored)
    assert network.blocked == []


def test_a_token_livekit_refuses_is_said_in_words(
    network: ClosedNetwork,
    logged_in_page: Any,
    moderator: Any,
    livekit_sim: Any,
    console: str,
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator, f"/rooms/{room.pk}/")
    page.goto(f"{console}/rooms/{room.pk}/")

    def tamper(route: Any) -> None:
        body = route.fetch().json()
        body["token"] = body["token"][:-6] + "AAAAAA"  # a broken signature
        route.fulfill(json=body)

    page.route("**/watch-token/**", tamper)
    page.get_by_role("button", name="Watch").click()

    page.wait_for_function(
        "() => document.querySelector('[data-testid=preview-state]').textContent"
        ".startsWith('LiveKit refused the token')"
    )
    assert livekit_sim.state()["observers"] == []
    assert page.get_by_role("button", name="Watch").is_visible()
    assert network.blocked == []


def test_an_unreachable_livekit_is_said_in_words(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, console: str
) -> None:
    from monitoring.localhost import free_port

    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator, f"/rooms/{room.pk}/")
    page.goto(f"{console}/rooms/{room.pk}/")
    closed = f"ws://127.0.0.1:{free_port()}"

    def elsewhere(route: Any) -> None:
        body = route.fetch().json()
        body["url"] = closed
        route.fulfill(json=body)

    page.route("**/watch-token/**", elsewhere)
    page.get_by_role("button", name="Watch").click()

    page.wait_for_function(
        "() => document.querySelector('[data-testid=preview-state]').textContent"
        ".startsWith('LiveKit unreachable')",
        timeout=20_000,
    )


def test_outsiders_to_the_room_page_get_no_token(page: Any, console: str, livekit_sim: Any) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio")

    response = page.request.get(f"{console}/rooms/{room.pk}/watch-token/", max_redirects=0)

    assert response.status == 302


@pytest.fixture
def two_previews(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("ROOMWATCH_WALL_PREVIEWS", "2")
    return 2


def test_the_wall_plays_at_most_the_configured_number_of_previews(
    two_previews: int,
    network: ClosedNetwork,
    logged_in_page: Any,
    moderator: Any,
    livekit_sim: Any,
    console: str,
    wait_for_live: Any,
) -> None:
    for n in range(4):
        livekit_sim.join(f"stage-{n}", f"host-{n}", publish=["camera"])
    livekit_sim.flush()
    rooms = [mirrored_room(f"stage-{n}") for n in range(4)]
    page = logged_in_page(moderator, "/wall/")
    page.set_viewport_size({"width": 1600, "height": 2000})
    page.goto(f"{console}/wall/")
    wait_for_live(page)
    for room in rooms:
        page.wait_for_selector(f"#wall-card-{room.pk} .tile-preview")
    assert livekit_sim.state()["observers"] == []

    page.get_by_role("button", name="Preview visible rooms").click()

    page.wait_for_function("() => document.querySelector('#wall-previews').dataset.playing === '2'")
    assert eventually(page, lambda: len(livekit_sim.state()["observers"]) == two_previews)
    page.wait_for_timeout(1000)  # nothing more starts later
    assert len(livekit_sim.state()["observers"]) == two_previews
    assert "2 of at most 2 previews playing" in page.inner_text("#wall-previews")
    assert page.locator(".tile-preview[data-state=nomedia]").count() == two_previews
    link = page.locator(f"#wall-card-{rooms[0].pk} [data-tile-open]")
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("href") == f"/rooms/{rooms[0].pk}/"

    page.get_by_role("button", name="Stop previews").click()
    assert eventually(page, lambda: livekit_sim.state()["observers"] == [])
    assert network.blocked == []


@pytest.fixture
def short_tokens(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("ROOMWATCH_OBSERVER_TOKEN_TTL_SECONDS", "60")
    return 60


def test_the_page_renews_its_token_while_it_plays_keeping_its_identity(
    short_tokens: int,
    network: ClosedNetwork,
    logged_in_page: Any,
    moderator: Any,
    livekit_sim: Any,
    console: str,
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator, f"/rooms/{room.pk}/")
    page.goto(f"{console}/rooms/{room.pk}/")
    page.get_by_role("button", name="Watch").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=preview-state]').textContent"
        " === 'connected, no media'"
    )
    identity = livekit_sim.state()["observers"][0]["identity"]

    # Renewal is due a minute before expiry: at once for a one-minute token.
    renewed = eventually(
        page,
        lambda: [u for u in network.requests if "watch-token/?renew=" in u],
        timeout=15,
    )

    assert renewed
    assert parse_qs(urlsplit(renewed[0]).query)["renew"] == [identity]
    assert [o["identity"] for o in livekit_sim.state()["observers"]] == [identity]
    assert state_text(page) == "connected, no media"


def test_capture_frame_stores_the_frame_for_the_next_action(
    network: ClosedNetwork,
    logged_in_page: Any,
    moderator: Any,
    livekit_sim: Any,
    console: str,
) -> None:
    from monitoring.models import AuditEntry, Evidence

    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator, f"/rooms/{room.pk}/")
    page.goto(f"{console}/rooms/{room.pk}/")
    page.get_by_role("button", name="Watch").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=preview-state]').textContent"
        " === 'connected, no media'"
    )
    page.get_by_role("button", name="Capture frame").click()
    page.wait_for_function(
        "() => document.querySelector('[data-preview-evidence]').textContent.includes('no media')"
    )
    assert not Evidence.objects.exists()

    # The simulator sends no media: stand in a drawn frame for the stream LiveKit would send.
    page.evaluate(
        """() => {
          const canvas = document.createElement('canvas');
          canvas.width = 64; canvas.height = 36;
          const g = canvas.getContext('2d'); g.fillStyle = '#c00'; g.fillRect(0, 0, 64, 36);
          const video = document.querySelector('[data-preview-video]');
          video.srcObject = canvas.captureStream(5);
          return video.play();
        }"""
    )
    page.wait_for_function("() => document.querySelector('[data-preview-video]').videoWidth > 0")
    page.get_by_role("button", name="Capture frame").click()
    page.wait_for_function(
        "() => document.querySelector('[data-preview-evidence]').textContent"
        ".startsWith('Frame captured')"
    )

    evidence = Evidence.objects.get()
    assert evidence.room_name == "studio" and evidence.captured_by == moderator
    with evidence.image.open("rb") as stored:
        assert stored.read(8) == b"\x89PNG\r\n\x1a\n"
    assert AuditEntry.objects.get(action="evidence.capture").detail["evidence"] == [evidence.pk]
    assert network.blocked == []
