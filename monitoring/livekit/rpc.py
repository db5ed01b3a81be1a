"""Server-initiated RPC to one participant's app (RoomService.PerformRpc).

livekit-api 1.2 ships the protocol messages (``PerformRpcRequest`` /
``PerformRpcResponse`` in livekit-protocol, and ``PerformRpc`` in the RoomService
descriptor) but no ``RoomService.perform_rpc`` method, so a small subclass adds it
the way livekit-api's own methods are written: the same Twirp client, a token with
``roomAdmin`` for the room.

LiveKit delivers the request to the participant's app and waits for its answer up to
``response_timeout_ms``; an app that never answers makes the call fail. A data
message could not carry the answer back: LiveKit hands participants' data messages
only to other connected participants, never to a server API.
"""

from __future__ import annotations

from django.conf import settings
from livekit import api
from livekit.api.room_service import RoomService
from livekit.protocol.room import PerformRpcRequest, PerformRpcResponse

from monitoring.livekit.client import _call, _session
from monitoring.livekit.errors import NO_PARTICIPANT

# Time LiveKit's call takes beyond the app's own answer time (routing, the response).
_RPC_MARGIN_SECONDS = 5.0


class _RoomServiceWithRpc(RoomService):
    async def perform_rpc(self, request: PerformRpcRequest) -> PerformRpcResponse:
        return await self._client.request(
            "RoomService",
            "PerformRpc",
            request,
            self._auth_header(api.VideoGrants(room_admin=True, room=request.room)),
            PerformRpcResponse,
        )


async def perform_rpc(
    *, room: str, identity: str, method: str, payload: str, response_timeout: float
) -> str:
    """Call ``method`` in ``identity``'s app with ``payload``; return the app's answer.

    Raises ``LiveKitError`` when LiveKit or the app does not answer in time (a timeout:
    ``is_timeout``), when the participant is not there, or when the app answered with
    an error.
    """
    request = PerformRpcRequest(
        room=room,
        destination_identity=identity,
        method=method,
        payload=payload,
        response_timeout_ms=int(response_timeout * 1000),
    )

    async def call(_: api.LiveKitAPI) -> PerformRpcResponse:
        # The same URL, credentials and per-loop session as every other call.
        service = _RoomServiceWithRpc(
            await _session(),
            settings.LIVEKIT_URL,
            settings.LIVEKIT_API_KEY,
            settings.LIVEKIT_API_SECRET,
        )
        return await service.perform_rpc(request)

    response = await _call(
        call, not_found=NO_PARTICIPANT, timeout=response_timeout + _RPC_MARGIN_SECONDS
    )
    return response.payload
