"""The LiveKit gateway: the only package of the console that imports ``livekit.api``.

Every function is async and keyword-only, takes its credentials from Django settings
(never from LiveKit's own ``LIVEKIT_*`` environment fallbacks) and returns the
console's own frozen dataclasses. Any failure - a Twirp error, a timeout, a refused
connection - is raised as :class:`LiveKitError`, whose message a moderator can read
and which keeps LiveKit's Twirp code and HTTP status for logs and audit rows.

Sync callers use ``asgiref.sync.async_to_sync``. One aiohttp session is kept per
event loop and closed when that loop shuts down its async generators (as
``asyncio.run`` and ``async_to_sync`` do), so calls share connections without
leaking sessions across loops.

``errors`` holds the error type and its mapping, ``types`` the dataclasses and their
converters from protobuf, ``client`` the session and the calls, ``webhooks`` the
verification of LiveKit's webhooks. Import the names from here.

(``from livekit import api`` inside this package is an absolute import: it names the
livekit-api distribution, never this package.)
"""

from __future__ import annotations

from monitoring.livekit.client import (
    close_session,
    delete_room,
    get_participant,
    list_egress,
    list_ingress,
    list_participants,
    list_rooms,
    mute_track,
    ping,
    remove_participant,
    send_data,
    stop_egress,
    update_permissions,
    update_room_metadata,
)
from monitoring.livekit.errors import LiveKitError
from monitoring.livekit.rpc import perform_rpc
from monitoring.livekit.tokens import (
    OBSERVER_ATTRIBUTE,
    OBSERVER_ATTRIBUTE_VALUE,
    OBSERVER_PREFIX,
    ObserverToken,
    observer_staff_id,
    observer_token_mint,
)
from monitoring.livekit.types import (
    ACTIVE_EGRESS_STATUSES,
    EgressInfo,
    IngressInfo,
    ParticipantInfo,
    PermissionInfo,
    RoomInfo,
    TrackInfo,
    egress_from_proto,
    ingress_from_proto,
    participant_from_proto,
    permission_from_proto,
    room_from_proto,
    track_from_proto,
)
from monitoring.livekit.webhooks import (
    WebhookEvent,
    WebhookRejected,
    webhook_parse,
    webhook_receive,
)

__all__ = [
    "ACTIVE_EGRESS_STATUSES",
    "OBSERVER_ATTRIBUTE",
    "OBSERVER_ATTRIBUTE_VALUE",
    "OBSERVER_PREFIX",
    "EgressInfo",
    "IngressInfo",
    "LiveKitError",
    "ObserverToken",
    "ParticipantInfo",
    "PermissionInfo",
    "RoomInfo",
    "TrackInfo",
    "WebhookEvent",
    "WebhookRejected",
    "close_session",
    "delete_room",
    "egress_from_proto",
    "get_participant",
    "ingress_from_proto",
    "list_egress",
    "list_ingress",
    "list_participants",
    "list_rooms",
    "mute_track",
    "observer_staff_id",
    "observer_token_mint",
    "participant_from_proto",
    "perform_rpc",
    "permission_from_proto",
    "ping",
    "remove_participant",
    "room_from_proto",
    "send_data",
    "stop_egress",
    "track_from_proto",
    "update_permissions",
    "update_room_metadata",
    "webhook_parse",
    "webhook_receive",
]
