"""The open-case count in the nav (pushed to every page when it changes)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def queue_open_count() -> int:
    from monitoring.queue.selectors import open_count

    return open_count()


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as people read them: 45 s, 12 min, 3 h 5 min; an em dash when unknown."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def category_label(slug: str) -> str:
    from monitoring.queue import categories

    return categories.label(slug)
