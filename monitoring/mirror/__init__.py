"""Apply what LiveKit says to the mirror: the only writer of rooms, participants,
room events, egress and ingress rows.

Two sources feed it: signed webhooks (``event_apply``, one applier per event kind, in
``events``) and the reconciler's snapshots of the LiveKit API (``snapshot_apply``, in
``snapshot``). Webhooks can arrive late, twice or not at all, so every applier is
idempotent and refuses to move a row backwards in time; the reconciler heals whatever
the webhooks missed. Both are made of the row writes in ``rows``; what the mirror
derives (roles, room status) lives in ``derive``.

Every write happens in one transaction with the room row locked, and the pages are
told about it only once that transaction has committed.
"""

from __future__ import annotations

from monitoring.mirror.derive import (
    DELIBERATE_DISCONNECTS,
    KIND_ROLES,
    ROLE_SPELLINGS,
    UNCOUNTED_KINDS,
    disconnect_is_abnormal,
    participant_role_declared,
    participant_role_derive,
    room_status_derive,
)
from monitoring.mirror.events import (
    EVENT_KINDS,
    UNPUBLISH_BEFORE_LEAVE,
    ApplyResult,
    event_apply,
)
from monitoring.mirror.rows import (
    EGRESS_ACTIVE,
    EGRESS_FINAL,
    EGRESS_RANK,
    RECONCILED,
    Arrival,
    arrivals_collected,
    arrivals_enforce,
    room_refresh,
)
from monitoring.mirror.snapshot import Snapshot, SnapshotResult, snapshot_apply

__all__ = [
    "DELIBERATE_DISCONNECTS",
    "EGRESS_ACTIVE",
    "EGRESS_FINAL",
    "EGRESS_RANK",
    "EVENT_KINDS",
    "KIND_ROLES",
    "RECONCILED",
    "ROLE_SPELLINGS",
    "UNCOUNTED_KINDS",
    "UNPUBLISH_BEFORE_LEAVE",
    "ApplyResult",
    "Arrival",
    "Snapshot",
    "SnapshotResult",
    "arrivals_collected",
    "arrivals_enforce",
    "disconnect_is_abnormal",
    "event_apply",
    "participant_role_declared",
    "participant_role_derive",
    "room_refresh",
    "room_status_derive",
    "snapshot_apply",
]
