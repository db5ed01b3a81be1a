"""What the mirror derives rather than stores as told: a participant's role and a
room's status. Pure functions of their arguments (and the role-key setting)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from monitoring.models import ParticipantRole, RoomStatus

# Disconnect reasons that mean "left on purpose or was sent away": anything else
# (signal closed, connection timeout, media failure, unknown...) is a drop the
# publisher may come back from within the room's departure timeout.
DELIBERATE_DISCONNECTS = frozenset(
    {
        "CLIENT_INITIATED",
        "DUPLICATE_IDENTITY",
        # Moved to another node of a multi-node deployment: not a network loss.
        "MIGRATION",
        "PARTICIPANT_REMOVED",
        "ROOM_DELETED",
        "ROOM_CLOSED",
        "SERVER_SHUTDOWN",
        "USER_REJECTED",
        "USER_UNAVAILABLE",
    }
)

# Participants LiveKit leaves out of a room's counts.
UNCOUNTED_KINDS = frozenset({"AGENT", "EGRESS"})
# States of a participant whose media has not connected yet (participant_joined fires
# at ACTIVE): shown as joining, not counted as present.
NOT_YET_PRESENT = frozenset({"JOINING", "JOINED"})
KIND_ROLES = {
    "INGRESS": ParticipantRole.INGRESS,
    "EGRESS": ParticipantRole.EGRESS,
    "AGENT": ParticipantRole.AGENT,
    "SIP": ParticipantRole.SIP,
}
ROLE_SPELLINGS = {
    "host": ParticipantRole.HOST,
    "owner": ParticipantRole.HOST,
    "co-host": ParticipantRole.CO_HOST,
    "cohost": ParticipantRole.CO_HOST,
    "co_host": ParticipantRole.CO_HOST,
    "viewer": ParticipantRole.VIEWER,
    "audience": ParticipantRole.VIEWER,
}


def participant_role_derive(
    *,
    kind: str,
    attributes: dict[str, str],
    metadata: str,
    can_publish: bool,
    first_publisher: bool,
) -> str:
    """A participant's role, from the most to the least explicit source.

    1. Its kind: ingress, egress, agent and SIP participants are shown as such.
    2. The platform's own word: the attribute ``settings.ROOMWATCH_ROLE_KEY``, else
       the same key in the metadata when the metadata is a JSON object.
    3. Publish permission: the first participant allowed to publish is the host,
       later ones are co-hosts, and those who cannot publish are viewers.
    """
    if kind in KIND_ROLES:
        return KIND_ROLES[kind]
    explicit = participant_role_declared(attributes=attributes, metadata=metadata)
    if explicit:
        return explicit
    if not can_publish:
        return ParticipantRole.VIEWER
    return ParticipantRole.HOST if first_publisher else ParticipantRole.CO_HOST


def participant_is_observer(
    *, identity: str, attributes: dict[str, str], hidden: bool | None = None
) -> bool:
    """One of the console's own preview viewers: an identity of the observer form,
    the console's attribute, and (when LiveKit says) the hidden grant. Platforms must
    not issue identities starting with ``roomwatch-observer-``."""
    from monitoring.livekit import OBSERVER_ATTRIBUTE, OBSERVER_ATTRIBUTE_VALUE, observer_staff_id

    return (
        observer_staff_id(identity) is not None
        and (attributes or {}).get(OBSERVER_ATTRIBUTE) == OBSERVER_ATTRIBUTE_VALUE
        and hidden is not False
    )


def participant_role_declared(*, attributes: dict[str, str], metadata: str) -> str:
    """The role the platform declared in an attribute or the metadata, or ""."""
    key = settings.ROOMWATCH_ROLE_KEY
    value: Any = (attributes or {}).get(key)
    if not value and metadata:
        try:
            decoded = json.loads(metadata)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            value = decoded.get(key)
    if isinstance(value, str):
        return ROLE_SPELLINGS.get(value.strip().lower(), "")
    return ""


def room_status_derive(
    *,
    ended: bool,
    recorded: bool,
    num_publishers: int,
    publisher_dropped_at: datetime | None,
    departure_timeout: int,
    now: datetime,
) -> str:
    """``live`` while someone publishes; ``waitingReconnect`` for the departure
    timeout after the last publisher dropped abnormally; ``idle`` otherwise; and
    ``ended`` / ``recorded`` (a recording finished) once LiveKit closed the room."""
    if ended:
        return RoomStatus.RECORDED if recorded else RoomStatus.ENDED
    if num_publishers > 0:
        return RoomStatus.LIVE
    if publisher_dropped_at is not None and now < publisher_dropped_at + timedelta(
        seconds=max(departure_timeout, 1)
    ):
        return RoomStatus.WAITING_RECONNECT
    return RoomStatus.IDLE


def disconnect_is_abnormal(reason: str) -> bool:
    return bool(reason) and reason not in DELIBERATE_DISCONNECTS
