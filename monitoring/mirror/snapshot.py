"""The reconciler's side of the mirror: compare what LiveKit's API reports with the
mirror in bulk, and write only the rooms that differ.

A pass has two halves around the LiveKit calls, neither holding a transaction while
LiveKit is called:

1. ``rooms_plan`` compares ListRooms with the mirror in a constant number of queries
   per batch of rooms (the open rooms' stored figures, and one aggregate of present
   participants per room, counted by LiveKit's rules) and says which rooms need their
   participants listed: those whose counts or publishers disagree, and whatever the
   caller adds (watched rooms, the rotating slice).
2. ``snapshot_apply`` compares the listed participants with the mirror's rows in bulk
   (a constant number of queries per batch), then writes, room by room with the room
   row locked, only the rooms that differ, recording each correction as a
   ``reconciled`` room event and telling the pages on commit.

Rows changed by webhooks after the snapshot was taken are left alone: the snapshot
is older than they are. That is judged by the rows' ``updated_at`` (the console's
clock), never by LiveKit's timestamps, whose clock may differ.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from monitoring import livekit
from monitoring.mirror.derive import UNCOUNTED_KINDS, participant_role_derive
from monitoring.mirror.rows import (
    EGRESS_RANK,
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
from monitoring.models import (
    Egress,
    Ingress,
    Participant,
    ParticipantRole,
    Room,
    RoomEvent,
    RoomStatus,
)

# Rooms compared per batch of queries.
ROOM_BATCH = 500
# Rooms whose participants are compared per batch of queries.
PARTICIPANT_BATCH = 200

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """What LiveKit reported, fetched outside any transaction.

    ``participants`` holds the rooms (by sid) whose participants were listed; the
    others' participants are taken as agreeing. ``complete`` is False for a snapshot
    of some rooms only (the watched-room poll): rooms it does not name are not
    thereby gone, and recordings and ingresses are not compared.
    """

    taken_at: datetime
    rooms: Sequence[livekit.RoomInfo]
    participants: Mapping[str, Sequence[livekit.ParticipantInfo]]  # by room sid
    egresses: Sequence[livekit.EgressInfo] = ()
    ingresses: Sequence[livekit.IngressInfo] = ()
    complete: bool = True


@dataclass
class SnapshotResult:
    rooms_seen: int = 0
    corrected_room_ids: list[int] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)


@dataclass
class RoomsPlan:
    """Which rooms' participants to list, and why."""

    disagreeing: set[str] = field(default_factory=set)  # sids
    open_room_ids: dict[str, int] = field(default_factory=dict)  # sid -> pk, open rooms


# LiveKit's num_publishers is sticky (a participant that unpublished everything still
# counts until it leaves) while the mirror's is_publisher says "publishing now". After a
# room's participants were compared, the difference seen then is remembered, so a room
# whose publishers merely unpublished is not listed again on every pass.
_sticky_publishers: dict[str, int] = {}
_sticky_lock = threading.Lock()


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rooms_plan(*, rooms: Sequence[livekit.RoomInfo]) -> RoomsPlan:
    """Compare ListRooms with the mirror in bulk; say which rooms disagree.

    Queries: one for the open rooms' stored figures, one for the rooms LiveKit has
    that the mirror has not open (only when there are any), and one aggregate of
    present participants per batch of ``ROOM_BATCH`` rooms. A room disagrees when it
    is missing or ended in the mirror, its settings differ, or its participant or
    publisher counts differ from LiveKit's (``num_participants`` leaves out agents
    and egress and counts hidden participants; ``num_publishers`` is sticky).
    """
    plan = RoomsPlan()
    stored = {
        row["sid"]: row
        for row in Room.objects.filter(ended_at__isnull=True).values(
            "pk", "sid", "metadata", "empty_timeout", "departure_timeout", "max_participants"
        )
    }
    plan.open_room_ids = {sid: row["pk"] for sid, row in stored.items()}
    comparable: list[livekit.RoomInfo] = []
    for info in rooms:
        row = stored.get(info.sid)
        if row is None or (
            row["metadata"] != info.metadata
            or row["empty_timeout"] != info.empty_timeout
            or row["departure_timeout"] != info.departure_timeout
            or row["max_participants"] != info.max_participants
        ):
            plan.disagreeing.add(info.sid)
        else:
            comparable.append(info)
    listed = {info.sid for info in rooms}
    with _sticky_lock:
        for sid in [sid for sid in _sticky_publishers if sid not in listed]:
            del _sticky_publishers[sid]  # the room is gone
        sticky = dict(_sticky_publishers)
    for batch in _batches(comparable, ROOM_BATCH):
        ids = [stored[info.sid]["pk"] for info in batch]
        counts = {
            row["room_id"]: row
            for row in Participant.objects.filter(room_id__in=ids, left_at__isnull=True)
            .values("room_id")
            .annotate(
                counted=Count("pk", filter=~Q(kind__in=UNCOUNTED_KINDS)),
                publishing=Count("pk", filter=Q(is_publisher=True)),
            )
        }
        for info in batch:
            row = counts.get(stored[info.sid]["pk"], {"counted": 0, "publishing": 0})
            if row["counted"] != info.num_participants or (
                info.num_publishers - row["publishing"] != sticky.get(info.sid, 0)
            ):
                plan.disagreeing.add(info.sid)
    return plan


