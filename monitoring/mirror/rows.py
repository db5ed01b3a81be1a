"""The row writes both webhooks and reconciler snapshots are made of: rooms created,
superseded and ended, participants, recordings and ingresses upserted, the room's
derived values recomputed, and what is told to the pages and to ban enforcement
once the transaction commits. Callers hold the room row locked."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q

from monitoring import livekit
from monitoring.mirror.derive import (
    NOT_YET_PRESENT,
    UNCOUNTED_KINDS,
    participant_is_observer,
    participant_role_declared,
    participant_role_derive,
    room_status_derive,
)
from monitoring.models import (
    Egress,
    Ingress,
    Participant,
    ParticipantRole,
    Room,
    RoomEvent,
    RoomStatus,
)

logger = logging.getLogger(__name__)

EGRESS_ACTIVE = frozenset({"EGRESS_STARTING", "EGRESS_ACTIVE", "EGRESS_ENDING"})
EGRESS_FINAL = frozenset(
    {"EGRESS_COMPLETE", "EGRESS_FAILED", "EGRESS_ABORTED", "EGRESS_LIMIT_REACHED"}
)
EGRESS_RANK = {
    "EGRESS_STARTING": 0,
    "EGRESS_ACTIVE": 1,
    "EGRESS_ENDING": 2,
    **dict.fromkeys(EGRESS_FINAL, 3),
}

RECONCILED = "reconciled"
# Left on a room first seen through an event whose room is minimal (`{sid, name}`):
# its timeouts are LiveKit's defaults until a full room (the reconciler's ListRooms,
# a room_started) gives the real ones; ``payload.pending`` says whether that is still so.
TIMEOUTS_UNKNOWN = "timeouts_unknown"


# --- Rooms -------------------------------------------------------------------------


def room_create(*, info: livekit.RoomInfo, at: datetime) -> Room:
    created_at = info.created_at or at
    rooms_supersede(name=info.name, sid=info.sid, created_at=created_at, at=at)
    room, _ = Room.objects.get_or_create(
        sid=info.sid,
        defaults={
            "name": info.name,
            "metadata": info.metadata,
            "empty_timeout": info.empty_timeout,
            "departure_timeout": info.departure_timeout,
            "max_participants": info.max_participants,
            "created_at": created_at,
        },
    )
    room = Room.objects.select_for_update().get(pk=room.pk)
    newer = Room.objects.filter(name=info.name, created_at__gt=created_at).exclude(pk=room.pk)
    if room.ended_at is None and newer.exists():
        # A late event of a session that a newer one of the same name replaced.
        room_end(room=room, at=at, reason="ROOM_CLOSED")
        room.save(update_fields=["ended_at"])
    return room


def room_create_minimal(*, sid: str, name: str, at: datetime) -> Room:
    room, _ = Room.objects.get_or_create(sid=sid, defaults={"name": name, "created_at": at})
    return Room.objects.select_for_update().get(pk=room.pk)


def rooms_supersede(*, name: str, sid: str, created_at: datetime, at: datetime) -> None:
    """A new session of a room name means older open sessions have ended (their
    room_finished was missed)."""
    older = Room.objects.select_for_update().filter(
        name=name, ended_at__isnull=True, created_at__lte=created_at
    )
    for old in older.exclude(sid=sid):
        room_end(room=old, at=at, reason="ROOM_CLOSED")
        RoomEvent.objects.create(
            room=old,
            kind=RECONCILED,
            occurred_at=at,
            summary="Marked ended: a new session of this room started",
        )
        room_refresh(room=old, now=at)
        room_broadcast_on_commit(old.pk)


def room_end(*, room: Room, at: datetime, reason: str) -> None:
    if room.ended_at is None:
        room.ended_at = at
    room.participants.filter(left_at__isnull=True).update(
        left_at=at, state="DISCONNECTED", disconnect_reason=reason[:40] or "ROOM_CLOSED"
    )


def room_update_fields(*, room: Room, info: livekit.RoomInfo) -> bool:
    """Copy LiveKit's room settings onto the row; say whether any differed."""
    values = {
        "metadata": info.metadata,
        "empty_timeout": info.empty_timeout,
        "departure_timeout": info.departure_timeout,
        "max_participants": info.max_participants,
    }
    changed = any(getattr(room, key) != value for key, value in values.items())
    for key, value in values.items():
        setattr(room, key, value)
    room.events.filter(kind=TIMEOUTS_UNKNOWN, payload__pending=True).update(
        payload={"pending": False}
    )
    return changed


