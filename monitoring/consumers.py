"""Websocket consumers: thin; they check access, join groups and forward pushes."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.auth import AuthMiddleware, get_user
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth import get_user_model

from accounts.access import Action, can
from accounts.roles import SUPPORT, role_of
from monitoring import metrics, realtime
from monitoring.asyncdb import db_call
from monitoring.live import watch

# Close code for a refused socket: htmx does not reconnect on 4xxx codes.
CLOSE_FORBIDDEN = 4403
# Close code when the account changed: the page reconnects on it on purpose
# (static/js/roomwatch.js), and the reconnect is checked against the account as it is
# now. An application code: the websocket server refuses 1012 ("service restart").
CLOSE_RECONNECT = 4012


class StaffConsumer(AsyncWebsocketConsumer):
    """Accepts only signed-in staff allowed to view the console."""

    role: str = SUPPORT

    async def connect(self) -> None:
        user = self.scope.get("user")
        user_id = getattr(user, "pk", None)
        if user_id is not None:
            # Joined before the access check, so an account change committed after the
            # check still reaches this socket and closes it.
            await self._join(realtime.user_group(user_id))
        role = await _viewer_role(user)
        if role is None:
            for group in self.groups:
                await self.channel_layer.group_discard(group, self.channel_name)
            self.groups.clear()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.role = role
        realtime.server_loop_note(asyncio.get_running_loop())
        # Each role listens on its own part of a group: it never receives another
        # role's HTML.
        groups = [realtime.role_group(group, role) for group in self.group_names()]
        for group in [realtime.CONSOLE_GROUP, *groups]:
            await self._join(group)
        await self.admitted()
        await self.accept()
        self.counted_page = type(self).__name__.lower().removesuffix("consumer")
        metrics.socket_opened(self.counted_page)
        # A page that opens (or reopens, after a reconnect) its socket may show a
        # banner that is out of date: the first message brings it up to date.
        await self.send(text_data=await db_call(realtime.banner_fragment)())

    def group_names(self) -> list[str]:
        return []

    async def admitted(self) -> None:
        """The socket passed the access check and is about to be accepted."""

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if getattr(self, "counted_page", None):
            metrics.socket_closed(self.counted_page)
            self.counted_page = None
        await super().websocket_disconnect(message)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        # Channels leaves every group in ``self.groups`` when the socket disconnects.
        self.groups.append(group)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Pages only listen; anything a client sends is ignored."""

    async def account_changed(self, event: dict[str, Any]) -> None:
        """The account was deactivated, changed role or signed out: let the page reconnect."""
        await self.close(code=CLOSE_RECONNECT)

    async def fragment_push(self, event: dict[str, Any]) -> None:
        html = event.get("html")
        if html:
            await self.send(text_data=html)


class RoomsConsumer(StaffConsumer):
    def group_names(self) -> list[str]:
        return [realtime.ROOMS_GROUP]


class WallConsumer(StaffConsumer):
    def group_names(self) -> list[str]:
        return [realtime.WALL_GROUP]

    async def admitted(self) -> None:
        # While the wall is open its rooms are polled.
        self.watch = await watch.watch_begin(channel_name=self.channel_name, wall=True)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "watch"):
            await watch.watch_end(channel_name=self.channel_name, task=self.watch)


class QueueConsumer(StaffConsumer):
    """The queue page and the case pages: the list and each case's status, per role."""

    def group_names(self) -> list[str]:
        return [realtime.QUEUE_GROUP]


class RoomConsumer(StaffConsumer):
    def group_names(self) -> list[str]:
        return [realtime.room_group(self.scope["url_route"]["kwargs"]["room_id"])]

    async def admitted(self) -> None:
        # While the page is open its room is polled.
        self.watch = await watch.watch_begin(
            channel_name=self.channel_name,
            room_id=int(self.scope["url_route"]["kwargs"]["room_id"]),
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "watch"):
            await watch.watch_end(channel_name=self.channel_name, task=self.watch)


class _StaffAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope: Any) -> None:
        scope["user"]._wrapped = await db_call(get_user.func)(scope)


def staff_auth_stack(inner: Any) -> Any:
    """Channels' ``AuthMiddlewareStack``, resolving the session's user off the single
    thread-sensitive thread (``monitoring.asyncdb.db_call``)."""
    return CookieMiddleware(SessionMiddleware(_StaffAuthMiddleware(inner)))


@db_call
def _viewer_role(user: Any) -> str | None:
    """The role whose pushed fragments this user gets, or ``None`` to refuse the socket."""
    if getattr(user, "is_authenticated", False):
        # The account as it is now: the scope's copy was read before the socket joined
        # its account's group, and a change committed in between must not be missed.
        user = get_user_model().objects.filter(pk=user.pk).first()
    if not can(user, Action.VIEW):
        return None
    # Staff with the view permission but no role group see the least-privileged variant.
    return role_of(user) or SUPPORT
