"""Channels group names and broadcasts: the only module that sends to groups.

The mirror calls :func:`room_changed` after it writes a room (it defers itself to
``transaction.on_commit``, so nothing is pushed for a rolled-back write). Pushes are
coalesced per room: the first change goes out at once, later changes within
``ROOMWATCH_PUSH_INTERVAL_SECONDS`` (default 0.25 s) collapse into one trailing push
that renders the room as it is *then* (last state wins), so a room with thousands of
joins costs each socket at most a few messages a second.

Every push renders the same named partials the pages render, wrapped with
``hx-swap-oob`` so htmx's websocket extension swaps them in by their stable ids.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, transaction
from django.template.loader import render_to_string

from accounts.access import Action
from accounts.roles import ROLE_ACTIONS, ROLE_NAMES

logger = logging.getLogger(__name__)

ROOMS_GROUP = "rooms"
WALL_GROUP = "wall"
# Every open page's socket: what is not about one room (LiveKit reachable or not).
CONSOLE_GROUP = "console"
PUSH_MESSAGE_TYPE = "fragment.push"
# Tells every socket of one account to close (``StaffConsumer.account_changed``).
ACCOUNT_CHANGED_MESSAGE_TYPE = "account.changed"
DEFAULT_PUSH_INTERVAL_SECONDS = 0.25


def room_group(room_id: int) -> str:
    """The group of sockets watching one room's page (ASCII, well under 100 chars)."""
    return f"room.{int(room_id)}"


def user_group(user_id: int) -> str:
    """The group of every open socket of one staff account, whatever page it is on."""
    return f"user.{int(user_id)}"


def user_sockets_close(*, user_id: int) -> None:
    """Close every open socket of an account after commit (deactivated, new role, signed out).

    Each page then reconnects: the server checks the account as it is now, so a
    deactivated or signed-out account is refused and the page says offline, and an
    account with a new role gets pushes rendered for that role.
    """
    transaction.on_commit(lambda: _user_sockets_close_now(int(user_id)))


def _user_sockets_close_now(user_id: int) -> None:
    try:
        _group_send(user_group(user_id), {"type": ACCOUNT_CHANGED_MESSAGE_TYPE})
    except Exception:
        # The change itself is committed; without the channel layer the sockets stay
        # open until they next reconnect, and are checked against the account then.
        logger.exception("realtime: closing the sockets of user %s failed", user_id)


def push_interval() -> float:
    return float(
        getattr(settings, "ROOMWATCH_PUSH_INTERVAL_SECONDS", DEFAULT_PUSH_INTERVAL_SECONDS)
    )


def room_changed(*, room_id: int) -> None:
    """Push a room's fresh fragments to the list, the wall and its own page, after commit."""
    transaction.on_commit(lambda: _coalescer.request(int(room_id)))


def sync_status_changed() -> None:
    """Push the "LiveKit unreachable" banner (or its removal) to every open page, after commit.

    The reconciler calls it when LiveKit goes from reachable to unreachable or back;
    the banner renders the state as it is when the push is sent.
    """
    transaction.on_commit(banner_push)


def banner_fragment() -> str:
    """The banner partial every page renders, marked for an out-of-band swap."""
    return render_to_string("monitoring/_livekit_banner.html", {"oob": True}).strip()


def banner_push() -> None:
    """Send the banner to every open page now (failures are logged, never raised)."""
    try:
        html = banner_fragment()
        _group_send(CONSOLE_GROUP, push_message(dict.fromkeys(ROLE_NAMES, html)))
    except Exception:
        logger.exception("realtime: banner push failed")


def role_context(role: str) -> dict[str, Any]:
    """What a pushed fragment may know about its viewer: only their role's permissions.

    Pushes are rendered once per role (not per user and without a request), so action
    partials must rely on ``perms_console``/``staff_role`` and post with htmx (the CSRF
    header comes from ``<body hx-headers>``), never on ``request`` or ``{% csrf_token %}``.
    """
    allowed = ROLE_ACTIONS.get(role, frozenset())
    return {
        "staff_role": role,
        "perms_console": {action.name.lower(): action in allowed for action in Action},
    }