def snapshot_apply(*, snapshot: Snapshot) -> SnapshotResult:
    """Make the mirror equal to a LiveKit snapshot, writing only the rooms that differ."""
    result = SnapshotResult(rooms_seen=len(snapshot.rooms))
    taken_at = snapshot.taken_at
    infos = list(snapshot.rooms)
    seen_sids = {info.sid for info in infos}
    egress_by_room, ingress_by_name = _media_differing(snapshot) if snapshot.complete else ({}, {})
    for batch in _batches(infos, ROOM_BATCH):
        rows = {
            row["sid"]: row
            for row in Room.objects.filter(sid__in=[info.sid for info in batch]).values(
                "pk",
                "sid",
                "ended_at",
                "updated_at",
                "metadata",
                "empty_timeout",
                "departure_timeout",
                "max_participants",
            )
        }
        listed = [info for info in batch if info.sid in snapshot.participants and info.sid in rows]
        diffs = _participants_differing(
            room_ids={info.sid: rows[info.sid]["pk"] for info in listed},
            participants=snapshot.participants,
            taken_at=taken_at,
        )
        for info in batch:
            row = rows.get(info.sid)
            room_diffs = diffs.get(info.sid)
            egresses = egress_by_room.pop(info.sid, [])
            ingresses = ingress_by_name.get(info.name, [])
            needs_write = (
                row is None
                or (row["ended_at"] is not None and row["updated_at"] < taken_at)
                or (
                    row["ended_at"] is None
                    and (
                        row["metadata"] != info.metadata
                        or row["empty_timeout"] != info.empty_timeout
                        or row["departure_timeout"] != info.departure_timeout
                        or row["max_participants"] != info.max_participants
                    )
                )
                or bool(room_diffs)
                or bool(egresses)
                or bool(ingresses)
            )
            if needs_write:
                _room_write(
                    info=info,
                    snapshot=snapshot,
                    listed=info.sid in snapshot.participants,
                    egresses=egresses,
                    ingresses=ingresses,
                    result=result,
                )
            if info.sid in snapshot.participants:
                _sticky_remember(info=info, participants=snapshot.participants[info.sid])
    if not snapshot.complete:
        return result
    # Rooms the mirror thinks are open but LiveKit no longer has.
    gone = [
        pk
        for pk, sid in Room.objects.filter(ended_at__isnull=True, updated_at__lt=taken_at)
        .values_list("pk", "sid")
        .iterator(chunk_size=2000)
        if sid not in seen_sids
    ]
    for room_id in gone:
        with transaction.atomic():
            room = Room.objects.select_for_update().get(pk=room_id)
            if room.ended_at is not None:
                continue
            room_end(room=room, at=taken_at, reason="ROOM_CLOSED")
            corrections = ["room no longer exists in LiveKit: marked ended"]
            corrections += _recordings_reconcile(
                room=room, egresses=egress_by_room.pop(room.sid, []), ingresses=[]
            )
            _room_finish(room=room, corrections=corrections, result=result)
    # Recordings of rooms that ended earlier (a recording finishes after its room).
    if egress_by_room:
        for room_id in Room.objects.filter(sid__in=list(egress_by_room)).values_list(
            "pk", flat=True
        ):
            with transaction.atomic():
                room = Room.objects.select_for_update().get(pk=room_id)
                corrections = _recordings_reconcile(
                    room=room, egresses=egress_by_room.get(room.sid, []), ingresses=[]
                )
                _room_finish(room=room, corrections=corrections, result=result, dirty=False)
    # Rooms whose waitingReconnect window has run out change status with no event.
    now = timezone.now()
    expired = [
        pk
        for pk, dropped_at, timeout in Room.objects.filter(
            status=RoomStatus.WAITING_RECONNECT, ended_at__isnull=True
        ).values_list("pk", "publisher_dropped_at", "departure_timeout")
        if dropped_at is None or (now - dropped_at).total_seconds() >= max(timeout, 1)
    ]
    for room_id in expired:
        with transaction.atomic():
            room = Room.objects.select_for_update().get(pk=room_id)
            _room_finish(room=room, corrections=[], result=result, dirty=False)
    return result