def room_timeouts_unknown(*, room: Room) -> bool:
    """Whether the room's timeouts are still defaults no full room info has confirmed."""
    return room.events.filter(kind=TIMEOUTS_UNKNOWN, payload__pending=True).exists()


def room_refresh(*, room: Room, now: datetime, save: bool = True) -> list[str]:
    """Recompute what the room row derives from its participants and recordings
    (counts, roles, host, live since, recording flag, status), save it, and say
    what changed. With ``save=False`` the row is written only if a derived value
    changed (the reconciler must not rewrite every room on every pass)."""
    # The console's own observers count in LiveKit's num_participants; never here.
    present = room.participants.filter(left_at__isnull=True, is_observer=False)
    if room.ended_at is not None:
        present = present.none()
    # Roles: every row got its order-free role when it was written; only who is host
    # among those allowed to publish depends on the others, so only they are read
    # (a room with thousands of viewers costs the same as one without).
    candidates = list(
        present.filter(role__in=[ParticipantRole.HOST, ParticipantRole.CO_HOST])
        .order_by("joined_at", "pk")
        .only("pk", "room", "identity", "kind", "attributes", "metadata", "can_publish", "role")
    )
    declared = {
        p.pk: participant_role_declared(attributes=p.attributes, metadata=p.metadata)
        for p in candidates
    }
    first_publisher_taken = ParticipantRole.HOST in declared.values()
    host_identity = ""
    for p in candidates:
        role = participant_role_derive(
            kind=p.kind,
            attributes=p.attributes,
            metadata=p.metadata,
            can_publish=p.can_publish,
            first_publisher=not first_publisher_taken,
        )
        if role == ParticipantRole.HOST:
            first_publisher_taken = True
            host_identity = host_identity or p.identity
        if role != p.role:
            Participant.objects.filter(pk=p.pk).update(role=role)
    counted = present.exclude(kind__in=UNCOUNTED_KINDS).exclude(state__in=NOT_YET_PRESENT)
    counts = counted.aggregate(
        participants=Count("pk"), publishers=Count("pk", filter=Q(is_publisher=True))
    )
    num_participants = counts["participants"]
    num_publishers = counts["publishers"]
    egresses = list(room.egresses.values_list("status", flat=True))
    active_recording = any(s in EGRESS_ACTIVE for s in egresses)
    # "recorded" once a recording finished and none is still running or finishing:
    # a room that just ended while its recording is still being written is "ended".
    recorded = "EGRESS_COMPLETE" in egresses and not active_recording
    dirty = False
    if num_publishers and room.publisher_dropped_at is not None:
        room.publisher_dropped_at = None
        dirty = True
    status = room_status_derive(
        ended=room.ended_at is not None,
        recorded=recorded,
        num_publishers=num_publishers,
        publisher_dropped_at=room.publisher_dropped_at,
        departure_timeout=room.departure_timeout,
        now=now,
    )
    live_since = room.live_since
    if status == RoomStatus.LIVE and live_since is None:
        live_since = now
    elif status == RoomStatus.IDLE:
        live_since = None
    new = {
        "num_participants": num_participants,
        "num_publishers": num_publishers,
        "host_identity": host_identity,
        "active_recording": active_recording and room.ended_at is None,
        "status": status,
        "live_since": live_since,
    }
    changes = [
        f"{key.replace('_', ' ')} {getattr(room, key)!s} -> {value!s}"
        for key, value in new.items()
        if key not in ("live_since", "host_identity") and getattr(room, key) != value
    ]
    dirty = dirty or any(getattr(room, key) != value for key, value in new.items())
    for key, value in new.items():
        setattr(room, key, value)
    if save or dirty:
        room.save()
    return changes


# --- Participants, recordings, ingresses -------------------------------------------


