"""Rooms and participants written straight into the mirror (in bulk), for load runs.

Seeded rooms have sids starting ``RM_LOAD``; :func:`load_rooms_remove` removes them
(with their participants and timelines) and the inbox rows of earlier runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.db import connection, transaction

from monitoring.bench.events import RoomSpec
from monitoring.models import InboxEvent, Participant, Room, RoomStatus

PREFIX = "RM_LOAD"


def room_seed(*, tag: str, key: str, size: int) -> RoomSpec:
    """One live room with ``size`` present participants (the first one publishing)."""
    now = int(time.time()) - 60
    at = datetime.fromtimestamp(now, tz=UTC)
    sid = f"{PREFIX}{tag}{key}"
    name = f"load-{tag.lower()}-{key}"
    with transaction.atomic():
        room = Room.objects.create(
            sid=sid,
            name=name,
            status=RoomStatus.LIVE if size else RoomStatus.IDLE,
            num_participants=size,
            num_publishers=1 if size else 0,
            created_at=at,
            live_since=at if size else None,
            host_identity=f"{name}-u0" if size else "",
        )
        present = [(f"PA_{tag}{key}x{n}", f"{name}-u{n}", now) for n in range(size)]
        Participant.objects.bulk_create(
            [
                Participant(
                    room=room,
                    sid=sid_,
                    identity=identity,
                    name=identity,
                    role="host" if n == 0 else "viewer",
                    state="ACTIVE",
                    is_publisher=n == 0,
                    tracks=[
                        {
                            "sid": f"TR_{tag}{key}x0",
                            "type": "AUDIO",
                            "source": "MICROPHONE",
                            "muted": False,
                            "name": "microphone",
                        }
                    ]
                    if n == 0
                    else [],
                    joined_at=at,
                )
                for n, (sid_, identity, _) in enumerate(present)
            ],
            batch_size=2000,
        )
    return RoomSpec(sid=sid, name=name, created_at=now, present=present)


def rooms_seed(*, tag: str, big: int, others: int, other_size: int) -> list[RoomSpec]:
    """The big room first, then ``others`` rooms of ``other_size`` each."""
    rooms = [room_seed(tag=tag, key="big", size=big)]
    rooms += [room_seed(tag=tag, key=f"r{n}", size=other_size) for n in range(others)]
    analyze()
    return rooms


def analyze() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE monitoring_participant; ANALYZE monitoring_room;")


def load_rooms_remove() -> None:
    """Forget what earlier load runs seeded and recorded."""
    Room.objects.filter(sid__startswith=PREFIX).delete()
    Room.objects.filter(name__startswith="load-").delete()
    Room.objects.filter(name__startswith="latency-probe").delete()
    InboxEvent.objects.filter(
        event_id__startswith="EV_", room_key__startswith="room:load-"
    ).delete()
