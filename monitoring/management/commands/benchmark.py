"""Time the live pages against a large mirror: ``manage.py benchmark``.

Seeds (in bulk, once) 10,000 rooms and 200,000 participants whose sids start with
``RM_BENCH``/``PA_BENCH``, then renders the room list (first page, search by room
name, search by identity, a status filter, each sort) and a busy room's page, and
prints a table of the median and worst time, the query count and the peak Python
memory (tracemalloc) of each. Measured by hand, never in the test suite.
``--clean`` removes the seeded rows afterwards.

First (unless ``--skip-reconciler``) it times the reconciler against a simulator
holding as many rooms and participants (``monitoring.bench.reconcile``): a first pass
over a true mirror, an idle pass, and a pass after 1% of the rooms changed, each with
its duration, LiveKit calls and database queries. That part needs a database with no
other open rooms (the reconciler would end them), so the page seed is rebuilt after it.
"""

from __future__ import annotations

import random
import statistics
import time
import tracemalloc
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import SUPPORT, role_assign
from monitoring.models import Participant, Room, RoomStatus

PREFIX = "RM_BENCH"
USERNAME = "benchmark-reader"
STATUSES = [
    (RoomStatus.LIVE, 40),
    (RoomStatus.IDLE, 25),
    (RoomStatus.WAITING_RECONNECT, 5),
    (RoomStatus.ENDED, 20),
    (RoomStatus.RECORDED, 10),
]


