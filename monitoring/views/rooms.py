"""The room list, the room page and the monitoring wall: parse, authorize, select, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import Action
from accounts.decorators import staff_required
from monitoring import selectors

WALL_PINS_SESSION_KEY = "wall_pins"
WALL_PINS_MAX = 24


def _list_url(query: selectors.RoomQuery, **overrides: object) -> str:
    params = query.as_params(**overrides)
    return (
        f"{reverse('monitoring:rooms')}?{urlencode(params)}"
        if params
        else reverse("monitoring:rooms")
    )


@require_GET
@staff_required(Action.VIEW)
def room_list(request: HttpRequest) -> HttpResponse:
    try:
        query = selectors.room_query_parse(params=request.GET)
    except selectors.InvalidQuery as exc:
        return render(
            request,
            "monitoring/bad_request.html",
            {"message": str(exc), "nav": "rooms"},
            status=400,
        )
    page = selectors.room_list_page(query=query)
    context = {
        "nav": "rooms",
        "query": query,
        "page": page,
        # Pushed rows are re-sorted and filtered in the page by the list's own rules.
        "statuses": selectors.STATUS_FILTERS[query.status] or (),
        "status_choices": list(selectors.STATUS_FILTER_LABELS.items()),
        "sort_choices": list(selectors.SORT_LABELS.items()),
        "refresh_url": _list_url(query, page=page.number),
        "previous_url": _list_url(query, page=page.number - 1) if page.has_previous() else "",
        "next_url": _list_url(query, page=page.number + 1) if page.has_next() else "",
    }
    template = "monitoring/rooms.html"
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        template += "#room-list"
    return render(request, template, context)


@require_GET
@staff_required(Action.VIEW)
def room_detail(request: HttpRequest, room_id: int) -> HttpResponse:
    detail = selectors.room_detail_get(room_id=room_id)
    if detail is None:
        raise Http404("This room is not in the console's mirror.")
    template = "monitoring/room_detail.html"
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        template += "#room-live"
    return render(request, template, {"nav": "rooms", "detail": detail, "room": detail.room})


def _pins(request: HttpRequest) -> list[int]:
    raw = request.session.get(WALL_PINS_SESSION_KEY, [])
    return [pk for pk in raw if isinstance(pk, int)] if isinstance(raw, list) else []


@require_GET
@staff_required(Action.VIEW)
def wall(request: HttpRequest) -> HttpResponse:
    rooms = selectors.wall_rooms(pinned_ids=_pins(request))
    template = "monitoring/wall.html"
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        template += "#wall-grid"
    return render(request, template, {"nav": "wall", "rooms": rooms})


@require_POST
@staff_required(Action.VIEW)
def wall_pin(request: HttpRequest, room_id: int) -> HttpResponse:
    """Pin or unpin a room on this staff member's wall (kept in their session)."""
    pinned = request.POST.get("pinned")
    if pinned not in ("0", "1"):
        return render(
            request,
            "monitoring/bad_request.html",
            {"message": "Say whether to pin (1) or unpin (0) the room.", "nav": "wall"},
            status=400,
        )
    if selectors.room_get(room_id=room_id) is None:
        raise Http404("This room is not in the console's mirror.")
    pins = [pk for pk in _pins(request) if pk != room_id]
    if pinned == "1":
        if len(pins) >= WALL_PINS_MAX:
            return render(
                request,
                "monitoring/bad_request.html",
                {"message": f"At most {WALL_PINS_MAX} rooms can be pinned.", "nav": "wall"},
                status=400,
            )
        pins.insert(0, room_id)
    request.session[WALL_PINS_SESSION_KEY] = pins
    return redirect("monitoring:wall")
