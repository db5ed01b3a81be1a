"""Template tags of the live preview: who is watching a room, and the wall's limit."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def room_watchers(room: Any) -> list[str]:
    """Names of the staff watching ``room`` through its live preview now."""
    from monitoring.moderation.observers import watchers_of

    return watchers_of(room=room) if room is not None else []


@register.simple_tag
def wall_previews_max() -> int:
    return int(settings.ROOMWATCH_WALL_PREVIEWS)
