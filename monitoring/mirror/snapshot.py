"""The reconciler's side of the mirror: a snapshot of the LiveKit API, fetched
outside any transaction, applied room by room so the mirror heals whatever the
webhooks missed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from monitoring import livekit
from monitoring.mirror.rows import (
    RECONCILED,
    bans_enforce_on_commit,
    egress_upsert,
    ingress_upsert,
    participant_upsert,
    room_broadcast_on_commit,
    room_create,
    room_end,
    room_refresh,
    room_update_fields,
)
from monitoring.models import Egress, Room, RoomEvent, RoomStatus


@dataclass(frozen=True)
class Snapshot:
    """What LiveKit reported, fetched outside any transaction."""

    taken_at: datetime
    rooms: Sequence[livekit.RoomInfo]
    participants: dict[str, Sequence[livekit.ParticipantInfo]]  # by room sid
    egresses: Sequence[livekit.EgressInfo]
    ingresses: Sequence[livekit.IngressInfo]


@dataclass
class SnapshotResult:
    rooms_seen: int = 0
    corrected_room_ids: list[int] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)


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
                room = room_create(info=info, at=taken_at)
                corrections.append(f"room {info.name} was missing")
            elif room.ended_at is not None and room.updated_at < taken_at:
                # Ended here, yet LiveKit still has this very session open.
                room.ended_at = None
                corrections.append("room is still open in LiveKit")
            if room.ended_at is None:
                dirty = room_update_fields(room=room, info=info)
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
            room_end(room=room, at=taken_at, reason="ROOM_CLOSED")
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
        room_broadcast_on_commit(room.pk)


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
            bans_enforce_on_commit(room=room, identity=info.identity)
        elif _tracks_key(row.tracks) != _tracks_key([t.as_json() for t in info.tracks]):
            corrections.append(f"{info.identity}'s tracks differed")
        participant_upsert(room=room, info=info, at=taken_at, replace_tracks=True)
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
            if egress_upsert(room=room, info=info) and before != info.status:
                corrections.append(f"recording {info.egress_id} is {info.status}")
    if room.ended_at is None:
        for info in snapshot.ingresses:
            if info.room_name == room.name and ingress_upsert(room=room, info=info):
                corrections.append(f"ingress {info.ingress_id} is {info.state}")
    return corrections
