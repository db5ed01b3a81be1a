"""The console's shared look: one list of reasons everywhere, a favicon, no live-update
indicator where nothing is live, no inline script or style for the CSP, words not codes."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Room, RoomStatus
from monitoring.moderation.reasons import REASON_PRESETS
from monitoring.wording import duration_words, event_sentence

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def presets_in(page: str, select_name: str = "reason_preset") -> list[str]:
    select = re.search(rf'<select[^>]*name="{select_name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no {select_name} list"
    return re.findall(r'<option value="([^"]+)"', select.group(1))


def test_every_form_offers_the_same_reason_presets(client_for: Any, admin: Any) -> None:
    room = Room.objects.create(sid="RM_1", name="lobby", created_at=timezone.now())
    client = client_for(admin)
    action = client.get(
        reverse("monitoring:action-form", args=[room.pk, "kick"]), {"identity": "troll"}
    ).content.decode()
    ban_dialog = client.get(reverse("monitoring:room-ban-form", args=[room.pk])).content.decode()
    bans_page = client.get(reverse("monitoring:bans")).content.decode()

    assert presets_in(action) == presets_in(ban_dialog) == presets_in(bans_page)
    assert presets_in(action) == list(REASON_PRESETS)
    assert "Choose a reason…" in action and "write your own below" not in action


def test_pages_link_a_favicon_that_is_served(client_for: Any, support: Any) -> None:
    page = client_for(support).get(reverse("monitoring:rooms")).content.decode()

    assert '<link rel="icon" href="/static/favicon.svg"' in page
    assert finders.find("favicon.svg")


def test_the_live_indicator_starts_hidden_and_never_says_n_a(client_for: Any, support: Any) -> None:
    page = client_for(support).get(reverse("monitoring:bans")).content.decode()

    assert re.search(r'<span id="connection"[^>]* hidden>', page)
    assert "n/a" not in page
    assert "n/a" not in (Path(__file__).parents[1] / "static/js/roomwatch.js").read_text()


def test_the_templates_carry_no_inline_script_style_or_handler() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=|hx-on|hx-confirm", text):
            offenders.append(path.name)
    assert offenders == []


def test_durations_say_just_now_under_a_minute_and_plural_properly() -> None:
    assert duration_words(20) == "just now"
    assert duration_words(60) == "1\xa0minute"
    assert duration_words(3900) == "1\xa0hour, 5\xa0minutes"


def test_a_timeline_event_is_one_sentence_naming_the_participant_once() -> None:
    class Event:
        kind = "participant_joined"
        summary = "user_x joined as Xena"
        participant_identity = "user_x"
        payload = {"participant": {"identity": "user_x", "name": "Xena"}}

    camera = type(
        "Camera",
        (Event,),
        {"kind": "track_published", "payload": {"track": {"source": "CAMERA"}}},
    )

    assert event_sentence(Event()) == "Xena (user_x) joined."
    assert event_sentence(camera()) == "user_x turned on their camera."


def test_a_room_that_just_ended_is_recorded_only_once_its_recording_finished(db: Any) -> None:
    from monitoring.mirror.rows import room_refresh
    from monitoring.models import Egress

    now = timezone.now()
    room = Room.objects.create(
        sid="RM_2", name="stage", created_at=now - timedelta(minutes=5), ended_at=now
    )
    Egress.objects.create(egress_id="EG_1", room=room, status="EGRESS_COMPLETE")
    Egress.objects.create(egress_id="EG_2", room=room, status="EGRESS_ENDING")
    room_refresh(room=room, now=now)
    assert Room.objects.get(pk=room.pk).status == RoomStatus.ENDED

    Egress.objects.filter(egress_id="EG_2").update(status="EGRESS_COMPLETE")
    room_refresh(room=Room.objects.get(pk=room.pk), now=now)
    assert Room.objects.get(pk=room.pk).status == RoomStatus.RECORDED


def test_the_summary_figures_count_live_rooms_watchers_publishers_and_recordings(
    client_for: Any, support: Any
) -> None:
    now = timezone.now()
    Room.objects.create(
        sid="RM_a",
        name="a",
        created_at=now,
        status=RoomStatus.LIVE,
        num_participants=10,
        num_publishers=2,
        active_recording=True,
    )
    Room.objects.create(
        sid="RM_b", name="b", created_at=now, status=RoomStatus.IDLE, num_participants=3
    )
    Room.objects.create(
        sid="RM_c", name="c", created_at=now, status=RoomStatus.ENDED, num_participants=50
    )
    client = client_for(support)

    fragment = client.get(reverse("monitoring:summary")).content.decode()
    rooms_page = client.get(reverse("monitoring:rooms")).content.decode()

    def figure(name: str) -> str:
        found = re.search(rf'data-testid="figure-{name}">(\d+)<', fragment)
        assert found, name
        return found.group(1)

    assert [figure(n) for n in ("live-rooms", "watching", "publishers", "recording")] == [
        "1",
        "11",
        "2",
        "1",
    ]
    assert "1 live room<" in fragment.replace('</span><span class="label">', " ")
    assert 'id="summary-figures"' in rooms_page and 'hx-get="/summary/"' in rooms_page
