"""A LiveKit-compatible server for tests and the demo (Twirp API, webhooks, /sim/ control)."""

from __future__ import annotations

from .server import SimServer
from .state import SimClock, SimError

__all__ = ["SimClock", "SimError", "SimServer"]
