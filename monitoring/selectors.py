"""Reads for the console's pages and pushes: every query a page makes lives here.

Each function returns what one template (or one named partial) needs, with a fixed
number of queries however many rows there are, so a pushed fragment and a reloaded
page are built from the same data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from monitoring.charts import (
    CHART_BUCKETS,
    participant_count_series,
    participant_count_steps,
    participant_count_svg,
)
from monitoring.models import Egress, Ingress, Participant, Room, RoomEvent, RoomStatus
from monitoring.wording import TRACK_SOURCES, TRACK_TYPES

OPEN_STATUSES: tuple[str, ...] = (
    RoomStatus.IDLE,
    RoomStatus.LIVE,
    RoomStatus.WAITING_RECONNECT,
)
# "open" (the default) hides finished rooms; "all" shows every room.
STATUS_FILTERS: dict[str, tuple[str, ...] | None] = {
    "open": OPEN_STATUSES,
    "all": None,
    **{status.value: (status.value,) for status in RoomStatus},
}
STATUS_FILTER_LABELS: dict[str, str] = {
    "open": "Open (not ended)",
    "all": "All",
    **{status.value: status.label.capitalize() for status in RoomStatus},
}
# Each sort ends on the primary key so pages never overlap or skip a room.
SORTS: dict[str, tuple[Any, ...]] = {
    "busiest": ("-num_participants", "-num_publishers", "-created_at", "-id"),
    "newest": ("-created_at", "-id"),
    "name": ("name", "-created_at", "-id"),
    "longest": (F("live_since").asc(nulls_last=True), "-id"),
}
SORT_LABELS: dict[str, str] = {
    "busiest": "Busiest",
    "newest": "Newest",
    "name": "Name",
    "longest": "Longest live",
}
PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 256
# Room detail shows at most this many participants of each kind and events.
PRESENT_LIMIT = 200
DEPARTED_LIMIT = 100
EVENT_LIMIT = 200
WALL_SIZE = 12
# Participants LiveKit leaves out of a room's counts.
UNCOUNTED_KINDS = ("EGRESS", "AGENT")

# Tracks as people call them (monitoring.wording), never by sid.
_SOURCE_LABELS = TRACK_SOURCES
_TYPE_LABELS = TRACK_TYPES


class InvalidQuery(ValueError):
    """A room-list query the console cannot answer; the message says why."""


@dataclass(frozen=True)
class RoomQuery:
    search: str = ""
    status: str = "open"
    sort: str = "busiest"
    page: int = 1

    def as_params(self, **overrides: Any) -> dict[str, Any]:
        """Query-string parameters for links that keep the current search, filter and sort."""
        params = {"q": self.search, "status": self.status, "sort": self.sort, "page": self.page}
        params.update(overrides)
        return {key: value for key, value in params.items() if value not in ("", None)}


def room_query_parse(*, params: Any) -> RoomQuery:
    """Read ``q``, ``status``, ``sort`` and ``page`` from a query dict; ``InvalidQuery`` if bad."""
    search = (params.get("q") or "").strip()
    if len(search) > SEARCH_MAX_LENGTH:
        raise InvalidQuery(f"Search text is limited to {SEARCH_MAX_LENGTH} characters.")
    if "\x00" in search:
        raise InvalidQuery("Search text may not contain NUL characters.")
    status = params.get("status") or "open"
    if status not in STATUS_FILTERS:
        allowed = ", ".join(STATUS_FILTERS)
        raise InvalidQuery(f"Unknown status filter {status!r}; use one of: {allowed}.")
    sort = params.get("sort") or "busiest"
    if sort not in SORTS:
        raise InvalidQuery(f"Unknown sort {sort!r}; use one of: {', '.join(SORTS)}.")
    raw_page = params.get("page") or "1"
    try:
        page = int(raw_page)
    except (TypeError, ValueError):
        raise InvalidQuery(f"Page {raw_page!r} is not a whole number.") from None
    if page < 1:
        raise InvalidQuery("Pages start at 1.")
    return RoomQuery(search=search, status=status, sort=sort, page=page)


def room_queryset(*, query: RoomQuery) -> QuerySet[Room]:
    """Rooms matching a query, sorted; searching never scans participants.

    Search matches the *start* of a room name or of a participant identity,
    case-sensitively, so PostgreSQL answers both with the btree (``_like``)
    indexes on ``Room.name`` and ``Participant.identity`` instead of a scan.
    """
    rooms = Room.objects.all()
    statuses = STATUS_FILTERS[query.status]
    if statuses is not None:
        rooms = rooms.filter(status__in=statuses)
    if query.search:
        with_identity = Participant.objects.filter(identity__startswith=query.search).values(
            "room_id"
        )
        rooms = rooms.filter(Q(name__startswith=query.search) | Q(id__in=with_identity))
    return rooms.order_by(*SORTS[query.sort])


def room_list_page(*, query: RoomQuery, per_page: int = PAGE_SIZE) -> Page:
    """One page of the room list (pages past the end show the last page)."""
    paginator = Paginator(room_queryset(query=query), per_page)
    return paginator.get_page(query.page)


def room_get(*, room_id: int) -> Room | None:
    return Room.objects.filter(pk=room_id).first()


@dataclass(frozen=True)
class TrackBadge:
    label: str
    muted: bool


@dataclass
class ParticipantRow:
    participant: Participant
    tracks: list[TrackBadge]
    attributes: list[tuple[str, str]]
    # Active restrictions (moderation.selectors.RestrictionShown) of present participants,
    # and their latest warning and its acknowledgement (moderation.selectors.WarningShown).
    restrictions: list[Any] = field(default_factory=list)
    warning: Any = None


@dataclass
class RoomDetail:
    room: Room
    present: list[ParticipantRow]
    present_total: int
    departed: list[ParticipantRow]
    departed_total: int
    events: list[RoomEvent]
    events_total: int
    egresses: list[Egress]
    ingresses: list[Ingress]
    chart_svg: str
    chart_points: list[tuple[Any, int]] = field(default_factory=list)
    present_limit: int = PRESENT_LIMIT
    departed_limit: int = DEPARTED_LIMIT
    event_limit: int = EVENT_LIMIT


def track_badges(*, tracks: Iterable[Any]) -> list[TrackBadge]:
    """Labels for a participant's tracks ("Camera", "Microphone", ...), and whether muted."""
    badges = []
    for track in tracks or ():
        if not isinstance(track, dict):
            continue
        source = str(track.get("source") or "").upper()
        kind = str(track.get("type") or "").upper()
        label = _SOURCE_LABELS.get(source) or _TYPE_LABELS.get(kind) or "Track"
        badges.append(TrackBadge(label=label, muted=bool(track.get("muted"))))
    return badges


