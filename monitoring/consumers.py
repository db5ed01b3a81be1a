"""Websocket consumers: thin; they check access, join groups and forward pushes."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.access import Action, can
from monitoring import realtime


class StaffConsumer(AsyncWebsocketConsumer):
    """Accepts only signed-in staff allowed to view the console."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed = await _can_view(user)
        if not allowed:
            await self.close(code=4403)
            return
        for group in self.group_names():
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)
        await self.accept()

    def group_names(self) -> list[str]:
        return []

    async def fragment_push(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])


class RoomsConsumer(StaffConsumer):
    def group_names(self) -> list[str]:
        return [realtime.ROOMS_GROUP]


async def _can_view(user: Any) -> bool:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(can)(user, Action.VIEW)