# --- Comparing in bulk -------------------------------------------------------------


@dataclass
class _ParticipantDiff:
    info: livekit.ParticipantInfo | None  # None: the row is no longer in LiveKit
    sid: str
    identity: str
    what: str  # "missing", "present", "tracks", "details", "gone"


def _participants_differing(
    *,
    room_ids: Mapping[str, int],
    participants: Mapping[str, Sequence[livekit.ParticipantInfo]],
    taken_at: datetime,
) -> dict[str, list[_ParticipantDiff]]:
    """For listed rooms, what differs between LiveKit's participants and the rows:
    one query for the present rows per ``PARTICIPANT_BATCH`` rooms, and one for the
    rows of listed participants not among them (only when there are any)."""
    found: dict[str, list[_ParticipantDiff]] = {}
    sids = list(room_ids)
    fields = (
        "room_id",
        "sid",
        "identity",
        "name",
        "kind",
        "state",
        "metadata",
        "attributes",
        "can_publish",
        "tracks",
        "is_publisher",
        "role",
        "joined_at",
        "left_at",
        "updated_at",
    )
    for batch in _batches(sids, PARTICIPANT_BATCH):
        by_room: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
        ids = [room_ids[sid] for sid in batch]
        for row in Participant.objects.filter(room_id__in=ids, left_at__isnull=True).values(
            *fields
        ):
            by_room[row["room_id"]][row["sid"]] = row
        unknown = [
            info.sid
            for sid in batch
            for info in participants[sid]
            if info.sid not in by_room[room_ids[sid]]
        ]
        if unknown:
            for row in Participant.objects.filter(room_id__in=ids, sid__in=unknown).values(*fields):
                by_room[row["room_id"]][row["sid"]] = row
        for sid in batch:
            rows = by_room[room_ids[sid]]
            diffs: list[_ParticipantDiff] = []
            live = set()
            for info in participants[sid]:
                live.add(info.sid)
                row = rows.get(info.sid)
                if row is None:
                    diffs.append(_ParticipantDiff(info, info.sid, info.identity, "missing"))
                elif row["updated_at"] >= taken_at:
                    continue  # a webhook changed it after the snapshot was taken
                elif row["left_at"] is not None:
                    diffs.append(_ParticipantDiff(info, info.sid, info.identity, "present"))
                else:
                    what = _participant_difference(row=row, info=info)
                    if what:
                        diffs.append(_ParticipantDiff(info, info.sid, info.identity, what))
            for row in rows.values():
                if (
                    row["left_at"] is None
                    and row["sid"] not in live
                    and row["updated_at"] < taken_at
                ):
                    diffs.append(_ParticipantDiff(None, row["sid"], row["identity"], "gone"))
            if diffs:
                found[sid] = diffs
    return found


def _participant_difference(*, row: Mapping[str, Any], info: livekit.ParticipantInfo) -> str:
    """ "tracks", "details" or "" (the row says what LiveKit says), judged on the values
    ``participant_upsert`` would write."""
    tracks = [t.as_json() for t in info.tracks]
    if row["tracks"] != tracks or row["is_publisher"] != bool(tracks):
        return "tracks"
    kind = info.kind or "STANDARD"
    state = "ACTIVE" if info.state in ("", "JOINING", "DISCONNECTED") else info.state
    role = participant_role_derive(
        kind=kind,
        attributes=dict(info.attributes),
        metadata=info.metadata,
        can_publish=info.can_publish,
        first_publisher=False,
    )
    if role == ParticipantRole.CO_HOST and row["role"] == ParticipantRole.HOST:
        role = row["role"]  # who is host is room_refresh's to settle
    if (
        row["identity"] != info.identity
        or row["name"] != info.name
        or row["kind"] != kind
        or row["state"] != state
        or row["metadata"] != info.metadata
        or row["attributes"] != dict(info.attributes)
        or row["can_publish"] != info.can_publish
        or row["role"] != role
        or (info.joined_at is not None and row["joined_at"] != info.joined_at)
    ):
        return "details"
    return ""


