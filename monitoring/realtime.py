"""Channels group names and broadcasts: the only module that sends to groups."""

from __future__ import annotations

ROOMS_GROUP = "rooms"
