from monitoring.models.inbox import InboxEvent
from monitoring.models.moderation import (
    ActionRequest,
    ApiKey,
    AuditEntry,
    AuditLogIsAppendOnly,
    AuditOutcome,
    Ban,
    BanScope,
)
from monitoring.models.rooms import (
    Egress,
    Ingress,
    Participant,
    ParticipantRole,
    Room,
    RoomEvent,
    RoomStatus,
    SyncState,
)

__all__ = [
    "ActionRequest",
    "ApiKey",
    "AuditEntry",
    "AuditLogIsAppendOnly",
    "AuditOutcome",
    "Ban",
    "BanScope",
    "Egress",
    "InboxEvent",
    "Ingress",
    "Participant",
    "ParticipantRole",
    "Room",
    "RoomEvent",
    "RoomStatus",
    "SyncState",
]