def _media_differing(
    snapshot: Snapshot,
) -> tuple[dict[str, list[livekit.EgressInfo]], dict[str, list[livekit.IngressInfo]]]:
    """Recordings (by room sid) and ingresses (by room name) whose rows differ from
    LiveKit's: one query per thousand of each."""
    egress_by_room: dict[str, list[livekit.EgressInfo]] = defaultdict(list)
    open_sid_by_name = {info.name: info.sid for info in snapshot.rooms}
    egresses = list(snapshot.egresses)
    for batch in _batches(egresses, 1000):
        rows = {
            row["egress_id"]: row
            for row in Egress.objects.filter(egress_id__in=[e.egress_id for e in batch]).values(
                "egress_id", "status", "started_at", "ended_at", "error", "details"
            )
        }
        for info in batch:
            room_sid = info.room_id or open_sid_by_name.get(info.room_name, "")
            if room_sid and _egress_differs(rows.get(info.egress_id), info):
                egress_by_room[room_sid].append(info)
    ingress_by_name: dict[str, list[livekit.IngressInfo]] = defaultdict(list)
    ingresses = [i for i in snapshot.ingresses if i.room_name in open_sid_by_name]
    for batch in _batches(ingresses, 1000):
        rows = {
            row["ingress_id"]: row
            for row in Ingress.objects.filter(ingress_id__in=[i.ingress_id for i in batch]).values(
                "ingress_id", "name", "input_type", "state", "participant_identity"
            )
        }
        for info in batch:
            row = rows.get(info.ingress_id)
            if row is None or (
                row["name"],
                row["input_type"],
                row["state"],
                row["participant_identity"],
            ) != (info.name, info.input_type, info.state, info.participant_identity):
                ingress_by_name[info.room_name].append(info)
    return dict(egress_by_room), dict(ingress_by_name)


def _egress_differs(row: Mapping[str, Any] | None, info: livekit.EgressInfo) -> bool:
    if row is None:
        return True
    if EGRESS_RANK.get(info.status, 0) < EGRESS_RANK.get(row["status"], 0):
        return False  # an older state never overwrites a newer one
    values = {
        "status": info.status,
        "started_at": info.started_at,
        "ended_at": info.ended_at,
        "error": info.error,
        "details": {"kind": info.kind, "details": info.details},
    }
    return any((value or key == "status") and row[key] != value for key, value in values.items())


def _sticky_remember(
    *, info: livekit.RoomInfo, participants: Sequence[livekit.ParticipantInfo]
) -> None:
    publishing = sum(1 for p in participants if p.tracks)
    with _sticky_lock:
        gap = info.num_publishers - publishing
        if gap > 0:
            _sticky_publishers[info.sid] = gap
        else:
            _sticky_publishers.pop(info.sid, None)


# --- Writing the rooms that differ -------------------------------------------------


def _room_write(
    *,
    info: livekit.RoomInfo,
    snapshot: Snapshot,
    listed: bool,
    egresses: list[livekit.EgressInfo],
    ingresses: list[livekit.IngressInfo],
    result: SnapshotResult,
) -> None:
    taken_at = snapshot.taken_at
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(sid=info.sid).first()
        corrections: list[str] = []
        identities: set[str] | None = set()
        if room is None:
            if not snapshot.complete:
                return  # only a full pass creates rooms (a partial one may be stale)
            room = room_create(info=info, at=taken_at)
            corrections.append(f"room {info.name} was missing")
            identities = None
        elif room.ended_at is not None and room.updated_at < taken_at:
            # Ended here, yet LiveKit still has this very session open.
            room.ended_at = None
            corrections.append("room is still open in LiveKit")
            identities = None
        dirty = False
        if room.ended_at is None:
            dirty = room_update_fields(room=room, info=info)
            if listed:
                changed, found = _participants_reconcile(
                    room=room, infos=snapshot.participants.get(info.sid, ()), taken_at=taken_at
                )
                corrections += changed
                if identities is not None:
                    identities |= found
        media = _recordings_reconcile(room=room, egresses=egresses, ingresses=ingresses)
        corrections += media
        _room_finish(
            room=room,
            corrections=corrections,
            result=result,
            dirty=dirty,
            identities=identities,
            media=bool(media),
        )


