"""The room list, the room page and the wall, as staff see them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring import selectors
from monitoring.charts import participant_count_series, participant_count_svg
from monitoring.models import Egress, Ingress, Participant, Room, RoomEvent, RoomStatus

HOSTILE = "<img src=x onerror=alert(1)>"


def make_room(name: str, *, minutes_ago: int = 5, **fields: Any) -> Room:
    now = timezone.now()
    fields.setdefault("sid", f"RM_{name}")
    fields.setdefault("created_at", now - timedelta(minutes=minutes_ago))
    return Room.objects.create(name=name, **fields)


def make_participant(room: Room, identity: str, **fields: Any) -> Participant:
    fields.setdefault("sid", f"PA_{room.pk}_{identity}")
    fields.setdefault("joined_at", timezone.now() - timedelta(minutes=1))
    return Participant.objects.create(room=room, identity=identity, **fields)


def rooms_url(**params: str) -> str:
    from urllib.parse import urlencode

    return reverse("monitoring:rooms") + ("?" + urlencode(params) if params else "")


# -- the room list ------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client: Any, db: Any) -> None:
    response = client.get(rooms_url())
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_signed_in_outsiders_are_refused(client_for: Any, outsider: Any) -> None:
    assert client_for(outsider).get(rooms_url()).status_code == 403


def test_support_staff_see_every_open_room_with_its_counts(client_for: Any, support: Any) -> None:
    make_room(
        "studio",
        status=RoomStatus.LIVE,
        num_participants=12,
        num_publishers=2,
        host_identity="host-ann",
        live_since=timezone.now() - timedelta(minutes=30),
        active_recording=True,
    )
    make_room("finished", status=RoomStatus.ENDED)
    response = client_for(support).get(rooms_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "studio" in html and "host-ann" in html
    assert '<td data-testid="participants">12</td>' in html
    assert '<td data-testid="publishers">2</td>' in html
    assert "● recording" in html
    assert "30\xa0minutes" in html
    assert "finished" not in html


def test_all_shows_ended_rooms_and_a_status_filter_narrows_the_list(
    client_for: Any, support: Any
) -> None:
    make_room("open-one", status=RoomStatus.IDLE)
    make_room("over", status=RoomStatus.ENDED)
    make_room("kept", status=RoomStatus.RECORDED)
    client = client_for(support)
    everything = client.get(rooms_url(status="all")).content.decode()
    assert all(name in everything for name in ("open-one", "over", "kept"))
    recorded = client.get(rooms_url(status="recorded")).content.decode()
    assert "kept" in recorded and "open-one" not in recorded and ">over<" not in recorded


def test_search_matches_the_start_of_a_room_name_or_a_participant_identity(
    client_for: Any, support: Any
) -> None:
    gaming = make_room("gaming-night")
    other = make_room("cooking")
    make_participant(other, "chef-luigi")
    make_room("quiet")
    client = client_for(support)
    by_name = client.get(rooms_url(q="gaming")).content.decode()
    assert f"room-row-{gaming.pk}" in by_name and "cooking" not in by_name
    by_identity = client.get(rooms_url(q="chef-lu")).content.decode()
    assert f"room-row-{other.pk}" in by_identity and "gaming-night" not in by_identity
    nothing = client.get(rooms_url(q="night")).content.decode()
    assert "No rooms match." in nothing


def test_rooms_sort_by_busiest_newest_name_and_longest_live(client_for: Any, support: Any) -> None:
    now = timezone.now()
    a = make_room(
        "alpha",
        num_participants=1,
        minutes_ago=1,
        status=RoomStatus.LIVE,
        live_since=now - timedelta(minutes=1),
    )
    b = make_room(
        "bravo",
        num_participants=50,
        minutes_ago=30,
        status=RoomStatus.LIVE,
        live_since=now - timedelta(minutes=20),
    )
    c = make_room("charlie", num_participants=5, minutes_ago=10, status=RoomStatus.IDLE)

    def order(sort: str) -> list[int]:
        page = selectors.room_list_page(query=selectors.RoomQuery(sort=sort))
        return [room.pk for room in page.object_list]

    assert order("busiest") == [b.pk, c.pk, a.pk]
    assert order("newest") == [a.pk, c.pk, b.pk]
    assert order("name") == [a.pk, b.pk, c.pk]
    assert order("longest") == [b.pk, a.pk, c.pk]
    assert client_for(support).get(rooms_url(sort="longest")).status_code == 200


def test_the_list_is_paginated_on_the_server_with_links_that_work_without_javascript(
    client_for: Any, support: Any
) -> None:
    Room.objects.bulk_create(
        Room(sid=f"RM_{i:03}", name=f"room-{i:03}", created_at=timezone.now()) for i in range(60)
    )
    client = client_for(support)
    first = client.get(rooms_url(sort="name")).content.decode()
    assert "room-000" in first and "room-059" not in first
    assert 'href="/?status=open&amp;sort=name&amp;page=2"' in first
    assert 'hx-get="/?status=open&amp;sort=name&amp;page=2"' in first
    second = client.get(rooms_url(sort="name", page="2")).content.decode()
    assert "room-059" in second and "room-000" not in second
    beyond = client.get(rooms_url(sort="name", page="99")).content.decode()
    assert "room-059" in beyond


def test_an_htmx_request_gets_only_the_list_partial(client_for: Any, support: Any) -> None:
    make_room("studio")
    response = client_for(support).get(rooms_url(), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="room-list"')
    assert "<html" not in html and "studio" in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "sideways"}, "Unknown status filter"),
        ({"sort": "loudest"}, "Unknown sort"),
        ({"page": "two"}, "is not a whole number"),
        ({"page": "0"}, "Pages start at 1"),
        ({"q": "x" * 300}, "limited to 256 characters"),
    ],
)
def test_bad_list_parameters_get_a_clear_400(
    client_for: Any, support: Any, params: dict[str, str], message: str
) -> None:
    response = client_for(support).get(rooms_url(**params))
    assert response.status_code == 400
    assert message in response.content.decode()


def count_list_queries(client: Any, **params: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(rooms_url(**params)).status_code == 200
    return len(queries)


def seed(rooms: int) -> None:
    for i in range(rooms):
        room = make_room(f"seed-{rooms}-{i}", status=RoomStatus.LIVE, num_participants=2)
        make_participant(room, f"viewer-{rooms}-{i}-a")
        make_participant(room, f"viewer-{rooms}-{i}-b")


def test_the_list_makes_the_same_number_of_queries_for_5_rooms_as_for_50(
    client_for: Any, support: Any
) -> None:
    client = client_for(support)
    client.get(rooms_url())  # warm the session and permission caches
    seed(5)
    few = count_list_queries(client)
    few_search = count_list_queries(client, q="seed", sort="newest")
    Room.objects.all().delete()
    seed(50)
    many = count_list_queries(client)
    many_search = count_list_queries(client, q="seed", sort="newest")
    assert few == many
    assert few_search == many_search


# -- the room page ------------------------------------------------------------


def test_the_room_page_shows_who_is_in_the_room_then_who_left(
    client_for: Any, support: Any
) -> None:
    room = make_room("studio", status=RoomStatus.LIVE, num_participants=1, num_publishers=1)
    make_participant(
        room,
        "host-ann",
        name="Ann",
        role="host",
        state="ACTIVE",
        tracks=[
            {"sid": "TR_1", "type": "VIDEO", "source": "CAMERA", "muted": False},
            {"sid": "TR_2", "type": "AUDIO", "source": "MICROPHONE", "muted": True},
            {"sid": "TR_3", "type": "VIDEO", "source": "SCREEN_SHARE", "muted": False},
        ],
    )
    make_participant(
        room,
        "gone-bob",
        state="DISCONNECTED",
        left_at=timezone.now(),
        disconnect_reason="CLIENT_INITIATED",
    )
    html = client_for(support).get(reverse("monitoring:room", args=[room.pk])).content.decode()
    assert html.index("host-ann") < html.index("gone-bob")
    assert 'In the room <span id="present-total" class="muted">(1)</span>' in html
    assert 'Left <span id="departed-total" class="muted">(1)</span>' in html
    assert ">Camera<" in html and ">Screen share<" in html
    assert 'Microphone <span class="state">muted</span>' in html  # a word beside the icon
    assert "TR_1" not in html  # tracks are named as people see them, never by sid
    assert "client_initiated" in html


def test_metadata_and_attributes_are_shown_as_text_never_as_markup(
    client_for: Any, support: Any
) -> None:
    room = make_room("hostile")
    make_participant(
        room,
        HOSTILE,
        name=HOSTILE,
        metadata='{"bio": "<script>alert(2)</script>"}',
        attributes={"<b>": "<svg onload=alert(3)>"},
    )
    html = client_for(support).get(reverse("monitoring:room", args=[room.pk])).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html or "&quot;" in html
    assert "<script>alert(2)" not in html
    assert "<svg onload" not in html and "<b>" not in html
    assert "<img src=x" not in html


def test_the_room_page_lists_recordings_ingress_and_the_event_timeline(
    client_for: Any, support: Any
) -> None:
    room = make_room("studio", status=RoomStatus.RECORDED, ended_at=timezone.now())
    Egress.objects.create(egress_id="EG_rec1", room=room, status="EGRESS_COMPLETE")
    Ingress.objects.create(
        ingress_id="IN_obs",
        room=room,
        name="OBS",
        input_type="RTMP_INPUT",
        state="ENDPOINT_PUBLISHING",
    )
    RoomEvent.objects.create(
        room=room,
        event_id="EV_1",
        kind="room_started",
        occurred_at=room.created_at,
        summary="room opened",
    )
    RoomEvent.objects.create(
        room=room,
        event_id="EV_2",
        kind="participant_joined",
        occurred_at=timezone.now(),
        participant_identity="host-ann",
    )
    html = client_for(support).get(reverse("monitoring:room", args=[room.pk])).content.decode()
    # Recordings in words: kind, start, duration, status; never LiveKit's status codes.
    assert "<strong>Recording</strong>" in html and ">finished</span>" in html
    assert "EGRESS_COMPLETE" not in html
    assert "IN_obs" in html and "RTMP_INPUT" in html
    # Newest first: pushes add new events at the top.
    assert html.index("participant_joined") < html.index("room_started")
    # One clear sentence per event, the identity said once.
    assert "The room started." in html
    assert "host-ann joined." in html and html.count("host-ann") == 1


def test_the_room_page_draws_the_participant_count_as_svg(client_for: Any, support: Any) -> None:
    room = make_room("studio", minutes_ago=10)
    now = timezone.now()
    make_participant(room, "a", joined_at=now - timedelta(minutes=9))
    make_participant(
        room, "b", joined_at=now - timedelta(minutes=8), left_at=now - timedelta(minutes=2)
    )
    make_participant(room, "recorder", kind="EGRESS", joined_at=now - timedelta(minutes=8))
    html = client_for(support).get(reverse("monitoring:room", args=[room.pk])).content.decode()
    assert '<svg class="chart" role="img"' in html
    assert "peak 2, now 1" in html


def test_an_unknown_room_is_a_404(client_for: Any, support: Any) -> None:
    assert client_for(support).get(reverse("monitoring:room", args=[424242])).status_code == 404


def test_an_htmx_refresh_of_the_room_page_gets_only_its_live_sections(
    client_for: Any, support: Any
) -> None:
    room = make_room("studio")
    response = client_for(support).get(
        reverse("monitoring:room", args=[room.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert 'id="room-summary"' in html and 'id="room-timeline"' in html
    assert "<html" not in html and "hx-swap-oob" not in html


# -- the chart ----------------------------------------------------------------


def test_the_participant_count_series_steps_up_on_joins_and_down_on_leaves() -> None:
    start = timezone.now() - timedelta(minutes=10)
    t = [start + timedelta(minutes=m) for m in range(10)]
    points = participant_count_series(
        spans=[(t[1], t[5]), (t[2], None), (t[3], t[4])], start=start, end=t[9]
    )
    assert [count for _, count in points] == [0, 1, 2, 3, 2, 1, 1]
    assert "peak 3, now 1" in participant_count_svg(points=points)


def test_a_room_nobody_joined_draws_an_empty_chart() -> None:
    assert "No participants yet" in participant_count_svg(points=[])


@pytest.mark.django_db
def test_a_large_room_s_chart_is_read_in_one_bounded_query_with_its_peak_and_count() -> None:
    room = make_room("crowd", minutes_ago=600)
    start = room.created_at
    rows = []
    for n in range(400):
        joined = start + timedelta(seconds=30 + n * 60)
        left = joined + timedelta(minutes=45) if n % 3 else None
        rows.append(
            Participant(room=room, sid=f"PA_{n}", identity=f"u{n}", joined_at=joined, left_at=left)
        )
    Participant.objects.bulk_create(rows)
    spans = [(p.joined_at, p.left_at) for p in rows]
    exact = participant_count_series(spans=spans, start=start, end=room.ended_at)

    with CaptureQueriesContext(connection) as captured:
        points = selectors.room_chart_points(room=room)

    assert len(captured) == 1
    assert points[-1][1] == exact[-1][1]
    assert max(c for _, c in points) == max(c for _, c in exact)
    if connection.vendor == "postgresql":
        assert len(points) <= 2 * 300 + 2  # two points per stretch of time at most


# -- the wall -----------------------------------------------------------------


def test_the_wall_shows_the_busiest_live_rooms(client_for: Any, support: Any) -> None:
    make_room("big", status=RoomStatus.LIVE, num_participants=900)
    make_room("small", status=RoomStatus.LIVE, num_participants=3)
    make_room("idle-one", status=RoomStatus.IDLE, num_participants=99)
    html = client_for(support).get(reverse("monitoring:wall")).content.decode()
    assert html.index(">big<") < html.index(">small<")
    assert "idle-one" not in html


def test_a_pinned_room_comes_first_on_the_wall_until_unpinned(
    client_for: Any, support: Any
) -> None:
    make_room("big", status=RoomStatus.LIVE, num_participants=900)
    quiet = make_room("quiet", status=RoomStatus.IDLE)
    client = client_for(support)
    pin = reverse("monitoring:wall_pin", args=[quiet.pk])
    assert client.post(pin, {"pinned": "1"}).status_code == 302
    html = client.get(reverse("monitoring:wall")).content.decode()
    assert html.index(">quiet<") < html.index(">big<")
    assert "Unpin" in html
    client.post(pin, {"pinned": "0"})
    assert ">quiet<" not in client.get(reverse("monitoring:wall")).content.decode()


def test_pinning_refuses_bad_input_and_unknown_rooms(client_for: Any, support: Any) -> None:
    room = make_room("quiet")
    client = client_for(support)
    bad = client.post(reverse("monitoring:wall_pin", args=[room.pk]), {"pinned": "maybe"})
    assert bad.status_code == 400
    assert "pin (1) or unpin (0)" in bad.content.decode()
    missing = client.post(reverse("monitoring:wall_pin", args=[999999]), {"pinned": "1"})
    assert missing.status_code == 404
    assert client.get(reverse("monitoring:wall_pin", args=[room.pk])).status_code == 405


def test_every_live_for_duration_carries_its_start_so_the_page_can_keep_it_ticking(
    client_for: Any, support: Any
) -> None:
    started = timezone.now() - timedelta(minutes=30)
    room = make_room("studio", status=RoomStatus.LIVE, live_since=started)
    client = client_for(support)
    since = f'data-live-since="{int(started.timestamp())}"'
    for url in (
        rooms_url(),
        reverse("monitoring:wall"),
        reverse("monitoring:room", args=[room.pk]),
    ):
        html = client.get(url).content.decode()
        assert html.count(since) == 1, url
        rendered_at = int(html.split('data-rendered-at="', 1)[1].split('"', 1)[0])
        assert abs(rendered_at - timezone.now().timestamp()) < 60
        assert "30\xa0minutes</span>" in html


# -- the LiveKit banner -------------------------------------------------------


def test_every_page_says_when_livekit_is_unreachable_and_shows_the_last_known_state(
    client_for: Any, support: Any
) -> None:
    from monitoring.models import SyncState

    make_room("studio")
    client = client_for(support)
    assert 'data-stale="true"' not in client.get(rooms_url()).content.decode()
    SyncState.objects.update_or_create(
        pk=1,
        defaults={
            "last_success_at": timezone.now() - timedelta(minutes=3),
            "last_error_at": timezone.now(),
            "last_error": "connection refused",
        },
    )
    for url in (rooms_url(), reverse("monitoring:wall")):
        html = client.get(url).content.decode()
        assert "LiveKit unreachable — showing the last known state from" in html
        assert "connection refused" in html
    assert "studio" in client.get(rooms_url()).content.decode()
