"""What the room page says about how the console read LiveKit's events."""

from __future__ import annotations

from django import template

from monitoring.mirror.rows import room_timeouts_unknown
from monitoring.models import Room

register = template.Library()


@register.filter
def timeouts_unknown(room: Room) -> bool:
    """First seen through an event with a minimal room: its timeouts are LiveKit's
    defaults until the reconciler (or a room_started) gives the real ones."""
    return isinstance(room, Room) and room_timeouts_unknown(room=room)