def _room_finish(
    *,
    room: Room,
    corrections: list[str],
    result: SnapshotResult,
    dirty: bool = True,
    identities: Iterable[str] | None = None,
    media: bool = False,
) -> None:
    before = room.status
    changes = room_refresh(room=room, now=timezone.now(), save=dirty or bool(corrections))
    corrections = corrections + changes
    event_ids = []
    if corrections:
        entry = RoomEvent.objects.create(
            room=room,
            kind=RECONCILED,
            occurred_at=timezone.now(),
            summary=("Corrected from LiveKit: " + "; ".join(corrections))[:500],
            payload={"corrections": corrections},
        )
        event_ids.append(entry.pk)
        result.corrected_room_ids.append(room.pk)
        result.corrections.extend(f"{room.name}: {c}" for c in corrections)
    if corrections or room.status != before:
        # Only the participants that changed are pushed, unless the whole room did.
        room_broadcast_on_commit(
            room.pk,
            identities=None if identities is None else sorted(identities),
            event_ids=event_ids,
            media=media,
        )


def _participants_reconcile(
    *, room: Room, infos: Iterable[livekit.ParticipantInfo], taken_at: datetime
) -> tuple[list[str], set[str]]:
    """Write the participants that differ (re-read here, under the room's lock, so a
    webhook applied since the bulk comparison is never undone); say what was corrected
    and whose rows changed."""
    infos = list(infos)
    corrections: list[str] = []
    identities: set[str] = set()
    live_sids = {info.sid for info in infos}
    rows = {
        p.sid: p
        for p in room.participants.filter(Q(left_at__isnull=True) | Q(sid__in=list(live_sids)))
    }
    for info in infos:
        row = rows.get(info.sid)
        if row is not None and row.updated_at >= taken_at:
            continue  # a webhook changed it after the snapshot was taken
        if row is not None and row.left_at is not None:
            corrections.append(f"{info.identity} is still present")
            row.left_at = None
            row.disconnect_reason = ""
            row.save(update_fields=["left_at", "disconnect_reason", "updated_at"])
            identities.add(info.identity)
        what = (
            "missing" if row is None else _participant_difference(row=_row_values(row), info=info)
        )
        if what == "missing":
            corrections.append(f"{info.identity} was missing")
            bans_enforce_on_commit(room=room, identity=info.identity)
        elif what == "tracks":
            corrections.append(f"{info.identity}'s tracks differed")
        elif what == "details":
            corrections.append(f"{info.identity}'s details differed")
        if what:
            participant_upsert(room=room, info=info, at=taken_at, replace_tracks=True)
            identities.add(info.identity)
    for sid, row in rows.items():
        if row.left_at is None and sid not in live_sids:
            if row.updated_at >= taken_at:
                continue  # a webhook changed it after the snapshot was taken
            row.left_at = taken_at
            row.state = "DISCONNECTED"
            row.tracks = []
            row.is_publisher = False
            row.save(update_fields=["left_at", "state", "tracks", "is_publisher", "updated_at"])
            corrections.append(f"{row.identity} is no longer in the room")
            identities.add(row.identity)
    return corrections, identities


def _row_values(row: Participant) -> dict[str, Any]:
    return {
        "identity": row.identity,
        "name": row.name,
        "kind": row.kind,
        "state": row.state,
        "metadata": row.metadata,
        "attributes": row.attributes,
        "can_publish": row.can_publish,
        "tracks": row.tracks,
        "is_publisher": row.is_publisher,
        "role": row.role,
        "joined_at": row.joined_at,
    }


def _recordings_reconcile(
    *,
    room: Room,
    egresses: Iterable[livekit.EgressInfo],
    ingresses: Iterable[livekit.IngressInfo],
) -> list[str]:
    corrections = []
    for info in egresses:
        before = (
            Egress.objects.filter(egress_id=info.egress_id).values_list("status", flat=True).first()
        )
        if egress_upsert(room=room, info=info) and before != info.status:
            corrections.append(f"recording {info.egress_id} is {info.status}")
    if room.ended_at is None:
        for info in ingresses:
            if ingress_upsert(room=room, info=info):
                corrections.append(f"ingress {info.ingress_id} is {info.state}")
    return corrections


__all__ = [
    "PARTICIPANT_BATCH",
    "ROOM_BATCH",
    "RoomsPlan",
    "Snapshot",
    "SnapshotResult",
    "rooms_plan",
    "snapshot_apply",
]
