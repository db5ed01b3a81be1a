"""The LiveKit gateway: the only module that talks to LiveKit (through livekit-api)."""

from __future__ import annotations

from django.conf import settings
from livekit import api


class LiveKitError(Exception):
    """A LiveKit call failed; ``code`` is the Twirp code, ``status`` the HTTP status."""

    def __init__(self, message: str, *, code: str = "unavailable", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


async def ping() -> None:
    """Raise ``LiveKitError`` unless LiveKit answers an authenticated ListRooms."""
    async with api.LiveKitAPI(
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET
    ) as lk:
        try:
            await lk.room.list_rooms(api.ListRoomsRequest())
        except api.TwirpError as exc:
            raise LiveKitError(exc.message, code=exc.code, status=exc.status) from exc
        except Exception as exc:
            raise LiveKitError(f"LiveKit cannot be reached: {exc}") from exc
