"""A Content-Security-Policy without 'unsafe-inline' that every page keeps to (no inline
script, style, style= attribute, event handler or hx-on), websockets and LiveKit allowed
in connect-src, and a Permissions-Policy."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Participant, Room, RoomStatus

pytestmark = pytest.mark.django_db


class InlineFinder(HTMLParser):
    """Everything in a page that a policy without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        data_only = names.get("type") in ("application/json", "application/ld+json")
        if tag == "script" and "src" not in names and not data_only:
            self._in_inline_script = True
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"<{tag} style={value!r}>")
            if name.startswith("on") or name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.found.append(f"<script>{data.strip()[:40]}")


def inline_parts(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


def directives(response: Any) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.fixture
def room(db: Any) -> Room:
    room = Room.objects.create(
        sid="RM_csp", name="csp-room", status=RoomStatus.LIVE, created_at=timezone.now()
    )
    Participant.objects.create(
        room=room, sid="PA_1", identity="host-1", joined_at=timezone.now(), tracks=[]
    )
    return room


def test_the_policy_allows_no_inline_script_or_style(client: Client) -> None:
    policy = directives(client.get("/accounts/login/"))

    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    everything = " ".join(" ".join(sources) for sources in policy.values())
    assert "'unsafe-inline'" not in everything
    assert "'unsafe-eval'" not in everything


def test_connect_src_allows_the_console_and_livekits_public_url(client: Client) -> None:
    from django.conf import settings

    policy = directives(client.get("/accounts/login/"))

    assert "'self'" in policy["connect-src"]
    public = settings.LIVEKIT_PUBLIC_URL.rstrip("/")
    assert public in policy["connect-src"]


def test_connect_src_derivation_covers_trusted_origins_and_livekit() -> None:
    from config.env import csp_websocket_sources

    sources = csp_websocket_sources(
        ["https://console.example.com", "http://10.0.0.5:8000"], "wss://lk.example.com"
    )

    assert sources == [
        "wss://console.example.com",
        "ws://10.0.0.5:8000",
        "wss://lk.example.com",
        "https://lk.example.com",
    ]


def test_a_permissions_policy_turns_off_what_the_console_never_uses(client: Client) -> None:
    header = client.get("/accounts/login/")["Permissions-Policy"]

    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in header


def test_htmx_is_told_not_to_inject_its_indicator_styles(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()

    config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', page)
    assert config is not None
    assert '"includeIndicatorStyles": false' in config.group(1)


@pytest.mark.parametrize(
    "path",
    [
        "monitoring:rooms",
        "monitoring:wall",
        "monitoring:queue",
        "monitoring:queue-alerts",
        "monitoring:bans",
        "monitoring:audit",
        "monitoring:api-keys",
        "accounts:staff",
    ],
)
def test_no_page_carries_inline_script_or_style(
    path: str, client_for: Any, admin: Any, room: Room, livekit_sim: Any
) -> None:
    response = client_for(admin).get(reverse(path))

    assert response.status_code == 200
    assert inline_parts(response.content.decode()) == []


def test_the_room_page_carries_no_inline_script_or_style(
    client_for: Any, admin: Any, room: Room, livekit_sim: Any
) -> None:
    response = client_for(admin).get(reverse("monitoring:room", args=[room.pk]))

    assert response.status_code == 200
    assert inline_parts(response.content.decode()) == []


def test_the_sign_in_and_error_pages_carry_no_inline_script_or_style(client: Client) -> None:
    for response in (client.get("/accounts/login/"), client.get("/no-such-page/")):
        assert inline_parts(response.content.decode()) == []


def test_dialogs_carry_no_inline_script_or_style(
    client_for: Any, moderator: Any, room: Room, livekit_sim: Any
) -> None:
    url = reverse("monitoring:action-form", args=[room.pk, "kick"])

    page = client_for(moderator).get(url, {"identity": "host-1"}, HTTP_HX_REQUEST="true")

    assert inline_parts(page.content.decode()) == []


def test_revoking_a_key_still_asks_first_without_an_inline_handler(
    client_for: Any, admin: Any
) -> None:
    from monitoring.moderation.api_keys import api_key_create

    api_key_create(actor=admin, name="token-server")

    page = client_for(admin).get(reverse("monitoring:api-keys")).content.decode()

    assert 'data-confirm="Revoke token-server? Requests using it will be refused."' in page
    assert "onsubmit" not in page
