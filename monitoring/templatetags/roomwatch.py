"""Template tags the console's pages share."""

from __future__ import annotations

import logging
from typing import Any

from django import template

register = template.Library()
logger = logging.getLogger(__name__)


@register.simple_tag
def livekit_sync_status() -> Any:
    """How fresh the mirror is (for the "LiveKit unreachable" banner); ``None`` if unknown."""
    from monitoring.reconciler import sync_status

    try:
        return sync_status()
    except Exception:  # the banner must never take a page down with it
        logger.exception("could not read the mirror's sync status")
        return None


@register.filter
def live_for(moment: Any) -> str:
    """How long ago ``moment`` was, in words; under a minute is "just now"."""
    from django.utils import timezone

    from monitoring.wording import since_words

    return since_words(moment, timezone.now()) if moment else ""


@register.filter
def track_name(track: Any) -> str:
    """A track as people call it: "Camera", "Microphone", "Screen share"."""
    from monitoring.wording import track_name as name

    return name(track)


@register.simple_tag
def recording_line(egress: Any) -> dict[str, str]:
    """A recording in words: kind, start, duration and status (never its raw ids)."""
    from django.utils import timezone

    from monitoring import wording

    length = wording.egress_length(egress.started_at, egress.ended_at, timezone.now())
    return {
        "kind": wording.egress_kind(egress.details),
        "status": wording.egress_status(egress.status),
        "length": (
            wording.duration_words(length.total_seconds(), short="under a minute") if length else ""
        ),
        "in_progress": "yes" if egress.status in wording.EGRESS_IN_PROGRESS else "",
    }


@register.filter
def event_sentence(event: Any) -> str:
    """A room-timeline event as one clear sentence ("Ana (user_7) joined.")."""
    from monitoring.wording import event_sentence as sentence

    return sentence(event)


@register.inclusion_tag("monitoring/_summary_figures.html")
def summary_figures() -> dict[str, Any]:
    """Live rooms, people watching, publishers, recordings (and open cases)."""
    from monitoring.figures import summary_figures_get

    return {"figures": summary_figures_get()}
