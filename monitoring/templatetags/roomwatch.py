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
