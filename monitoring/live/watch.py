"""Which rooms someone is looking at: the registry of open room pages and walls.

LiveKit sends no webhook when a participant mutes itself or changes its metadata,
attributes or permissions, so rooms on an open page are polled by the reconciler
every ``ROOMWATCH_WATCH_POLL_MS`` (``reconciler.watched_poll_once``) while, and only
while, they are watched. The websocket consumers register their socket on connect
and remove it on disconnect, and renew it while open; a row a dead process left
behind goes stale after ``TTL_SECONDS`` and is deleted by ``watches_clean``.

A room page watches its room. A wall watches the wall's busiest live rooms as
``selectors.wall_rooms`` shows them (pins live in each browser's session, so they
are not known here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from django.utils import timezone

from monitoring.asyncdb import db_call
from monitoring.models import Room, WatchedRoom

logger = logging.getLogger(__name__)

# A socket renews its row this often; rows not renewed for TTL_SECONDS are stale.
RENEW_SECONDS = 30
TTL_SECONDS = 90
CLEAN_EVERY_SECONDS = 30


def room_watch_start(*, channel_name: str, room_id: int | None = None, wall: bool = False) -> bool:
    """Register a socket watching a room (or, with ``wall``, the wall); False when
    the room does not exist (nothing is registered)."""
    if not wall and (room_id is None or not Room.objects.filter(pk=room_id).exists()):
        return False
    WatchedRoom.objects.update_or_create(
        channel_name=channel_name,
        defaults={"room_id": None if wall else room_id, "wall": wall, "seen_at": timezone.now()},
    )
    return True


def room_watch_renew(*, channel_name: str) -> None:
    WatchedRoom.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def room_watch_stop(*, channel_name: str) -> None:
    WatchedRoom.objects.filter(channel_name=channel_name).delete()


def watched_room_ids() -> set[int]:
    """The open rooms someone is watching now (stale registrations left out)."""
    from monitoring import selectors

    fresh = WatchedRoom.objects.filter(seen_at__gte=timezone.now() - timedelta(seconds=TTL_SECONDS))
    ids = set(
        fresh.filter(wall=False, room__ended_at__isnull=True).values_list("room_id", flat=True)
    )
    if fresh.filter(wall=True).exists():
        ids.update(room.pk for room in selectors.wall_rooms(pinned_ids=[]))
    return ids


def room_pages_open() -> set[int]:
    """The rooms whose page is open somewhere now (what the pusher renders pages for)."""
    fresh = WatchedRoom.objects.filter(
        wall=False, seen_at__gte=timezone.now() - timedelta(seconds=TTL_SECONDS)
    )
    return set(fresh.values_list("room_id", flat=True))


def watches_clean() -> int:
    """Delete registrations no socket renewed in time (their process died unseen)."""
    cutoff = timezone.now() - timedelta(seconds=TTL_SECONDS)
    deleted, _ = WatchedRoom.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


# --- For the websocket consumers ---------------------------------------------------


async def watch_begin(
    *, channel_name: str, room_id: int | None = None, wall: bool = False
) -> asyncio.Task[None] | None:
    """Register the socket and keep renewing it until ``watch_end``."""
    started = await db_call(room_watch_start)(channel_name=channel_name, room_id=room_id, wall=wall)
    if not started:
        return None
    return asyncio.get_running_loop().create_task(_renew(channel_name))


async def watch_end(*, channel_name: str, task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await db_call(room_watch_stop)(channel_name=channel_name)


async def _renew(channel_name: str) -> None:
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await db_call(room_watch_renew)(channel_name=channel_name)
        except Exception:
            logger.exception("could not renew the watch of %s", channel_name)
