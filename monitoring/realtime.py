"""Channels group names and broadcasts: the only module that sends to groups.

Writers say what changed with :func:`room_changed` (deferred to
``transaction.on_commit``, so nothing is pushed for a rolled-back write). The pusher
(``monitoring.live.pusher``) coalesces those notes per room and renders, outside any
request, only the fragments that changed, once per role; each role's sockets listen
on that role's groups (``rooms.<role>``, ``wall.<role>``, ``room.<id>.<role>``), so a
socket only ever receives its own role's HTML.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string

from accounts.access import Action
from accounts.roles import ROLE_ACTIONS, ROLE_NAMES
from monitoring import metrics

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


def role_group(group: str, role: str) -> str:
    """The part of a group whose sockets see pages as ``role`` (``rooms.moderator``)."""
    return f"{group}.{role.lower()}"


def user_group(user_id: int) -> str:
    """The group of every open socket of one staff account, whatever page it is on."""
    return f"user.{int(user_id)}"


def push_interval() -> float:
    return float(
        getattr(settings, "ROOMWATCH_PUSH_INTERVAL_SECONDS", DEFAULT_PUSH_INTERVAL_SECONDS)
    )


# --- What writers call -------------------------------------------------------------


def room_changed(
    *,
    room_id: int,
    identities: Iterable[str] | None = None,
    arrivals: Iterable[str] = (),
    event_ids: Iterable[int] = (),
    media: bool = False,
) -> None:
    """After commit, have the pusher show a room's change on every open page.

    ``identities`` are the participants whose rows changed (``arrivals`` among them
    just joined), ``event_ids`` the new timeline entries, ``media`` a recording or
    ingress change. Without ``identities`` the whole room is re-rendered.
    """
    from monitoring.live import pusher

    change = pusher.RoomChange.of(
        identities=identities, arrivals=arrivals, event_ids=event_ids, media=media
    )
    loop = _request_loop()
    transaction.on_commit(lambda: pusher.pusher.request(int(room_id), change, loop=loop))


def sync_status_changed() -> None:
    """Push the "LiveKit unreachable" banner (or its removal) to every open page, after commit.

    The reconciler calls it when LiveKit goes from reachable to unreachable or back;
    the banner renders the state as it is when the push is sent.
    """
    transaction.on_commit(banner_push)


def user_sockets_close(*, user_id: int) -> None:
    """Close every open socket of an account after commit (deactivated, new role, signed out).

    Each page then reconnects: the server checks the account as it is now, so a
    deactivated or signed-out account is refused and the page says offline, and an
    account with a new role gets pushes rendered for that role.
    """
    transaction.on_commit(lambda: _user_sockets_close_now(int(user_id)))


def _user_sockets_close_now(user_id: int) -> None:
    try:
        group_send(user_group(user_id), {"type": ACCOUNT_CHANGED_MESSAGE_TYPE})
    except Exception:
        # The change itself is committed; without the channel layer the sockets stay
        # open until they next reconnect, and are checked against the account then.
        logger.exception("realtime: closing the sockets of user %s failed", user_id)


def banner_fragment() -> str:
    """The banner partial every page renders, marked for an out-of-band swap."""
    return render_to_string("monitoring/_livekit_banner.html", {"oob": True}).strip()


def banner_push() -> None:
    """Send the banner to every open page now (failures are logged, never raised)."""
    try:
        group_send(CONSOLE_GROUP, push_message(banner_fragment()))
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


def push_message(html: str) -> dict[str, Any]:
    """A group message for ``StaffConsumer.fragment_push``."""
    return {"type": PUSH_MESSAGE_TYPE, "html": html}


def by_role_send(group: str, by_role: dict[str, str]) -> None:
    """Send each role's HTML to that role's part of ``group``."""
    for role in ROLE_NAMES:
        html = by_role.get(role)
        if html:
            group_send(role_group(group, role), push_message(html))


# --- Sending -----------------------------------------------------------------------

_server_loop: asyncio.AbstractEventLoop | None = None
_private: dict[str, Any] = {}
_private_lock = threading.Lock()


def server_loop_note(loop: asyncio.AbstractEventLoop) -> None:
    """Remember the server's event loop (consumers call this when a socket opens):
    sends from other threads go through it, where the sockets' layer lives."""
    global _server_loop
    _server_loop = loop


def _request_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop when called from a sync view running under ASGI."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running() and not loop.is_closed():
        return loop
    return None


def _usable(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and loop.is_running() and not loop.is_closed()


def _private_loop() -> asyncio.AbstractEventLoop:
    """One long-lived loop in a thread of its own, so the Redis layer keeps its
    connection between sends (a new loop per send would reconnect every time)."""
    with _private_lock:
        loop = _private.get("loop")
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="push-sender", daemon=True)
            thread.start()
            _private["loop"] = loop
        return loop


def group_send(
    group: str, message: dict[str, Any], *, loop: asyncio.AbstractEventLoop | None = None
) -> None:
    """Send to a group from sync code in any thread."""
    layer = get_channel_layer()
    if layer is None:
        return
    metrics.push_sent(group)
    target = loop if _usable(loop) else _server_loop if _usable(_server_loop) else None
    if target is None and not isinstance(layer, InMemoryChannelLayer):
        target = _private_loop()
    if target is not None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not target:
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), target)
            future.result(timeout=10)
            return
    async_to_sync(layer.group_send)(group, message)


# --- For tests and commands --------------------------------------------------------


def pushes_flush() -> int:
    """Render and send every pending push now, in this thread; say how many rooms."""
    from monitoring.live import pusher

    return pusher.pusher.flush()


def pushes_reset() -> None:
    """Forget coalescing state and drop due pushes (tests start from a clean slate)."""
    from monitoring.live import pusher

    pusher.pusher.reset()


# --- The queue of cases (monitoring.queue) -----------------------------------------

QUEUE_GROUP = "queue"
# Reports can arrive by the hundred per second: the whole queue is re-rendered at most
# this often (or per push interval, when that is longer).
QUEUE_PUSH_MIN_INTERVAL_SECONDS = 1.0


def queue_changed(*, case_ids: Iterable[int] = ()) -> None:
    """After commit, push the queue (list and changed cases, per role) to the queue
    pages and the open-case count to every page. Coalesced by the pusher: at most one
    push per ``QUEUE_PUSH_MIN_INTERVAL_SECONDS`` (or push interval, when longer),
    rendered outside any request from what is committed then."""
    from monitoring.live import pusher

    ids = {int(i) for i in case_ids}
    loop = _request_loop()
    transaction.on_commit(lambda: pusher.pusher.queue_request(ids, loop=loop))


def queue_push_interval() -> float:
    return max(push_interval(), QUEUE_PUSH_MIN_INTERVAL_SECONDS)


def queue_send(*, case_ids: set[int], loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Render and send the queue's fragments now (the pusher calls it)."""
    try:
        from monitoring.queue.fragments import queue_fragments

        count_html, by_role = queue_fragments(case_ids=case_ids)
        group_send(CONSOLE_GROUP, push_message(count_html), loop=loop)
        for role, messages in by_role.items():
            for html in messages:
                group_send(role_group(QUEUE_GROUP, role), push_message(html), loop=loop)
    except Exception:
        logger.exception("realtime: queue push failed")


def queue_pushes_flush() -> bool:
    """Render and send the pending queue push now, in this thread; say whether there was one."""
    from monitoring.live import pusher

    return pusher.pusher.queue_flush()