def participant_rows(participants: Iterable[Participant]) -> list[ParticipantRow]:
    """What the participant-row partial needs for each participant."""
    rows = []
    for participant in participants:
        attributes = participant.attributes if isinstance(participant.attributes, dict) else {}
        rows.append(
            ParticipantRow(
                participant=participant,
                tracks=track_badges(tracks=participant.tracks),
                attributes=sorted((str(k), str(v)) for k, v in attributes.items()),
            )
        )
    _rows_restrictions_attach(rows)
    return rows


def _rows_restrictions_attach(rows: list[ParticipantRow]) -> None:
    """Attach each present participant's active restrictions and latest warning (two
    reads per room)."""
    from monitoring.moderation.selectors import restrictions_for_identities, warnings_latest

    by_room: dict[int, list[ParticipantRow]] = {}
    for row in rows:
        if row.participant.left_at is None:
            by_room.setdefault(row.participant.room_id, []).append(row)
    names = dict(Room.objects.filter(pk__in=by_room).values_list("pk", "name"))
    for room_id, room_rows in by_room.items():
        shown = restrictions_for_identities(
            room_name=names.get(room_id, ""), identities=[r.participant.identity for r in room_rows]
        )
        warned = warnings_latest(
            room_name=names.get(room_id, ""), identities=[r.participant.identity for r in room_rows]
        )
        for row in room_rows:
            row.restrictions = shown.get(row.participant.identity, [])
            row.warning = warned.get(row.participant.identity)