class Command(BaseCommand):
    help = "Seed a large mirror and time the room list and room pages (not part of the tests)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rooms", type=int, default=10_000)
        parser.add_argument("--participants", type=int, default=200_000)
        parser.add_argument("--repeat", type=int, default=5, help="timed runs per page")
        parser.add_argument("--clean", action="store_true", help="delete the seeded rows after")
        parser.add_argument("--skip-reconciler", action="store_true", help="time the pages only")

    def handle(self, *args: Any, **options: Any) -> None:
        rooms, participants = options["rooms"], options["participants"]
        if rooms < 1 or participants < 0 or options["repeat"] < 1:
            raise CommandError("--rooms and --repeat must be at least 1, --participants at least 0")
        passes = []
        if not options["skip_reconciler"]:
            from monitoring.bench.reconcile import reconciler_bench

            self._clean()  # its open rooms are not in the simulator
            try:
                passes = reconciler_bench(
                    rooms=rooms, participants=participants, say=self.stdout.write
                )
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
        seeded = Room.objects.filter(sid__startswith=PREFIX).count()
        if seeded != rooms:
            self._clean()
            self._seed(rooms=rooms, participants=participants)
        else:
            self.stdout.write(f"Reusing {seeded} seeded rooms.")
        client = self._client()
        busiest = Room.objects.filter(sid__startswith=PREFIX).order_by("-num_participants").first()
        identity = Participant.objects.filter(room=busiest).values_list("identity", flat=True)[0]
        rooms_url = reverse("monitoring:rooms")
        cases = [
            ("list: first page (open, busiest)", rooms_url),
            ("list: all statuses", f"{rooms_url}?status=all"),
            ("list: filter live", f"{rooms_url}?status=live"),
            ("list: sort newest", f"{rooms_url}?sort=newest"),
            ("list: sort name", f"{rooms_url}?sort=name&status=all"),
            ("list: sort longest live", f"{rooms_url}?sort=longest"),
            ("list: page 50", f"{rooms_url}?status=all&page=50"),
            ("list: search room name", f"{rooms_url}?q=bench-room-12&status=all"),
            ("list: search identity", f"{rooms_url}?q={identity}&status=all"),
            ("list: htmx partial", rooms_url),
            ("room page (busiest room)", reverse("monitoring:room", args=[busiest.pk])),
            ("wall", reverse("monitoring:wall")),
        ]
        rows = []
        for label, url in cases:
            headers = {"HTTP_HX_REQUEST": "true"} if "htmx" in label else {}
            rows.append((label, *self._measure(client, url, options["repeat"], headers)))
        self._print(rows, rooms=rooms, participants=participants)
        if passes:
            self._print_passes(passes)
        get_user_model().objects.filter(username=USERNAME).delete()
        if options["clean"]:
            self._clean()

    def _client(self) -> Client:
        user, _ = get_user_model().objects.get_or_create(
            username=USERNAME, defaults={"is_staff": True, "email": "benchmark@example.org"}
        )
        role_assign(user=user, role=SUPPORT)
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        return client

    def _measure(
        self, client: Client, url: str, repeat: int, headers: dict[str, str]
    ) -> tuple[float, float, float, int, float]:
        client.get(url, **headers)  # warm caches and the connection
        timings = []
        cpu = []
        queries = 0
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(url, **headers)
                timings.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
            queries = len(captured)
        # Memory is measured on its own run: tracing slows everything it watches.
        tracemalloc.start()
        client.get(url, **headers)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return (
            statistics.median(timings),
            max(timings),
            statistics.median(cpu),
            queries,
            peak / 1024 / 1024,
        )

    def _seed(self, *, rooms: int, participants: int) -> None:
        started = time.perf_counter()
        rng = random.Random(7)
        now = timezone.now()
        statuses = [s for s, weight in STATUSES for _ in range(weight)]
        room_objs = []
        for i in range(rooms):
            status = rng.choice(statuses)
            created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 7))
            room_objs.append(
                Room(
                    sid=f"{PREFIX}{i:07}",
                    name=f"bench-room-{i}",
                    status=status,
                    created_at=created,
                    live_since=created + timedelta(minutes=1)
                    if status == RoomStatus.LIVE
                    else None,
                    ended_at=now if status in (RoomStatus.ENDED, RoomStatus.RECORDED) else None,
                    host_identity=f"bench-host-{i}",
                    active_recording=status == RoomStatus.LIVE and rng.random() < 0.1,
                )
            )
        with transaction.atomic():
            Room.objects.bulk_create(room_objs, batch_size=2000)
            ids = list(
                Room.objects.filter(sid__startswith=PREFIX)
                .order_by("pk")
                .values_list("pk", "created_at")
            )
            # A skewed spread: a few huge rooms, a long tail of small ones.
            weights = [1 / (rank + 1) ** 0.8 for rank in range(len(ids))]
            picks = rng.choices(range(len(ids)), weights=weights, k=participants)
            counts = [0] * len(ids)
            batch: list[Participant] = []
            for n, index in enumerate(picks):
                room_id, created = ids[index]
                left = rng.random() < 0.3
                counts[index] += 0 if left else 1
                joined = created + timedelta(seconds=rng.randint(0, 3600))
                batch.append(
                    Participant(
                        room_id=room_id,
                        sid=f"PA_BENCH{n:08}",
                        identity=f"bench-user-{n}",
                        name=f"Bench user {n}",
                        role="host" if counts[index] == 1 and not left else "viewer",
                        state="DISCONNECTED" if left else "ACTIVE",
                        is_publisher=counts[index] == 1,
                        tracks=[
                            {
                                "sid": f"TR_B{n}",
                                "type": "AUDIO",
                                "source": "MICROPHONE",
                                "muted": False,
                            }
                        ]
                        if counts[index] == 1
                        else [],
                        attributes={"role": "viewer"},
                        joined_at=joined,
                        left_at=joined + timedelta(minutes=5) if left else None,
                    )
                )
                if len(batch) >= 5000:
                    Participant.objects.bulk_create(batch)
                    batch = []
            Participant.objects.bulk_create(batch)
            updates = [
                Room(pk=room_id, num_participants=counts[i], num_publishers=min(counts[i], 1))
                for i, (room_id, _) in enumerate(ids)
            ]
            Room.objects.bulk_update(
                updates, ["num_participants", "num_publishers"], batch_size=2000
            )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE monitoring_room; ANALYZE monitoring_participant;")
        self.stdout.write(
            f"Seeded {rooms} rooms and {participants} participants "
            f"in {time.perf_counter() - started:.1f} s."
        )

    def _clean(self) -> None:
        Participant.objects.filter(room__sid__startswith=PREFIX).delete()
        Room.objects.filter(sid__startswith=PREFIX).delete()

    def _print(self, rows: list[tuple[Any, ...]], *, rooms: int, participants: int) -> None:
        self.stdout.write(f"\n{connection.vendor}: {rooms} rooms, {participants} participants\n")
        # CPU ms: this process's (the view and its rendering), not the database's.
        header = (
            f"{'page':<34} {'median ms':>10} {'worst ms':>10} {'CPU ms':>8} {'queries':>8} "
            f"{'peak MiB':>9}"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for label, median, worst, cpu, queries, peak in rows:
            self.stdout.write(
                f"{label:<34} {median:>10.1f} {worst:>10.1f} {cpu:>8.1f} {queries:>8} {peak:>9.1f}"
            )

    def _print_passes(self, passes: list[Any]) -> None:
        self.stdout.write(
            "\nreconciler (one livekit_sync pass; CPU ms of this process, of the simulator's "
            "and of the PostgreSQL backend's)\n"
        )
        header = (
            f"{'pass':<34} {'ms':>8} {'CPU ms':>8} {'sim CPU':>8} {'db CPU':>8} "
            f"{'LiveKit calls':>14} {'queries':>8} {'rooms listed':>13} {'corrected':>10}"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for p in passes:
            self.stdout.write(
                f"{p.label:<34} {p.duration_ms:>8} {p.cpu_ms:>8} "
                f"{'-' if p.sim_cpu_ms is None else p.sim_cpu_ms:>8} "
                f"{'-' if p.db_cpu_ms is None else p.db_cpu_ms:>8} {p.livekit_calls:>14} "
                f"{p.queries:>8} {p.rooms_checked:>13} {p.rooms_corrected:>10}"
            )
