"""Apply what LiveKit says to the mirror: the only writer of rooms, participants,
room events, egress and ingress rows.

Two sources feed it: signed webhooks (``event_apply``, one handler per event kind)
and the reconciler's snapshots of the LiveKit API (``snapshot_apply``). Webhooks
can arrive late, twice or not at all, so every handler is idempotent and refuses to
move a row backwards in time; the reconciler heals whatever the webhooks missed.

Every write happens in one transaction with the room row locked, and the pages are
told about it only once that transaction has committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from monitoring import livekit
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

# Disconnect reasons that mean "left on purpose or was sent away": anything else
# (signal closed, connection timeout, media failure, unknown...) is a drop the
# publisher may come back from within the room's departure timeout.
DELIBERATE_DISCONNECTS = frozenset(
    {
        "CLIENT_INITIATED",
        "DUPLICATE_IDENTITY",
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

EVENT_KINDS = (
    "room_started",
    "room_finished",
    "participant_joined",
    "participant_left",
    "participant_connection_aborted",
    "track_published",
    "track_unpublished",
    "egress_started",
    "egress_updated",
    "egress_ended",
    "ingress_started",
    "ingress_ended",
)
RECONCILED = "reconciled"
# How long before participant_left a track_unpublished still counts as part of it.
UNPUBLISH_BEFORE_LEAVE = timedelta(seconds=5)


# --- Derivations ------------------------------------------------------------------


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


# --- Results -----------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    """What ``event_apply`` did: ``applied``, ``duplicate`` or ``ignored``."""

    outcome: str
    room_id: int | None = None
    detail: str = ""


@dataclass
class SnapshotResult:
    rooms_seen: int = 0
    corrected_room_ids: list[int] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)


# --- Webhooks ----------------------------------------------------------------------


def event_apply(*, event: livekit.WebhookEvent, payload: dict[str, Any]) -> ApplyResult:
    """Apply one verified webhook to the mirror, at most once per event id."""
    if event.event not in EVENT_KINDS:
        return ApplyResult("ignored", detail=f"unknown event kind {event.event!r}")
    if event.id and RoomEvent.objects.filter(event_id=event.id).exists():
        return ApplyResult("duplicate", detail=f"event {event.id} was already applied")
    try:
        with transaction.atomic():
            room = _room_for_event(event)
            if room is None:
                return ApplyResult("ignored", detail="the event names no room")
            handler = _HANDLERS[event.event]
            summary, identity = handler(room=room, event=event)
            RoomEvent.objects.create(
                room=room,
                event_id=event.id or None,
                kind=event.event,
                occurred_at=event.created_at,
                participant_identity=identity[:256],
                summary=summary[:500],
                payload=payload,
            )
            room_refresh(room=room, now=timezone.now())
            _broadcast_on_commit(room.pk)
    except IntegrityError:
        # The same event id committed concurrently: that delivery won.
        if event.id and RoomEvent.objects.filter(event_id=event.id).exists():
            return ApplyResult("duplicate", detail=f"event {event.id} was already applied")
        raise
    return ApplyResult("applied", room_id=room.pk, detail=summary)


def _room_for_event(event: livekit.WebhookEvent) -> Room | None:
    """The mirror room an event is about, locked for this transaction; created from
    the event's room info when the mirror has not seen it (a missed room_started)."""
    info = event.room
    sid = info.sid if info is not None else ""
    name = info.name if info is not None else ""
    if not sid and event.egress is not None:
        sid, name = event.egress.room_id, name or event.egress.room_name
    if not name and event.ingress is not None:
        name = event.ingress.room_name
    if sid:
        room = Room.objects.select_for_update().filter(sid=sid).first()
        if room is not None:
            return room
        if info is not None and info.sid:
            return _room_create(info=info, at=event.created_at)
        return _room_create_minimal(sid=sid, name=name, at=event.created_at)
    if name:
        # Minimal room without a sid: the newest session with that name.
        room = Room.objects.select_for_update().filter(name=name).order_by("-created_at").first()
        return room
    return None


def _room_create(*, info: livekit.RoomInfo, at: datetime) -> Room:
    created_at = info.created_at or at
    _rooms_supersede(name=info.name, sid=info.sid, created_at=created_at, at=at)
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
        _room_end(room=room, at=at, reason="ROOM_CLOSED")
    return room


def _room_create_minimal(*, sid: str, name: str, at: datetime) -> Room:
    room, _ = Room.objects.get_or_create(sid=sid, defaults={"name": name, "created_at": at})
    return Room.objects.select_for_update().get(pk=room.pk)