def room_detail_get(*, room_id: int) -> RoomDetail | None:
    """Everything the room page shows, or ``None`` if the room is not in the mirror."""
    room = room_get(room_id=room_id)
    if room is None:
        return None
    # The console's own observers are shown as "watched by", not as participants.
    participants = room.participants.filter(is_observer=False)
    present_qs = participants.filter(left_at__isnull=True).order_by(
        F("joined_at").asc(nulls_last=True), "id"
    )
    departed_qs = participants.filter(left_at__isnull=False).order_by("-left_at", "-id")
    present = list(present_qs[: PRESENT_LIMIT + 1])
    departed = list(departed_qs[: DEPARTED_LIMIT + 1])
    present_total = len(present) if len(present) <= PRESENT_LIMIT else present_qs.count()
    departed_total = len(departed) if len(departed) <= DEPARTED_LIMIT else departed_qs.count()
    # The newest events first: pushes add new ones at the top.
    events = list(room.events.order_by("-occurred_at", "-id")[: EVENT_LIMIT + 1])
    events_total = len(events) if len(events) <= EVENT_LIMIT else room.events.count()
    events = events[:EVENT_LIMIT]
    points = room_chart_points(room=room)
    return RoomDetail(
        room=room,
        present=participant_rows(present[:PRESENT_LIMIT]),
        present_total=present_total,
        departed=participant_rows(departed[:DEPARTED_LIMIT]),
        departed_total=departed_total,
        events=events,
        events_total=events_total,
        egresses=list(room.egresses.order_by(F("started_at").desc(nulls_first=True), "-id")),
        ingresses=list(room.ingresses.order_by("name", "id")),
        chart_svg=participant_count_svg(points=points),
        chart_points=points,
    )


def room_chart_points(*, room: Room) -> list[tuple[Any, int]]:
    """The room's participant count over time, for the chart on its page.

    On PostgreSQL the joins and leaves are summed by the database into
    ``CHART_BUCKETS`` stretches of time, so a room of 5,000 costs what a room of 5
    does (a few hundred rows, whatever the size); elsewhere each span is read.
    """
    if connection.vendor == "postgresql":
        return _room_chart_points_summed(room=room)
    spans = (
        room.participants.exclude(kind__in=UNCOUNTED_KINDS)
        .filter(joined_at__isnull=False)
        .values_list("joined_at", "left_at")
    )
    return participant_count_series(spans=list(spans), start=room.created_at, end=room.ended_at)


def _room_chart_points_summed(*, room: Room) -> list[tuple[Any, int]]:
    start = room.created_at
    end = room.ended_at or timezone.now()
    width = max((end - start).total_seconds() / CHART_BUCKETS, 0.001)
    table = Participant._meta.db_table
    uncounted = sorted(UNCOUNTED_KINDS)
    # The count after each change (leaves before joins at the same instant), then per
    # stretch of time its peak and its last count, in time order.
    sql = f"""
        WITH changes AS (
            SELECT joined_at AS moment, 1 AS delta FROM {table}
             WHERE room_id = %s AND joined_at IS NOT NULL AND NOT (kind = ANY(%s))
            UNION ALL
            SELECT GREATEST(left_at, joined_at), -1 FROM {table}
             WHERE room_id = %s AND joined_at IS NOT NULL AND left_at IS NOT NULL
               AND NOT (kind = ANY(%s))
        ), running AS (
            SELECT moment, delta,
                   SUM(delta) OVER (ORDER BY moment, delta ROWS UNBOUNDED PRECEDING) AS n,
                   GREATEST(FLOOR(EXTRACT(EPOCH FROM (moment - %s)) / %s), -1) AS bucket
              FROM changes
        )
        SELECT (ARRAY_AGG(moment ORDER BY n DESC, moment))[1], MAX(n)::int,
               MAX(moment), ((ARRAY_AGG(n ORDER BY moment DESC, delta DESC))[1])::int
          FROM running GROUP BY bucket ORDER BY bucket
    """  # the table name is the model's; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [room.pk, uncounted, room.pk, uncounted, start, width])
        rows = cursor.fetchall()
    levels = []
    for peak_at, peak, last_at, last in rows:
        levels.append((peak_at, peak))
        if last_at > peak_at:
            levels.append((last_at, last))
    return participant_count_steps(levels=levels, start=start, end=room.ended_at)


def room_chart_svg(*, room: Room) -> str:
    return participant_count_svg(points=room_chart_points(room=room))


def wall_rooms(*, pinned_ids: Sequence[int], size: int = WALL_SIZE) -> list[Room]:
    """Pinned rooms first (in pin order, any status), then the busiest live rooms."""
    pinned_map = Room.objects.in_bulk(list(pinned_ids)) if pinned_ids else {}
    pinned = [pinned_map[pk] for pk in pinned_ids if pk in pinned_map]
    for room in pinned:
        room.is_pinned = True  # type: ignore[attr-defined]
    room_slots = max(size - len(pinned), 0)
    busiest = list(
        Room.objects.filter(status=RoomStatus.LIVE)
        .exclude(pk__in=[room.pk for room in pinned])
        .order_by(*SORTS["busiest"])[:room_slots]
    )
    return pinned + busiest