def room_fragments(*, room_id: int) -> dict[str, dict[str, str]]:
    """The HTML each group receives for a room, per group and per role ({} if it is gone)."""
    from monitoring import selectors

    detail = selectors.room_detail_get(room_id=room_id)
    if detail is None:
        return {}
    room = detail.room
    fragments: dict[str, dict[str, str]] = {
        ROOMS_GROUP: {},
        WALL_GROUP: {},
        room_group(room.pk): {},
    }
    for role in ROLE_NAMES:
        context = {**role_context(role), "room": room, "detail": detail, "oob": True}
        fragments[ROOMS_GROUP][role] = render_to_string("monitoring/rooms.html#room-row", context)
        fragments[WALL_GROUP][role] = render_to_string(
            "monitoring/wall.html#wall-tile-live", context
        )
        fragments[room_group(room.pk)][role] = render_to_string(
            "monitoring/room_detail.html#room-live", context
        )
    return fragments


def push_message(by_role: dict[str, str]) -> dict[str, Any]:
    """A group message for ``StaffConsumer.fragment_push``; sockets pick their role's HTML."""
    return {"type": PUSH_MESSAGE_TYPE, "by_role": by_role}


def room_push(*, room_id: int) -> None:
    """Render and send a room's fragments now, without coalescing."""
    for group, by_role in room_fragments(room_id=room_id).items():
        _group_send(group, push_message(by_role))


def _main_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop when called from a sync view running under ASGI."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running() and not loop.is_closed():
        return loop
    return None


def _group_send(
    group: str, message: dict[str, Any], loop: asyncio.AbstractEventLoop | None = None
) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    # Sending on the server's own loop keeps the in-memory layer working from timer
    # threads (its queues belong to that loop); elsewhere a private loop is fine.
    if loop is not None and loop.is_running() and not loop.is_closed():
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        future.result(timeout=10)
    else:
        async_to_sync(layer.group_send)(group, message)


class _Coalescer:
    """At most one push per room per interval; the trailing push renders the latest state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}
        self._pending: dict[int, threading.Timer] = {}

    def request(self, room_id: int) -> None:
        interval = push_interval()
        now = time.monotonic()
        with self._lock:
            if room_id in self._pending:
                return  # a trailing push is already due and will render the newest state
            wait = self._last.get(room_id, -math.inf) + interval - now
            if wait > 0:
                timer = threading.Timer(wait, self._fire, args=(room_id, _main_loop()))
                timer.daemon = True
                self._pending[room_id] = timer
                timer.start()
                return
            self._last[room_id] = now
            self._prune(now, interval)
        self._push(room_id, loop=None)

    def _fire(self, room_id: int, loop: asyncio.AbstractEventLoop | None) -> None:
        with self._lock:
            self._pending.pop(room_id, None)
            self._last[room_id] = time.monotonic()
        try:
            self._push(room_id, loop=loop)
        finally:
            close_old_connections()

    def _push(self, room_id: int, *, loop: asyncio.AbstractEventLoop | None) -> None:
        try:
            for group, by_role in room_fragments(room_id=room_id).items():
                _group_send(group, push_message(by_role), loop)
        except Exception:
            # A failed push must never undo or fail the write that caused it; the
            # pages resync on reconnect and on the next change.
            logger.exception("realtime: push for room %s failed", room_id)

    def _prune(self, now: float, interval: float) -> None:
        if len(self._last) > 10_000:
            stale = [pk for pk, at in self._last.items() if now - at > interval]
            for pk in stale:
                del self._last[pk]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no trailing push is due (for commands and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                timers = list(self._pending.values())
            if not timers:
                return True
            for timer in timers:
                timer.join(max(deadline - time.monotonic(), 0))
        return not self._pending

    def reset(self) -> None:
        with self._lock:
            for timer in self._pending.values():
                timer.cancel()
            self._pending.clear()
            self._last.clear()


_coalescer = _Coalescer()


def pushes_wait_idle(timeout: float = 5.0) -> bool:
    """Wait for coalesced trailing pushes to be sent (a command should call it before exiting)."""
    return _coalescer.wait_idle(timeout)


def pushes_reset() -> None:
    """Forget throttling state and cancel due pushes (tests start from a clean slate)."""
    _coalescer.reset()
