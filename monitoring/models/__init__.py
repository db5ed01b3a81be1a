from monitoring.models.moderation import (
    ApiKey,
    AuditEntry,
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
    "ApiKey",
    "AuditEntry",
    "AuditOutcome",
    "Ban",
    "BanScope",
    "Egress",
    "Ingress",
    "Participant",
    "ParticipantRole",
    "Room",
    "RoomEvent",
    "RoomStatus",
    "SyncState",
]
