"""The reconciler at platform scale, for ``manage.py benchmark``.

A LiveKit simulator in a child process (its own interpreter, as a real LiveKit server
would be) holds N rooms and M participants, filled through its Python state API rather
than by M HTTP calls; the mirror holds the same rooms, written in bulk. Then: a first
pass (which must find nothing to correct), an idle pass, and a pass after 1% of the
rooms changed without any webhook reaching the console (half gained a viewer, half
lost one). Each pass's figures come from its ``ReconcilePass`` row.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from django.conf import settings
from django.db import connection, transaction

from monitoring.models import Participant, ReconcilePass, Room, RoomEvent, RoomStatus

PREFIX = "RM_RECON"
API_KEY = "benchmark-key"
API_SECRET = "benchmark-secret-0123456789abcdef0123456789"


@dataclass(frozen=True)
class Member:
    sid: str
    identity: str
    joined_ms: int
    host: bool


@dataclass(frozen=True)
class World:
    names: list[str]
    sids: list[str]
    created_ms: list[int]
    members: list[list[Member]]


def world_build(*, rooms: int, participants: int, seed: int = 11) -> World:
    """Rooms with a publishing host each, and viewers spread with a long tail."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000) - 3_600_000
    names = [f"recon-room-{i}" for i in range(rooms)]
    sids = [f"{PREFIX}{i:07}" for i in range(rooms)]
    created = [now_ms - rng.randint(0, 3_600_000) for _ in range(rooms)]
    members: list[list[Member]] = [
        [Member(f"PA_RCH{i:07}", f"host-{i}", created[i] + 1000, True)] for i in range(rooms)
    ]
    # A long tail of sizes, in no relation to the sid order the rotation follows.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(rooms)]
    rng.shuffle(weights)
    viewers = max(participants - rooms, 0)
    for n, index in enumerate(rng.choices(range(rooms), weights=weights, k=viewers)):
        members[index].append(
            Member(
                f"PA_RCV{n:08}",
                f"viewer-{n}",
                created[index] + 2000 + rng.randint(0, 600_000),
                False,
            )
        )
    return World(names=names, sids=sids, created_ms=created, members=members)


# --- The simulator, in a child process ---------------------------------------------


def _sim_fill(state: Any, world: World) -> None:
    from livekit.protocol import models

    from monitoring.livekit_sim.state import SimRoom

    for name, sid, created_ms, members in zip(
        world.names, world.sids, world.created_ms, world.members, strict=True
    ):
        room = SimRoom(
            info=models.Room(
                sid=sid,
                name=name,
                empty_timeout=300,
                departure_timeout=20,
                creation_time=created_ms // 1000,
                creation_time_ms=created_ms,
            ),
            ever_joined=True,
        )
        for m in members:
            p = models.ParticipantInfo(
                sid=m.sid,
                identity=m.identity,
                state=models.ParticipantInfo.State.ACTIVE,
                joined_at=m.joined_ms // 1000,
                joined_at_ms=m.joined_ms,
                kind=models.ParticipantInfo.Kind.STANDARD,
                permission=models.ParticipantPermission(
                    can_subscribe=True, can_publish=m.host, can_publish_data=True
                ),
                is_publisher=m.host,
                region="sim",
                version=1,
            )
            if m.host:
                p.tracks.append(
                    models.TrackInfo(
                        sid=f"TR_{m.sid[3:]}",
                        type=models.TrackType.AUDIO,
                        source=models.TrackSource.MICROPHONE,
                        name="microphone",
                        mime_type="audio/opus",
                    )
                )
            room.participants[m.identity] = p
        state.rooms[name] = room


def _sim_main(conn: Any, world: World) -> None:
    from monitoring.livekit_sim import SimServer

    async def serve() -> None:
        server = SimServer(API_KEY, API_SECRET)
        _sim_fill(server.state, world)
        await server.start("127.0.0.1", 0)
        conn.send(server.url)
        while True:
            await asyncio.sleep(3600)

    asyncio.run(serve())


class SimProcess:
    def __init__(self, world: World) -> None:
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        connection.close()  # the child must not share the parent's database socket
        self.process = context.Process(target=_sim_main, args=(child, world), daemon=True)
        self.process.start()
        if not parent.poll(300):
            self.stop()
            raise RuntimeError("the simulator did not start within 300 s")
        self.url: str = parent.recv()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


# --- The mirror, in bulk -----------------------------------------------------------


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def mirror_fill(world: World) -> None:
    """The rows the reconciler would write for this world, written in bulk."""
    with transaction.atomic():
        Room.objects.bulk_create(
            [
                Room(
                    sid=sid,
                    name=name,
                    status=RoomStatus.LIVE,
                    num_participants=len(members),
                    num_publishers=1,
                    empty_timeout=300,
                    departure_timeout=20,
                    created_at=_at(created),
                    live_since=_at(created + 1000),
                    host_identity=members[0].identity,
                )
                for name, sid, created, members in zip(
                    world.names, world.sids, world.created_ms, world.members, strict=True
                )
            ],
            batch_size=2000,
        )
        ids = dict(Room.objects.filter(sid__startswith=PREFIX).values_list("sid", "pk"))
        batch: list[Participant] = []
        for sid, members in zip(world.sids, world.members, strict=True):
            for m in members:
                tracks = (
                    [
                        {
                            "sid": f"TR_{m.sid[3:]}",
                            "type": "AUDIO",
                            "source": "MICROPHONE",
                            "muted": False,
                            "name": "microphone",
                        }
                    ]
                    if m.host
                    else []
                )
                batch.append(
                    Participant(
                        room_id=ids[sid],
                        sid=m.sid,
                        identity=m.identity,
                        role="host" if m.host else "viewer",
                        state="ACTIVE",
                        is_publisher=m.host,
                        can_publish=m.host,
                        tracks=tracks,
                        joined_at=_at(m.joined_ms),
                    )
                )
                if len(batch) >= 5000:
                    Participant.objects.bulk_create(batch)
                    batch = []
        Participant.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE monitoring_room; ANALYZE monitoring_participant;")