def participant_joined_at(info: livekit.ParticipantInfo, default: datetime) -> datetime:
    return info.joined_at or default


def participant_state_stored(state: str, *, from_snapshot: bool) -> str:
    """The state a row keeps: a snapshot's JOINING/JOINED as they are (shown as
    joining, left out of the counts); a webhook's participant is ACTIVE (LiveKit sends
    participant_joined at ACTIVE; track events' minimal participants have no state)
    or leaving, which the leave applier records itself."""
    if state in NOT_YET_PRESENT and from_snapshot:
        return state
    return "ACTIVE" if state in ("", "DISCONNECTED", *NOT_YET_PRESENT) else state


def participant_upsert(
    *,
    room: Room,
    info: livekit.ParticipantInfo,
    at: datetime,
    replace_tracks: bool = False,
    existing: Participant | None = None,
    looked_up: bool = False,
) -> Participant:
    """Create or refresh a participant row from LiveKit's description of it.

    A caller that already read the session's row passes it as ``existing`` (or
    ``looked_up=True`` when there is none), saving the lookup.

    A webhook's participant without tracks leaves the stored tracks alone (a track
    event may have been applied first); a snapshot (``replace_tracks``) is the truth.
    """
    values: dict[str, Any] = {
        "identity": info.identity,
        "name": info.name,
        "kind": info.kind or "STANDARD",
        "state": participant_state_stored(info.state, from_snapshot=replace_tracks),
        "metadata": info.metadata,
        "attributes": dict(info.attributes),
        "can_publish": info.can_publish,
        "is_observer": participant_is_observer(
            identity=info.identity,
            attributes=dict(info.attributes),
            hidden=info.permission.hidden if info.permission is not None else None,
        ),
        "joined_at": participant_joined_at(info, at),
        # Host or co-host is settled by room_refresh, which knows who came first.
        "role": participant_role_derive(
            kind=info.kind or "STANDARD",
            attributes=dict(info.attributes),
            metadata=info.metadata,
            can_publish=info.can_publish,
            first_publisher=False,
        ),
    }
    if info.tracks or replace_tracks:
        values["tracks"] = [t.as_json() for t in info.tracks]
        values["is_publisher"] = bool(info.tracks)
    if existing is not None:
        row, created = existing, False
    elif looked_up:
        row, created = Participant.objects.create(room=room, sid=info.sid, **values), True
    else:
        # The caller holds the room's row lock, so nobody inserts this session meanwhile.
        row, created = Participant.objects.get_or_create(room=room, sid=info.sid, defaults=values)
    if not created:
        if values["role"] == ParticipantRole.CO_HOST and row.role == ParticipantRole.HOST:
            values["role"] = row.role  # who is host is room_refresh's to settle
        changed = [key for key, value in values.items() if getattr(row, key) != value]
        for key in changed:
            setattr(row, key, values[key])
        if changed:
            # Only real changes are written (and move updated_at): the reconciler
            # visits every participant on every pass.
            row.save(update_fields=[*changed, "updated_at"])
    return row


def egress_upsert(*, room: Room, info: livekit.EgressInfo) -> bool:
    """Store an egress's state; a late, older state never overwrites a newer one."""
    row = Egress.objects.filter(egress_id=info.egress_id).first()
    values = {
        "room": room,
        "status": info.status,
        "started_at": info.started_at,
        "ended_at": info.ended_at,
        "error": info.error,
        "details": {"kind": info.kind, "details": info.details},
    }
    if row is None:
        Egress.objects.create(egress_id=info.egress_id, **values)
        return True
    if EGRESS_RANK.get(info.status, 0) < EGRESS_RANK.get(row.status, 0):
        return False
    # Empty values (a minimal event) never erase what an earlier one told us.
    changed = [
        key
        for key, value in values.items()
        if key != "room" and (value or key == "status") and getattr(row, key) != value
    ]
    for key in changed:
        setattr(row, key, values[key])
    if changed:
        row.save(update_fields=changed)
    return bool(changed)