def _rooms_supersede(*, name: str, sid: str, created_at: datetime, at: datetime) -> None:
    """A new session of a room name means older open sessions have ended (their
    room_finished was missed)."""
    older = Room.objects.select_for_update().filter(
        name=name, ended_at__isnull=True, created_at__lte=created_at
    )
    for old in older.exclude(sid=sid):
        _room_end(room=old, at=at, reason="ROOM_CLOSED")
        RoomEvent.objects.create(
            room=old,
            kind=RECONCILED,
            occurred_at=at,
            summary="Marked ended: a new session of this room started",
        )
        room_refresh(room=old, now=at)
        _broadcast_on_commit(old.pk)


def _room_end(*, room: Room, at: datetime, reason: str) -> None:
    if room.ended_at is None:
        room.ended_at = at
    room.participants.filter(left_at__isnull=True).update(
        left_at=at, state="DISCONNECTED", disconnect_reason=reason[:40] or "ROOM_CLOSED"
    )


def _on_room_started(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info = event.room
    if info is not None and room.ended_at is None:
        _room_update_fields(room=room, info=info)
    return f"Room {room.name} started", ""


def _on_room_finished(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    _room_end(room=room, at=event.created_at, reason="ROOM_CLOSED")
    return f"Room {room.name} finished", ""


def _on_participant_joined(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info = event.participant
    if info is None:
        return "Participant joined (no details)", ""
    if room.ended_at is not None:
        return f"{info.identity} joined (late: the room had already ended)", info.identity
    row = room.participants.filter(sid=info.sid).first()
    if row is not None and row.left_at is not None:
        # participant_left for this session was delivered first: it stays gone.
        return f"{info.identity} joined (late: already left)", info.identity
    newer = (
        room.participants.filter(identity=info.identity, left_at__isnull=True)
        .exclude(sid=info.sid)
        .filter(joined_at__gt=_joined_at(info, event.created_at))
        .exists()
    )
    if newer:
        # A later session of the same identity is already here: this one was replaced.
        _participant_upsert(room=room, info=info, at=event.created_at)
        room.participants.filter(sid=info.sid).update(
            left_at=event.created_at, state="DISCONNECTED", disconnect_reason="DUPLICATE_IDENTITY"
        )
        return f"{info.identity} joined (late: replaced by a newer session)", info.identity
    # The same identity joining again replaces its older session (LiveKit disconnects
    # it with DUPLICATE_IDENTITY).
    room.participants.filter(identity=info.identity, left_at__isnull=True).exclude(
        sid=info.sid
    ).update(left_at=event.created_at, state="DISCONNECTED", disconnect_reason="DUPLICATE_IDENTITY")
    _participant_upsert(room=room, info=info, at=event.created_at)
    _enforce_bans_on_commit(room=room, identity=info.identity)
    return f"{info.identity} joined" + (f" as {info.name}" if info.name else ""), info.identity


def _on_participant_left(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info = event.participant
    if info is None:
        return "Participant left (no details)", ""
    aborted = event.event == "participant_connection_aborted"
    verb = "could not connect" if aborted else "left"
    reason = info.disconnect_reason or ("CONNECTION_TIMEOUT" if aborted else "")
    row = room.participants.filter(sid=info.sid).first()
    if row is None:
        # Left before its join was delivered: store it as gone so the late join
        # cannot bring it back.
        row = _participant_upsert(room=room, info=info, at=event.created_at)
    elif row.left_at is not None:
        return f"{info.identity} {verb} (already gone)", info.identity
    elif row.joined_at and (
        _joined_at(info, row.joined_at) < row.joined_at
        or event.created_at + timedelta(seconds=1) < row.joined_at
    ):
        # Sent before this session's join (createdAt has whole-second precision).
        return f"{info.identity} {verb} (late: joined again since)", info.identity
    # LiveKit unpublishes a leaving participant's tracks just before participant_left.
    was_publishing = row.kind not in UNCOUNTED_KINDS and (
        row.is_publisher
        or RoomEvent.objects.filter(
            room=room,
            kind="track_unpublished",
            participant_identity=info.identity,
            occurred_at__gte=event.created_at - UNPUBLISH_BEFORE_LEAVE,
        ).exists()
    )
    row.left_at = event.created_at
    row.state = "DISCONNECTED"
    row.disconnect_reason = reason[:40]
    row.tracks = []
    row.is_publisher = False
    row.save(update_fields=["left_at", "state", "disconnect_reason", "tracks", "is_publisher"])
    if was_publishing and disconnect_is_abnormal(reason):
        # LiveKit's clock may run ahead of ours: never start the wait in the future.
        room.publisher_dropped_at = min(event.created_at, timezone.now())
    suffix = f" ({reason.replace('_', ' ').lower()})" if reason else ""
    return f"{info.identity} {verb}{suffix}", info.identity


def _on_track_published(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info, track = event.participant, event.track
    if info is None or track is None:
        return "Track published (no details)", ""
    label = _track_label(track)
    row = room.participants.filter(sid=info.sid).first()
    if row is None and room.ended_at is None:
        # Published before its join was delivered: the late join fills in the rest.
        row = Participant.objects.create(
            room=room,
            sid=info.sid,
            identity=info.identity,
            joined_at=event.created_at,
            role=ParticipantRole.CO_HOST,
        )
    if row is None or row.left_at is not None or room.ended_at is not None:
        return f"{info.identity} published {label} (ignored: not present)", info.identity
    unpublished = RoomEvent.objects.filter(
        room=room, kind="track_unpublished", payload__track__sid=track.sid
    ).exists()
    if unpublished:
        return f"{info.identity} published {label} (late: already unpublished)", info.identity
    tracks = [t for t in row.tracks if t.get("sid") != track.sid]
    tracks.append(_track_dict(track))
    row.tracks = tracks
    row.is_publisher = True
    row.save(update_fields=["tracks", "is_publisher"])
    return f"{info.identity} published {label}", info.identity


def _on_track_unpublished(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info, track = event.participant, event.track
    if info is None or track is None:
        return "Track unpublished (no details)", ""
    label = _track_label(track)
    row = room.participants.filter(sid=info.sid).first()
    if row is not None and row.left_at is None:
        row.tracks = [t for t in row.tracks if t.get("sid") != track.sid]
        row.is_publisher = bool(row.tracks)
        row.save(update_fields=["tracks", "is_publisher"])
        if not row.is_publisher and row.kind not in UNCOUNTED_KINDS:
            # Stopping on purpose is not a drop.
            room.publisher_dropped_at = None
    return f"{info.identity} unpublished {label}", info.identity


def _on_egress(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info = event.egress
    if info is None:
        return "Recording changed (no details)", ""
    _egress_upsert(room=room, info=info)
    status = info.status.removeprefix("EGRESS_").lower().replace("_", " ")
    text = {"egress_started": "started", "egress_updated": "updated", "egress_ended": "ended"}
    summary = f"Recording {info.egress_id} {text[event.event]} ({status})"
    if info.error:
        summary += f": {info.error}"
    return summary, ""


def _on_ingress(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info = event.ingress
    if info is None:
        return "Ingress changed (no details)", ""
    _ingress_upsert(room=room, info=info)
    verb = "started" if event.event == "ingress_started" else "ended"
    label = info.name or info.ingress_id
    return f"Ingress {label} {verb} ({info.state.lower()})", info.participant_identity


_HANDLERS = {
    "room_started": _on_room_started,
    "room_finished": _on_room_finished,
    "participant_joined": _on_participant_joined,
    "participant_left": _on_participant_left,
    "participant_connection_aborted": _on_participant_left,
    "track_published": _on_track_published,
    "track_unpublished": _on_track_unpublished,
    "egress_started": _on_egress,
    "egress_updated": _on_egress,
    "egress_ended": _on_egress,
    "ingress_started": _on_ingress,
    "ingress_ended": _on_ingress,
}


# --- Rows --------------------------------------------------------------------------


def _joined_at(info: livekit.ParticipantInfo, default: datetime) -> datetime:
    return info.joined_at or default


def _track_dict(track: livekit.TrackInfo) -> dict[str, Any]:
    return {
        "sid": track.sid,
        "type": track.type,
        "source": track.source,
        "muted": track.muted,
        "name": track.name,
    }


def _track_label(track: livekit.TrackInfo) -> str:
    source = (track.source or "").lower().replace("_", " ")
    if source and source != "unknown":
        return source
    return (track.type or "track").lower()


def _participant_upsert(
    *, room: Room, info: livekit.ParticipantInfo, at: datetime, replace_tracks: bool = False
) -> Participant:
    """Create or refresh a participant row from LiveKit's description of it.

    A webhook's participant without tracks leaves the stored tracks alone (a track
    event may have been applied first); a snapshot (``replace_tracks``) is the truth.
    """
    values: dict[str, Any] = {
        "identity": info.identity,
        "name": info.name,
        "kind": info.kind or "STANDARD",
        "state": "ACTIVE" if info.state in ("", "JOINING", "DISCONNECTED") else info.state,
        "metadata": info.metadata,
        "attributes": dict(info.attributes),
        "can_publish": info.can_publish,
        "joined_at": _joined_at(info, at),
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
        values["tracks"] = [_track_dict(t) for t in info.tracks]
        values["is_publisher"] = bool(info.tracks)
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


def _egress_upsert(*, room: Room, info: livekit.EgressInfo) -> bool:
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


def _ingress_upsert(*, room: Room, info: livekit.IngressInfo) -> bool:
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


def _room_update_fields(*, room: Room, info: livekit.RoomInfo) -> bool:
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
    return changed


def room_refresh(*, room: Room, now: datetime, save: bool = True) -> list[str]:
    """Recompute what the room row derives from its participants and recordings
    (counts, roles, host, live since, recording flag, status), save it, and say
    what changed. With ``save=False`` the row is written only if a derived value
    changed (the reconciler must not rewrite every room on every pass)."""
    present = room.participants.filter(left_at__isnull=True)
    if room.ended_at is not None:
        present = present.none()
    # Roles: every row got its order-free role when it was written; only who is host
    # among those allowed to publish depends on the others, so only they are read
    # (a room with thousands of viewers costs the same as one without).
    candidates = list(
        present.filter(role__in=[ParticipantRole.HOST, ParticipantRole.CO_HOST])
        .order_by("joined_at", "pk")
        .only("pk", "identity", "kind", "attributes", "metadata", "can_publish", "role")
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
    counts = present.exclude(kind__in=UNCOUNTED_KINDS).aggregate(
        participants=Count("pk"), publishers=Count("pk", filter=Q(is_publisher=True))
    )
    num_participants = counts["participants"]
    num_publishers = counts["publishers"]
    egresses = list(room.egresses.values_list("status", flat=True))
    active_recording = any(s in EGRESS_ACTIVE for s in egresses)
    recorded = "EGRESS_COMPLETE" in egresses
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


# --- Reconciler snapshots ----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What LiveKit reported, fetched outside any transaction."""

    taken_at: datetime
    rooms: Sequence[livekit.RoomInfo]
    participants: dict[str, Sequence[livekit.ParticipantInfo]]  # by room sid
    egresses: Sequence[livekit.EgressInfo]
    ingresses: Sequence[livekit.IngressInfo]


def snapshot_apply(*, snapshot: Snapshot) -> SnapshotResult:
    """Make the mirror equal to a LiveKit snapshot, room by room, recording each
    correction as a ``reconciled`` room event and broadcasting it on commit.

    Rows changed by webhooks after the snapshot was taken are left alone: the
    snapshot is older than they are. That is judged by the rows' ``updated_at``
    (the console's clock), never by LiveKit's timestamps, whose clock may differ.
    """
    result = SnapshotResult(rooms_seen=len(snapshot.rooms))
    taken_at = snapshot.taken_at
    seen_sids = set()
    for info in snapshot.rooms:
        seen_sids.add(info.sid)
        with transaction.atomic():
            room = Room.objects.select_for_update().filter(sid=info.sid).first()
            corrections: list[str] = []
            dirty = False
            if room is None:
                room = _room_create(info=info, at=taken_at)
                corrections.append(f"room {info.name} was missing")
            elif room.ended_at is not None and room.updated_at < taken_at:
                # Ended here, yet LiveKit still has this very session open.
                room.ended_at = None
                corrections.append("room is still open in LiveKit")
            if room.ended_at is None:
                dirty = _room_update_fields(room=room, info=info)
                corrections += _participants_reconcile(
                    room=room,
                    infos=snapshot.participants.get(info.sid, ()),
                    taken_at=taken_at,
                )
            corrections += _recordings_reconcile(room=room, snapshot=snapshot)
            _room_finish(room=room, corrections=corrections, result=result, dirty=dirty)
    # Rooms the mirror thinks are open but LiveKit no longer has.
    gone = Room.objects.filter(ended_at__isnull=True, updated_at__lt=taken_at).exclude(
        sid__in=seen_sids
    )
    for room_id in list(gone.values_list("pk", flat=True)):
        with transaction.atomic():
            room = Room.objects.select_for_update().get(pk=room_id)
            if room.ended_at is not None:
                continue
            _room_end(room=room, at=taken_at, reason="ROOM_CLOSED")
            corrections = ["room no longer exists in LiveKit: marked ended"]
            corrections += _recordings_reconcile(room=room, snapshot=snapshot)
            _room_finish(room=room, corrections=corrections, result=result)
    # Rooms whose waitingReconnect window has run out change status with no event.
    expired = Room.objects.filter(
        status=RoomStatus.WAITING_RECONNECT, ended_at__isnull=True
    ).exclude(sid__in=seen_sids)
    for room_id in list(expired.values_list("pk", flat=True)):
        with transaction.atomic():
            room = Room.objects.select_for_update().get(pk=room_id)
            _room_finish(room=room, corrections=[], result=result, dirty=False)
    return result


def _room_finish(
    *, room: Room, corrections: list[str], result: SnapshotResult, dirty: bool = True
) -> None:
    before = room.status
    changes = room_refresh(room=room, now=timezone.now(), save=dirty or bool(corrections))
    corrections = corrections + changes
    if corrections:
        RoomEvent.objects.create(
            room=room,
            kind=RECONCILED,
            occurred_at=timezone.now(),
            summary=("Corrected from LiveKit: " + "; ".join(corrections))[:500],
            payload={"corrections": corrections},
        )
        result.corrected_room_ids.append(room.pk)
        result.corrections.extend(f"{room.name}: {c}" for c in corrections)
    if corrections or room.status != before:
        _broadcast_on_commit(room.pk)


def _participants_reconcile(
    *, room: Room, infos: Iterable[livekit.ParticipantInfo], taken_at: datetime
) -> list[str]:
    corrections: list[str] = []
    rows = {p.sid: p for p in room.participants.all()}
    live_sids = set()
    for info in infos:
        live_sids.add(info.sid)
        row = rows.get(info.sid)
        if row is not None and row.left_at is not None:
            if row.updated_at >= taken_at:
                continue  # a webhook changed it after the snapshot was taken
            corrections.append(f"{info.identity} is still present")
            row.left_at = None
            row.disconnect_reason = ""
            row.save(update_fields=["left_at", "disconnect_reason"])
        if row is None:
            corrections.append(f"{info.identity} was missing")
            _enforce_bans_on_commit(room=room, identity=info.identity)
        elif _tracks_key(row.tracks) != _tracks_key([_track_dict(t) for t in info.tracks]):
            corrections.append(f"{info.identity}'s tracks differed")
        _participant_upsert(room=room, info=info, at=taken_at, replace_tracks=True)
    for sid, row in rows.items():
        if row.left_at is None and sid not in live_sids:
            if row.updated_at >= taken_at:
                continue  # a webhook changed it after the snapshot was taken
            row.left_at = taken_at
            row.state = "DISCONNECTED"
            row.tracks = []
            row.is_publisher = False
            row.save(update_fields=["left_at", "state", "tracks", "is_publisher"])
            corrections.append(f"{row.identity} is no longer in the room")
    return corrections


def _tracks_key(tracks: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    return sorted((str(t.get("sid")), bool(t.get("muted"))) for t in tracks)


def _recordings_reconcile(*, room: Room, snapshot: Snapshot) -> list[str]:
    corrections = []
    for info in snapshot.egresses:
        if info.room_id == room.sid or (not info.room_id and info.room_name == room.name):
            before = (
                Egress.objects.filter(egress_id=info.egress_id)
                .values_list("status", flat=True)
                .first()
            )
            if _egress_upsert(room=room, info=info) and before != info.status:
                corrections.append(f"recording {info.egress_id} is {info.status}")
    if room.ended_at is None:
        for info in snapshot.ingresses:
            if info.room_name == room.name and _ingress_upsert(room=room, info=info):
                corrections.append(f"ingress {info.ingress_id} is {info.state}")
    return corrections


# --- After commit ------------------------------------------------------------------


def _broadcast_on_commit(room_id: int) -> None:
    """Tell the pages about the room once the transaction commits (``room_changed``
    defers itself to ``on_commit``, so a rolled-back write pushes nothing)."""
    from monitoring import realtime

    realtime.room_changed(room_id=room_id)


def _enforce_bans_on_commit(*, room: Room, identity: str) -> None:
    """The one place a participant's arrival reaches ban enforcement (after commit:
    enforcing calls LiveKit, which must never happen inside a transaction)."""
    room_name, room_sid = room.name, room.sid

    def enforce() -> None:
        from monitoring.moderation import bans

        try:
            bans.ban_enforce_on_join(room_name=room_name, identity=identity, room_sid=room_sid)
        except Exception:
            # The mirror write has committed; the next reconciler pass retries.
            logger.exception("ban enforcement for %s in %s failed", identity, room_name)

    transaction.on_commit(enforce)