def mirror_clean() -> None:
    rooms = Room.objects.filter(sid__startswith=PREFIX)
    RoomEvent.objects.filter(room__in=rooms).delete()
    Participant.objects.filter(room__in=rooms).delete()
    rooms.delete()


async def _changes(url: str, world: World, rooms: list[int]) -> None:
    """Half the rooms gain a viewer and half lose one, through the /sim/ control API;
    the webhooks stay in the simulator's outbox (as if lost)."""
    async with aiohttp.ClientSession() as session:
        for n, index in enumerate(rooms):
            name = quote(world.names[index], safe="")
            if n % 2 == 0 or len(world.members[index]) < 2:
                path = f"/sim/rooms/{name}/participants"
                body = {"identity": f"late-{index}", "can_publish": False}
            else:
                who = quote(world.members[index][-1].identity, safe="")
                path, body = f"/sim/rooms/{name}/participants/{who}/leave", {}
            async with session.post(url + path, json=body) as response:
                if response.status >= 400:
                    raise RuntimeError(f"{path}: {response.status} {await response.text()}")


@dataclass
class PassFigures:
    label: str
    duration_ms: int
    livekit_calls: int
    queries: int
    rooms_checked: int
    rooms_corrected: int
    corrections: int
    cpu_ms: int  # the console process's CPU time (the simulator runs in its own)
    sim_cpu_ms: int | None = None  # the simulator process's
    db_cpu_ms: int | None = None  # the PostgreSQL backend's serving the pass


def reconciler_bench(
    *, rooms: int, participants: int, say: Callable[[str], None]
) -> list[PassFigures]:
    from monitoring.reconciler import reconcile_once

    others = Room.objects.filter(ended_at__isnull=True).exclude(sid__startswith=PREFIX)
    if others.exists():
        raise RuntimeError(
            "the database has open rooms the benchmark did not seed: the reconciler "
            "would end them. Use a database of its own."
        )
    mirror_clean()
    started = time.perf_counter()
    world = world_build(rooms=rooms, participants=participants)
    sim = SimProcess(world)
    say(f"Simulator filled with {rooms} rooms, {participants} participants.")
    mirror_fill(world)
    say(f"Mirror filled in bulk ({time.perf_counter() - started:.1f} s in all).")
    saved = (settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = (
        sim.url,
        API_KEY,
        API_SECRET,
    )
    figures = []
    try:
        for label in ("first pass (mirror true)", "idle pass"):
            figures.append(_pass(label, reconcile_once, sim.process.pid or 0))
        changed = list(range(0, rooms, max(rooms // max(rooms // 100, 1), 1)))[
            : max(rooms // 100, 1)
        ]
        asyncio.run(_changes(sim.url, world, changed))
        figures.append(
            _pass(f"1% changed ({len(changed)} rooms)", reconcile_once, sim.process.pid or 0)
        )
    finally:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = saved
        sim.stop()
        mirror_clean()
    return figures


def _proc_cpu_ms(pid: int) -> int | None:
    """A process's CPU time so far (user + system), from /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return round((int(fields[11]) + int(fields[12])) * 1000 / ticks)


def _database_pid() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _pass(label: str, run: Callable[[], Any], sim_pid: int) -> PassFigures:
    db_pid = _database_pid()
    before = {pid: _proc_cpu_ms(pid) for pid in (sim_pid, db_pid) if pid}
    cpu = time.process_time()
    result = run()
    cpu_ms = round((time.process_time() - cpu) * 1000)
    after = {pid: _proc_cpu_ms(pid) for pid in before}
    used = {
        pid: after[pid] - before[pid]  # type: ignore[operator]
        for pid in before
        if before[pid] is not None and after[pid] is not None
    }
    if not result.ok:
        raise RuntimeError(f"the reconciler pass failed: {result.error or 'did not run'}")
    row = ReconcilePass.objects.order_by("-started_at", "-pk").first()
    assert row is not None
    return PassFigures(
        label=label,
        duration_ms=row.duration_ms,
        livekit_calls=row.livekit_calls,
        queries=row.queries,
        rooms_checked=row.rooms_checked,
        rooms_corrected=row.rooms_corrected,
        corrections=row.corrections,
        cpu_ms=cpu_ms,
        sim_cpu_ms=used.get(sim_pid),
        db_cpu_ms=used.get(db_pid) if db_pid else None,
    )
