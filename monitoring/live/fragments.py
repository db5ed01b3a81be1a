"""The HTML a room's change is pushed as: the pages' own named partials, per role.

A change renders only what it touched: the room's counts and status, the changed
participant rows, the new timeline entries (and the recordings when they changed),
plus the room's row on the list and its wall tile. The cost is the same in a room of
5 or of 5,000 participants. A full change (``identities`` unknown) renders the room
page's whole live part, as a reload would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F
from django.template.loader import render_to_string

from accounts.roles import ROLE_NAMES
from monitoring import selectors
from monitoring.models import Participant, Room, RoomEvent
from monitoring.realtime import ROOMS_GROUP, WALL_GROUP, role_context, room_group

ROOM_PAGE = "monitoring/room_detail.html"


@dataclass
class PushDetail:
    """The part of ``selectors.RoomDetail`` the pushed partials read."""

    room: Room
    present_total: int = 0
    departed_total: int = 0
    present_limit: int = selectors.PRESENT_LIMIT
    departed_limit: int = selectors.DEPARTED_LIMIT
    chart_svg: str = ""
    egresses: list[Any] = field(default_factory=list)
    ingresses: list[Any] = field(default_factory=list)


def room_fragments(
    *,
    room_id: int,
    identities: frozenset[str] | None,
    arrivals: frozenset[str] = frozenset(),
    event_ids: frozenset[int] = frozenset(),
    media: bool = False,
    chart: bool = False,
    page_open: bool = True,
) -> dict[str, dict[str, list[str]]]:
    """The messages per group and role for one room's change ({} when the room is gone).

    Without ``page_open`` (nobody has the room's page open) only its list row and wall
    tile are rendered.

    Table rows travel in messages of their own: the browser parses a message by its
    first tag, and a ``<tr>`` or ``<tbody>`` after other elements would be dropped.
    """
    if not page_open:
        room = Room.objects.filter(pk=room_id).first()
        return {} if room is None else _per_role(room, PushDetail(room=room), None)
    if identities is None:
        return _full(room_id)
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        return {}
    detail = PushDetail(
        room=room,
        present_total=room.participants.filter(left_at__isnull=True, is_observer=False).count(),
        departed_total=room.participants.filter(left_at__isnull=False, is_observer=False).count(),
    )
    rows = selectors.participant_rows(_latest_sessions(room, identities))
    events = list(RoomEvent.objects.filter(pk__in=event_ids, room=room).order_by("-occurred_at"))
    if media:
        detail.egresses = list(room.egresses.order_by(F("started_at").desc(nulls_first=True)))
        detail.ingresses = list(room.ingresses.order_by("name", "id"))
    if chart:
        detail.chart_svg = selectors.room_chart_svg(room=room)

    def page(context: dict[str, Any]) -> list[str]:
        parts = [
            render_to_string(f"{ROOM_PAGE}#room-summary", context),
            render_to_string(f"{ROOM_PAGE}#present-total", context),
            render_to_string(f"{ROOM_PAGE}#departed-total", context),
        ]
        if events:
            items = "".join(
                render_to_string(f"{ROOM_PAGE}#timeline-item", {**context, "event": event})
                for event in events
            )
            parts.append(f'<ol hx-swap-oob="afterbegin:#timeline-list">{items}</ol>')
        if media:
            parts.append(render_to_string(f"{ROOM_PAGE}#room-media", context))
        if chart:
            parts.append(render_to_string(f"{ROOM_PAGE}#room-chart", context))
        return ["".join(parts), *_rows_messages(rows, arrivals, detail, context)]

    return _per_role(room, detail, page)


def _per_role(
    room: Room, detail: Any, page: Callable[[dict[str, Any]], list[str]] | None
) -> dict[str, dict[str, list[str]]]:
    """The room's list row and wall tile, and ``page``'s messages for its room page,
    rendered once for each role."""
    out: dict[str, dict[str, list[str]]] = {ROOMS_GROUP: {}, WALL_GROUP: {}}
    if page is not None:
        out[room_group(room.pk)] = {}
    for role in ROLE_NAMES:
        context = {**role_context(role), "room": room, "detail": detail, "oob": True}
        out[ROOMS_GROUP][role] = [render_to_string("monitoring/rooms.html#room-row", context)]
        out[WALL_GROUP][role] = [render_to_string("monitoring/wall.html#wall-tile-live", context)]
        if page is not None:
            out[room_group(room.pk)][role] = page(context)
    return out


def _rows_messages(
    rows: list[selectors.ParticipantRow],
    arrivals: frozenset[str],
    detail: PushDetail,
    context: dict[str, Any],
) -> list[str]:
    """Changed rows replace themselves by id; arrivals are appended to "in the room",
    and departures head "left" (the page's script then drops the row's older copy)."""
    updated, joined, left = [], [], []
    for row in rows:
        participant = row.participant
        if participant.left_at is not None:
            left.append(render_to_string(f"{ROOM_PAGE}#participant-row", {**context, "row": row}))
        elif participant.identity in arrivals:
            if detail.present_total <= detail.present_limit:  # the page shows the first N
                joined.append(
                    render_to_string(f"{ROOM_PAGE}#participant-row", {**context, "row": row})
                )
        else:
            updated.append(
                render_to_string(
                    f"{ROOM_PAGE}#participant-row", {**context, "row": row, "row_oob": True}
                )
            )
    messages = []
    if updated:
        messages.append("".join(updated))
    inserted = ""
    if joined:
        inserted += f'<tbody hx-swap-oob="beforeend:#present-rows">{"".join(joined)}</tbody>'
    if left:
        inserted += f'<tbody hx-swap-oob="afterbegin:#departed-rows">{"".join(left)}</tbody>'
    if inserted:
        messages.append(inserted)
    return messages


def _latest_sessions(room: Room, identities: frozenset[str]) -> list[Participant]:
    """Each identity's newest session in the room (older ones are already shown as left)."""
    if not identities:
        return []
    latest: dict[str, Participant] = {}
    for row in room.participants.filter(identity__in=identities, is_observer=False).order_by("pk"):
        latest[row.identity] = row
    return list(latest.values())


def _full(room_id: int) -> dict[str, dict[str, list[str]]]:
    detail = selectors.room_detail_get(room_id=room_id)
    if detail is None:
        return {}
    return _per_role(
        detail.room,
        detail,
        lambda context: [render_to_string(f"{ROOM_PAGE}#room-live", context)],
    )
