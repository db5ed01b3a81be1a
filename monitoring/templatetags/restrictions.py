"""Template helpers for restrictions: the room's holds, durations and time left."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

from monitoring.moderation import selectors
from monitoring.moderation.restrictions import DURATION_PRESETS

register = template.Library()


@register.simple_tag
def room_holds(room: Any) -> selectors.RoomHolds:
    """Who is restricted in or banned from ``room`` (one read per page render)."""
    return selectors.room_holds(room=room)


@register.simple_tag
def restriction_durations() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _) in DURATION_PRESETS.items()]


@register.filter
def time_left(expires_at: datetime | None) -> str:
    """ "9 min left", "2 h 5 min left", "3 d left", or "until lifted"."""
    if expires_at is None:
        return "until lifted"
    seconds = int((expires_at - timezone.now()).total_seconds())
    if seconds <= 0:
        return "ending now"
    if seconds < 60:
        return f"{seconds} s left"
    minutes = (seconds + 59) // 60
    if minutes < 60:
        return f"{minutes} min left"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min left" if minutes else f"{hours} h left"
    return f"{(hours + 23) // 24} d left"


@register.simple_tag
def restrictions_active(limit: int = 200) -> list[Any]:
    """The newest active restrictions, for the Bans page."""
    return list(selectors.restrictions_filter()[:limit])
