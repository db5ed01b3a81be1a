from monitoring.models.cases import AlertSettings, Case, CaseState, Report, ReportSource
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
from monitoring.models.observers import Evidence
from monitoring.models.reconciler import ReconcilePass, WatchedRoom
from monitoring.models.restrictions import (
    ApplicationStatus,
    Restriction,
    RestrictionApplication,
    RestrictionKind,
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
    "AlertSettings",
    "ApiKey",
    "ApplicationStatus",
    "AuditEntry",
    "AuditLogIsAppendOnly",
    "AuditOutcome",
    "Ban",
    "BanScope",
    "Case",
    "CaseState",
    "Egress",
    "Evidence",
    "InboxEvent",
    "Ingress",
    "Participant",
    "ParticipantRole",
    "ReconcilePass",
    "Report",
    "ReportSource",
    "Restriction",
    "RestrictionApplication",
    "RestrictionKind",
    "Room",
    "RoomEvent",
    "RoomStatus",
    "SyncState",
    "WatchedRoom",
]