def ingress_upsert(*, room: Room, info: livekit.IngressInfo) -> bool:
    row = Ingress.objects.filter(ingress_id=info.ingress_id).first()
    values = {
        "room": room,
        "name": info.name,
        "input_type": info.input_type,
        "state": info.state,
        "participant_identity": info.participant_identity,
    }
    if row is None:
        Ingress.objects.create(ingress_id=info.ingress_id, **values)
        return True
    changed = any(getattr(row, k) != v for k, v in values.items())
    if changed:
        for key, value in values.items():
            setattr(row, key, value)
        row.save()
    return changed


# --- After commit ------------------------------------------------------------------


def room_broadcast_on_commit(
    room_id: int,
    *,
    identities: Iterable[str] | None = None,
    arrivals: Iterable[str] = (),
    event_ids: Iterable[int] = (),
    media: bool = False,
) -> None:
    """Tell the pages about the room once the transaction commits (``room_changed``
    defers itself to ``on_commit``, so a rolled-back write pushes nothing). Without
    ``identities`` the whole room is re-rendered."""
    from monitoring import realtime

    realtime.room_changed(
        room_id=room_id,
        identities=identities,
        arrivals=arrivals,
        event_ids=event_ids,
        media=media,
    )


@dataclass(frozen=True)
class Arrival:
    room_name: str
    room_sid: str
    identity: str


# While an applier batch runs (``arrivals_collected``), arrivals are gathered here and
# enforced together after its commit, with one lookup for the whole batch.
_collecting = threading.local()


def bans_enforce_on_commit(*, room: Room, identity: str) -> None:
    """The one place a participant's arrival reaches ban enforcement, then the
    reapplying of its restrictions (after commit: enforcing calls LiveKit, which must
    never happen inside a transaction)."""
    if livekit.observer_staff_id(identity) is not None:
        return  # the console's own observers are never removed or restricted
    arrival = Arrival(room_name=room.name, room_sid=room.sid, identity=identity)
    batch = getattr(_collecting, "batch", None)
    # Dropped with the event if its savepoint rolls back, like any on_commit.
    if batch is not None:
        transaction.on_commit(lambda: batch.add(arrival))
    else:
        transaction.on_commit(lambda: arrivals_enforce([arrival]))


class _Arrivals(list[Arrival]):
    """An applier batch's arrivals; one committed after the batch was handed on (an
    outer transaction committed later) is enforced on its own."""

    closed = False

    def add(self, arrival: Arrival) -> None:
        if self.closed:
            arrivals_enforce([arrival])
        else:
            self.append(arrival)


@contextmanager
def arrivals_collected() -> Iterator[list[Arrival]]:
    """Gather the arrivals of the transactions run inside (the applier's batch); the
    caller passes them to ``arrivals_enforce`` once they have committed."""
    batch = _Arrivals()
    _collecting.batch = batch
    try:
        yield batch
    finally:
        _collecting.batch = None
        batch.closed = True


def arrivals_enforce(arrivals: list[Arrival]) -> None:
    """Remove banned arrivals again and reapply restrictions, after commit. One query
    finds which arrivals have a ban or restriction at all; only those go further."""
    from monitoring.models import Ban, Restriction
    from monitoring.moderation import bans, restrictions

    if not arrivals:
        return
    identities = {a.identity for a in arrivals}
    try:
        concerned = set(
            Ban.objects.active().filter(identity__in=identities).values_list("identity", flat=True)
        ) | set(
            Restriction.objects.active()
            .filter(identity__in=identities)
            .values_list("identity", flat=True)
        )
    except Exception:
        logger.exception("ban enforcement could not look up %d arrival(s)", len(arrivals))
        return  # the mirror write has committed; the next reconciler pass retries
    for arrival in arrivals:
        if arrival.identity not in concerned:
            continue
        try:
            removal = bans.ban_enforce_on_join(
                room_name=arrival.room_name, identity=arrival.identity, room_sid=arrival.room_sid
            )
            if removal is None:  # a banned identity is gone; nothing left to restrict
                restrictions.restrictions_enforce_on_join(
                    room_name=arrival.room_name,
                    identity=arrival.identity,
                    room_sid=arrival.room_sid,
                )
        except Exception:
            # The mirror write has committed; the next reconciler pass retries.
            logger.exception(
                "ban enforcement for %s in %s failed", arrival.identity, arrival.room_name
            )
