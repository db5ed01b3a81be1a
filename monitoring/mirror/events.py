"""Signed webhooks applied to the mirror: ``event_apply`` and one applier per event
kind. Webhooks can arrive late, twice or not at all, so every applier is idempotent
and refuses to move a row backwards in time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from monitoring import livekit
from monitoring.mirror.derive import UNCOUNTED_KINDS, disconnect_is_abnormal
from monitoring.mirror.rows import (
    TIMEOUTS_UNKNOWN,
    bans_enforce_on_commit,
    egress_upsert,
    ingress_upsert,
    participant_joined_at,
    participant_upsert,
    room_broadcast_on_commit,
    room_create,
    room_create_minimal,
    room_end,
    room_refresh,
    room_update_fields,
)
from monitoring.models import Participant, ParticipantRole, Room, RoomEvent
from monitoring.moderation import observers

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
# Events after which a participant's row is new on the page (appended, not replaced).
ARRIVALS = frozenset({"participant_joined"})
# Events that change the room's recordings or ingress list.
MEDIA_EVENTS = frozenset(
    {"egress_started", "egress_updated", "egress_ended", "ingress_started", "ingress_ended"}
)
# How long before participant_left a track_unpublished still counts as part of it.
UNPUBLISH_BEFORE_LEAVE = timedelta(seconds=5)
# createdAt has whole-second precision, and a session's last events (ingress_ended)
# can be stamped just after its room_finished.
SESSION_TIME_SLACK = timedelta(seconds=2)
# What a new LiveKit room gets when CreateRoom leaves them zero (shared/LIVEKIT.md).
LIVEKIT_DEFAULT_EMPTY_TIMEOUT = 300
LIVEKIT_DEFAULT_DEPARTURE_TIMEOUT = 20


@dataclass(frozen=True)
class ApplyResult:
    """What ``event_apply`` did: ``applied``, ``duplicate`` or ``ignored``."""

    outcome: str
    room_id: int | None = None
    detail: str = ""


def event_apply(
    *, event: livekit.WebhookEvent, payload: dict[str, Any], refresh: bool = True
) -> ApplyResult:
    """Apply one verified webhook to the mirror, at most once per event id.

    With ``refresh=False`` the room's derived values (counts, roles, status) are left
    for the caller to recompute once with ``room_refresh`` after a batch of events.
    """
    if event.event not in EVENT_KINDS:
        return ApplyResult("ignored", detail=f"unknown event kind {event.event!r}")
    if event.id and RoomEvent.objects.filter(event_id=event.id).exists():
        return ApplyResult("duplicate", detail=f"event {event.id} was already applied")
    try:
        with transaction.atomic():
            room = _room_for_event(event)
            if room is None:
                return ApplyResult("ignored", detail=_no_room_detail(event))
            handler = _HANDLERS[event.event]
            before = _room_state(room)
            summary, identity = handler(room=room, event=event)
            observers.watch_audit_on_apply(room=room, event=event)
            entry = RoomEvent.objects.create(
                room=room,
                event_id=event.id or None,
                kind=event.event,
                occurred_at=event.created_at,
                participant_identity=identity[:256],
                summary=summary[:500],
                payload=payload,
            )
            if refresh:
                room_refresh(room=room, now=timezone.now())
            elif _room_state(room) != before:
                room.save()  # what the handler set on the room; the rest is derived later
            # room_finished ends every session at once: the whole page changes.
            changed = None if event.event == "room_finished" else [identity] if identity else []
            room_broadcast_on_commit(
                room.pk,
                identities=changed,
                arrivals=[identity] if identity and event.event in ARRIVALS else [],
                event_ids=[entry.pk],
                media=event.event in MEDIA_EVENTS,
            )
    except IntegrityError:
        # The same event id committed concurrently: that delivery won.
        if event.id and RoomEvent.objects.filter(event_id=event.id).exists():
            return ApplyResult("duplicate", detail=f"event {event.id} was already applied")
        raise
    return ApplyResult("applied", room_id=room.pk, detail=summary)


def _room_state(room: Room) -> tuple[Any, ...]:
    """Every stored field of the room, to tell whether a handler changed any."""
    return tuple(getattr(room, field.attname) for field in Room._meta.concrete_fields)


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
        if info is not None and info.sid and info.created_at is not None:
            return room_create(info=info, at=event.created_at)
        if info is not None and info.sid:
            # A minimal room (track events: only sid and name): never take its zero
            # timeouts; keep LiveKit's defaults until the reconciler reads the real ones.
            room = room_create(
                info=replace(
                    info,
                    empty_timeout=info.empty_timeout or LIVEKIT_DEFAULT_EMPTY_TIMEOUT,
                    departure_timeout=info.departure_timeout or LIVEKIT_DEFAULT_DEPARTURE_TIMEOUT,
                ),
                at=event.created_at,
            )
        else:
            room = room_create_minimal(sid=sid, name=name, at=event.created_at)
        if room.events.exists():
            return room  # created concurrently and already marked
        RoomEvent.objects.create(
            room=room,
            kind=TIMEOUTS_UNKNOWN,
            occurred_at=event.created_at,
            summary="First seen through a "
            + event.event.replace("_", " ")
            + ": timeouts are LiveKit's defaults until the next reconciliation reads them",
            payload={"pending": True},
        )
        return room
    if name:
        # Ingress events name the room and carry no sid: the session of that name
        # that was open at the event's time.
        return _session_at(name=name, at=event.created_at)
    return None


def _session_at(*, name: str, at: datetime) -> Room | None:
    """The session of room ``name`` open at ``at`` (the newest created by then), else
    an open one the mirror dates just after it; never one that had already ended."""
    sessions = Room.objects.select_for_update().filter(name=name)
    open_then = sessions.filter(created_at__lte=at + SESSION_TIME_SLACK).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gte=at - SESSION_TIME_SLACK)
    )
    room = open_then.order_by("-created_at", "-pk").first()
    if room is None:
        room = sessions.filter(ended_at__isnull=True).order_by("created_at", "pk").first()
    return room


def _no_room_detail(event: livekit.WebhookEvent) -> str:
    name = (event.room.name if event.room is not None else "") or (
        event.ingress.room_name if event.ingress is not None else ""
    )
    if name:
        # Its session has not been seen yet: the reconciler attaches what it reports.
        return f"no session of room {name} was open at the event's time"
    return "the event names no room"


# --- One applier per event kind ----------------------------------------------------


def _on_room_started(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info = event.room
    if info is not None and room.ended_at is None:
        room_update_fields(room=room, info=info)
    return f"Room {room.name} started", ""


def _on_room_finished(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    room_end(room=room, at=event.created_at, reason="ROOM_CLOSED")
    return f"Room {room.name} finished", ""


def _on_participant_joined(*, room: Room, event: livekit.WebhookEvent) -> tuple[str, str]:
    info = event.participant
    if info is None:
        return "Participant joined (no details)", ""
    if room.ended_at is not None:
        return f"{info.identity} joined (late: the room had already ended)", info.identity
    # This session and the identity's other open sessions, in one read.
    sessions = list(
        room.participants.filter(Q(sid=info.sid) | Q(identity=info.identity, left_at__isnull=True))
    )
    row = next((p for p in sessions if p.sid == info.sid), None)
    if row is not None and row.left_at is not None:
        # participant_left for this session was delivered first: it stays gone.
        return f"{info.identity} joined (late: already left)", info.identity
    others = [p for p in sessions if p.sid != info.sid and p.identity == info.identity]
    joined_at = participant_joined_at(info, event.created_at)
    if any(p.joined_at and p.joined_at > joined_at for p in others):
        # A later session of the same identity is already here: this one was replaced.
        participant_upsert(room=room, info=info, at=event.created_at, existing=row, looked_up=True)
        room.participants.filter(sid=info.sid).update(
            left_at=event.created_at, state="DISCONNECTED", disconnect_reason="DUPLICATE_IDENTITY"
        )
        return f"{info.identity} joined (late: replaced by a newer session)", info.identity
    if others:
        # The same identity joining again replaces its older session (LiveKit
        # disconnects it with DUPLICATE_IDENTITY).
        room.participants.filter(pk__in=[p.pk for p in others]).update(
            left_at=event.created_at, state="DISCONNECTED", disconnect_reason="DUPLICATE_IDENTITY"
        )
    participant_upsert(room=room, info=info, at=event.created_at, existing=row, looked_up=True)
    bans_enforce_on_commit(room=room, identity=info.identity)
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
        row = participant_upsert(room=room, info=info, at=event.created_at)
    elif row.left_at is not None:
        return f"{info.identity} {verb} (already gone)", info.identity
    elif row.joined_at and (
        participant_joined_at(info, row.joined_at) < row.joined_at
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
        # A new session of an identity already present is a reconnect: like the join
        # would, it replaces the older session (or the person would show twice).
        room.participants.filter(
            identity=info.identity, left_at__isnull=True, joined_at__lte=event.created_at
        ).update(
            left_at=event.created_at, state="DISCONNECTED", disconnect_reason="DUPLICATE_IDENTITY"
        )
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
    tracks.append(track.as_json())
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
    egress_upsert(room=room, info=info)
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
    ingress_upsert(room=room, info=info)
    verb = "started" if event.event == "ingress_started" else "ended"
    label = info.name or info.ingress_id
    return f"Ingress {label} {verb} ({info.state.lower()})", info.participant_identity


def _track_label(track: livekit.TrackInfo) -> str:
    source = (track.source or "").lower().replace("_", " ")
    if source and source != "unknown":
        return source
    return (track.type or "track").lower()


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
