"""Template helpers for the moderator action controls."""

from __future__ import annotations

from typing import Any

from django import template

from monitoring.moderation.actions import remote_unmute_allowed

register = template.Library()


@register.simple_tag
def remote_unmute() -> bool:
    return remote_unmute_allowed()


@register.filter
def has_tracks(tracks: Any, state: str) -> bool:
    """``state`` is "muted" or "live": whether any of the participant's tracks is so."""
    want_muted = state == "muted"
    return any(
        isinstance(track, dict) and bool(track.get("muted")) == want_muted
        for track in (tracks or ())
    )
