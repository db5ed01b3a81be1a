"""Measure the live path under load: ``manage.py loadtest`` (run by hand, not in the suite).

Starts the console under daphne (``--workers`` processes, DEBUG off) with the
appliers (``manage.py livekit_apply`` when the workers are external, the default
with Redis), on the database and Redis this process is configured with, and the
LiveKit simulator. Seeds a room of ``--room-size`` participants and ``--rooms`` small
ones in the mirror, opens ``--pages`` websocket pages as staff, then sends webhooks
signed as LiveKit signs them (pre-signed, from a process of its own) at ``--rate`` per
second for ``--seconds`` with ``--concurrency`` in flight: joins, leaves, tracks
published and unpublished, half in the big room. The same load then goes to a bare
verify-and-upsert endpoint on the same daphne. Optional parts: ``--compare-room-sizes``,
``--kicks``, ``--sockets``. The last line is a machine-readable summary.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from accounts.roles import MODERATOR
from monitoring.bench import bare, kick, seed
from monitoring.bench.events import EventMaker, RoomSpec, run_tag
from monitoring.bench.harness import Harness
from monitoring.bench.loadgen import LoadPlan, LoadResult
from monitoring.bench.report import LoadSampler, median, percentile, table, verdict
from monitoring.bench.staff import ROLES
from monitoring.live import applier
from monitoring.models import InboxEvent, Room, RoomEvent

TARGET_RATE = 1000
TARGET_P99_MS = 50
TARGET_CATCHUP_S = 1.0
TARGET_SIZE_RATIO = 1.2
TARGET_BARE_RATIO = 0.5
TARGET_KICK_P50_MS = 50
TARGET_FANOUT_MS = 250
OTHER_ROOM_SIZE = 3


@dataclass
class Phase:
    """One timed load against one endpoint, and what followed it."""

    load: LoadResult
    prepare_s: float
    catchup_s: float | None = None
    applied: int = 0
    lost: int = 0
    pending: int = 0  # answered 2xx, still waiting in the inbox when the wait ended
    failed_apply: int = 0
    max_backlog: int = 0
    cpu_ms: dict[str, float] | None = None  # per event, by process kind
    pushes: dict[str, dict[str, int]] | None = None
    applied_per_s: float = 0.0

    @property
    def p50(self) -> float:
        return percentile(self.load.latencies_ms, 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.load.latencies_ms, 0.99)


class Command(BaseCommand):
    help = "Load the live path with signed webhooks and open pages; print what it sustains."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=1000, help="webhooks per second")
        parser.add_argument("--seconds", type=float, default=60, help="length of the burst")
        parser.add_argument("--pages", type=int, default=50, help="open websocket pages")
        parser.add_argument(
            "--room-size", type=int, default=500, help="participants in the big room"
        )
        parser.add_argument("--rooms", type=int, default=20, help="other (small) rooms")
        parser.add_argument("--concurrency", type=int, default=32, help="webhooks in flight")
        parser.add_argument("--workers", type=int, default=1, help="daphne processes")
        parser.add_argument("--appliers", type=int, default=1, help="livekit_apply processes")
        parser.add_argument(
            "--embedded",
            action="store_true",
            help="run the applier in the web processes (ROOMWATCH_WORKERS=embedded)",
        )
        parser.add_argument(
            "--compare-room-sizes",
            default="",
            metavar="K1,K2",
            help="also time the load with big rooms of these sizes (e.g. 5,5000)",
        )
        parser.add_argument(
            "--compare-seconds", type=float, default=0, help="burst per size (default --seconds)"
        )
        parser.add_argument("--kicks", type=int, default=20, help="timed kicks each way (0: skip)")
        parser.add_argument("--sockets", type=int, default=0, help="connect burst size (0: skip)")
        parser.add_argument("--burst-rate", type=float, default=250, help="socket connects per s")
        parser.add_argument("--fanout-repeats", type=int, default=5)
        parser.add_argument(
            "--connect-timeout", type=float, default=30, help="s a socket may take to open"
        )
        parser.add_argument("--catchup-timeout", type=float, default=120)

    def handle(self, *args: Any, **options: Any) -> None:
        sizes = self._sizes(options["compare_room_sizes"])
        for name in ("rate", "seconds"):
            if options[name] <= 0:
                raise CommandError(f"--{name} must be positive")
        for name in ("pages", "room_size", "rooms", "kicks", "sockets"):
            if options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        for name in ("concurrency", "workers", "appliers"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        self.options = options
        loads = LoadSampler()
        try:
            harness = Harness(
                web=options["workers"],
                appliers=options["appliers"],
                embedded=options["embedded"],
                out=self.stdout,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        with harness:
            self.h = harness
            self.stdout.write(self._setup_line())
            main, bare_phase = self._main(options)
            self._print_main(main, bare_phase)
            if sizes:
                self._compare(sizes, options)
            if options["kicks"]:
                self._kicks(options["kicks"])
            if options["sockets"]:
                self._sockets(options)
        self.stdout.write("\n" + loads.summary())
        ratio = main.load.ok_per_second / bare_phase.load.ok_per_second if bare_phase.load.ok else 0
        catchup = main.catchup_s if main.catchup_s is not None else -1
        self.stdout.write(
            f"loadtest: events_per_s={main.load.ok_per_second:.0f} p99_ms={main.p99:.1f} "
            f"lost={main.lost} catchup_s={catchup:.2f} bare_ratio={ratio:.2f}"
        )

    @staticmethod
    def _sizes(raw: str) -> list[int]:
        if not raw:
            return []
        try:
            sizes = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise CommandError("--compare-room-sizes takes sizes like 5,5000") from None
        if len(sizes) < 2 or min(sizes) < 1:
            raise CommandError("--compare-room-sizes needs two or more sizes, each at least 1")
        return sizes

    def _setup_line(self) -> str:
        o = self.options
        return (
            f"{connection.vendor} ({connection.settings_dict['NAME']}), "
            f"channel layer {'redis' if settings.REDIS_URL else 'in-memory'}; "
            f"{o['workers']} daphne, workers {self.h.mode}"
            + (f" ({self.h.appliers} livekit_apply)" if not self.h.embedded else "")
            + f"; rate {o['rate']:g}/s x {o['seconds']:g} s, concurrency {o['concurrency']}, "
            f"{o['pages']} pages, big room {o['room_size']}, {o['rooms']} other rooms; "
            f"process logs in {self.h.stack.logdir if self.h.stack else '-'}"
        )

    # -- the main load ----------------------------------------------------------

    def _seed_and_open(self, size: int, pages: int) -> list[RoomSpec]:
        tag = run_tag()
        rooms = seed.rooms_seed(
            tag=tag, big=size, others=self.options["rooms"], other_size=OTHER_ROOM_SIZE
        )
        big_id = Room.objects.get(sid=rooms[0].sid).pk
        fleet = self.h.fleet
        fleet.close_all()
        if pages:
            opened = fleet.connect(self.h.page_sockets(pages, rooms[0], big_id), rate=100)
            if opened["connected"] != pages:
                self.stdout.write(
                    f"  only {opened['connected']} of {pages} pages connected: {opened['errors']}"
                )
        return rooms

    def _main(self, options: dict[str, Any]) -> tuple[Phase, Phase]:
        rooms = self._seed_and_open(options["room_size"], options["pages"])
        main = self._phase(
            rooms, urls=self.h.webhook_urls(), console=True, seconds=options["seconds"]
        )
        bare_phase = self._phase(
            rooms, urls=self.h.bare_urls(), console=False, seconds=options["seconds"]
        )
        return main, bare_phase

    def _plan(self, rooms: list[RoomSpec], urls: list[str], seconds: float) -> LoadPlan:
        o = self.options
        return LoadPlan(
            urls=urls,
            rooms=rooms,
            tag=run_tag(),
            count=max(1, int(o["rate"] * seconds)),
            rate=o["rate"],
            concurrency=o["concurrency"],
            api_key=self.h.api_key,
            api_secret=self.h.api_secret,
            window=seconds + 0.5,
        )

    def _phase(
        self, rooms: list[RoomSpec], *, urls: list[str], console: bool, seconds: float
    ) -> Phase:
        assert self.h.stack is not None
        plan = self._plan(rooms, urls, seconds)
        self.stdout.write(f"{'console' if console else 'bare'}: signing {plan.count} webhooks ...")
        prepare_s = self.h.loadgen.prepare(plan)
        self._pending_wait()
        if self.options["pages"]:
            self.h.fleet.reset_stats()
        cpu_before, db_before = self.h.stack.cpu(), _db_cpu()
        gen_before = _pid_cpu(self.h.loadgen.process.pid)
        seconds_planned = plan.count / plan.rate
        self.stdout.write(
            f" ({prepare_s:.1f} s) sending at {plan.rate:g}/s for {seconds_planned:g} s\n"
        )
        self.h.loadgen.go()
        max_backlog = 0
        while not self.h.loadgen.conn.poll(0.25):
            self.h.stack.check_alive()
            if console:
                max_backlog = max(max_backlog, applier.pending_count())
        load = self.h.loadgen.result()
        phase = Phase(load=load, prepare_s=prepare_s, max_backlog=max_backlog)
        if console:
            phase.catchup_s = self._catchup(load.ended)
            done = time.time()
            phase.applied_per_s = (load.ok - applier.pending_count()) / (done - load.started)
        cpu_after, db_after = self.h.stack.cpu(), _db_cpu()
        gen_after = _pid_cpu(self.h.loadgen.process.pid)
        events = max(load.ok, 1)
        phase.cpu_ms = {
            kind: (cpu_after[kind] - cpu_before.get(kind, 0.0)) * 1000 / events
            for kind in cpu_after
        }
        phase.cpu_ms["db"] = _db_delta(db_before, db_after) * 1000 / events
        phase.cpu_ms["load generator"] = ((gen_after or 0.0) - (gen_before or 0.0)) * 1000 / events
        if console:
            self._count_applied(phase, plan.tag)
            if self.options["pages"]:
                time.sleep(2 * float(settings.ROOMWATCH_PUSH_INTERVAL_SECONDS) + 0.5)
                phase.pushes = self.h.fleet.stats()
        else:
            phase.applied = bare.count(f"EV_{plan.tag}")
            phase.lost = max(0, load.ok - phase.applied)
        return phase

    def _pending_wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while applier.pending_count() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _catchup(self, ended: float) -> float | None:
        deadline = ended + self.options["catchup_timeout"]
        while time.time() < deadline:
            if applier.pending_count() == 0:
                return max(0.0, time.time() - ended)
            time.sleep(0.01)
        return None

    def _count_applied(self, phase: Phase, tag: str) -> None:
        prefix = f"EV_{tag}"
        ok = set(phase.load.ok_ids)
        in_mirror = set(
            RoomEvent.objects.filter(event_id__startswith=prefix).values_list("event_id", flat=True)
        )
        inbox = InboxEvent.objects.filter(event_id__startswith=prefix)
        pending = set(inbox.filter(applied_at__isnull=True).values_list("event_id", flat=True))
        phase.applied = len(in_mirror & ok)
        phase.failed_apply = (
            inbox.filter(applied_at__isnull=False).exclude(outcome="applied").count()
        )
        phase.pending = len(pending & ok)
        # Lost: answered 2xx, yet neither in the mirror nor still waiting to be applied.
        phase.lost = len(ok - in_mirror - pending)
        if pending:
            # Not caught up in time: forget the rest, so the next parts start unloaded.
            inbox.filter(applied_at__isnull=True).delete()

    # -- printing -----------------------------------------------------------------

    def _print_main(self, main: Phase, bare_phase: Phase) -> None:
        o = self.options
        long_enough = o["seconds"] >= 60 and o["pages"] >= 50
        ratio = (
            main.load.ok_per_second / bare_phase.load.ok_per_second if bare_phase.load.ok else 0.0
        )
        rate_met = main.load.ok_per_second >= TARGET_RATE * 0.99 if long_enough else None
        rows: list[list[object]] = [
            [
                "webhooks sent / answered 2xx",
                f"{main.load.sent} / {main.load.ok}",
                f"{bare_phase.load.sent} / {bare_phase.load.ok}",
                "",
                "",
            ],
            ["non-2xx answers", _statuses(main.load), _statuses(bare_phase.load), "0", ""],
            [
                "events/s sustained (2xx)",
                main.load.ok_per_second,
                bare_phase.load.ok_per_second,
                f">= {TARGET_RATE} for 60 s, 50 pages",
                verdict(rate_met),
            ],
            ["webhook p50 ms", main.p50, bare_phase.p50, "", ""],
            [
                "webhook p99 ms",
                main.p99,
                bare_phase.p99,
                f"<= {TARGET_P99_MS}",
                verdict(main.p99 <= TARGET_P99_MS),
            ],
            [
                "webhook max ms",
                max(main.load.latencies_ms, default=math.nan),
                max(bare_phase.load.latencies_ms, default=math.nan),
                "",
                "",
            ],
            ["schedule slip max ms", main.load.max_lag_ms, bare_phase.load.max_lag_ms, "", ""],
            ["not sent (window closed first)", main.load.unsent, bare_phase.load.unsent, "0", ""],
            ["still pending when the wait ended", main.pending, "", "0", ""],
            [
                "events lost (2xx, not applied)",
                main.lost,
                bare_phase.lost,
                "0",
                verdict(main.lost == 0),
            ],
            ["applied with a failure outcome", main.failed_apply, "", "", ""],
            ["inbox backlog max", main.max_backlog, "", "", ""],
            [
                "mirror caught up after burst s",
                main.catchup_s if main.catchup_s is not None else f"> {o['catchup_timeout']:g}",
                "",
                f"<= {TARGET_CATCHUP_S:g}",
                verdict(main.catchup_s is not None and main.catchup_s <= TARGET_CATCHUP_S),
            ],
            ["applied/s, first send to end of wait", main.applied_per_s, "", "", ""],
            [
                "console / bare events/s",
                ratio,
                "",
                f">= {TARGET_BARE_RATIO}",
                verdict(ratio >= TARGET_BARE_RATIO),
            ],
        ]
        for kind, value in (main.cpu_ms or {}).items():
            rows.append(
                [
                    f"CPU ms/event: {kind}",
                    value,
                    (bare_phase.cpu_ms or {}).get(kind, math.nan),
                    "",
                    "",
                ]
            )
        for label, stats in sorted((main.pushes or {}).items()):
            rows.append(
                [
                    f"pushes to {stats['sockets']} {label} sockets",
                    f"{stats['messages']} msgs, {stats['bytes'] / 1e6:.1f} MB",
                    "",
                    "",
                    "",
                ]
            )
        self.stdout.write(
            "\n"
            + table(
                f"Live path under load ({o['rate']:g}/s for {o['seconds']:g} s, "
                f"{o['pages']} pages, big room {o['room_size']}):",
                ["", "console", "bare", "target", "met"],
                rows,
            )
        )
        if main.load.errors or bare_phase.load.errors:
            self.stdout.write(
                f"transport errors: console {main.load.errors}, bare {bare_phase.load.errors}"
            )
        if not long_enough:
            self.stdout.write("(the rate target is judged only for runs of 60 s with 50 pages)")

    # -- room sizes ---------------------------------------------------------------

    def _compare(self, sizes: list[int], options: dict[str, Any]) -> None:
        seconds = options["compare_seconds"] or options["seconds"]
        results: list[tuple[int, Phase]] = []
        for size in sizes:
            self.stdout.write(f"\nroom size {size}: ")
            seed.load_rooms_remove()
            rooms = self._seed_and_open(size, options["pages"])
            results.append(
                (
                    size,
                    self._phase(rooms, urls=self.h.webhook_urls(), console=True, seconds=seconds),
                )
            )
        rows = []
        o_timeout = options["catchup_timeout"]
        base = results[0][1]
        base_cost = _cost(base)
        for size, phase in results:
            cost = _cost(phase)
            rows.append(
                [
                    f"big room {size}",
                    phase.load.ok_per_second,
                    phase.p50,
                    phase.p99,
                    phase.catchup_s if phase.catchup_s is not None else f"> {o_timeout:g}",
                    phase.lost,
                    (phase.cpu_ms or {}).get("web", math.nan),
                    (phase.cpu_ms or {}).get("applier", math.nan),
                    (phase.cpu_ms or {}).get("db", math.nan),
                    cost,
                    cost / base_cost if base_cost else math.nan,
                ]
            )
        worst = max(r[-1] for r in rows)
        self.stdout.write(
            "\n"
            + table(
                f"Per-event cost by room size ({options['rate']:g}/s for {seconds:g} s each; "
                f"CPU ms per event; target: within {TARGET_SIZE_RATIO}x of the smallest, "
                f"met: {verdict(worst <= TARGET_SIZE_RATIO)}):",
                [
                    "",
                    "events/s",
                    "p50 ms",
                    "p99 ms",
                    "catch-up s",
                    "lost",
                    "web",
                    "applier",
                    "db",
                    "total",
                    "x smallest",
                ],
                rows,
            )
        )

    # -- kicks ----------------------------------------------------------------------

    def _kicks(self, count: int) -> None:
        assert self.h.sim is not None and self.h.stack is not None and self.h.staff is not None
        self.stdout.write(f"\nkicks: {count} through the console, {count} bare ...")
        result = kick.kicks_measure(
            sim=self.h.sim,
            base=self.h.stack.bases[0],
            session=self.h.staff.sessions[MODERATOR],
            room_name=f"load-{run_tag().lower()}-kick",
            count=count,
        )
        ratio = result.console_p50 / result.bare_p50 if result.bare_ms else math.nan
        rows = [
            [
                "console: form POST to the moderator's answer",
                len(result.console_ms),
                result.console_p50,
                percentile(result.console_ms, 0.9),
                f"<= {TARGET_KICK_P50_MS}",
                verdict(result.console_p50 <= TARGET_KICK_P50_MS),
            ],
            [
                "bare livekit-api RemoveParticipant",
                len(result.bare_ms),
                result.bare_p50,
                percentile(result.bare_ms, 0.9),
                "",
                "",
            ],
            ["console / bare (p50)", "", ratio, "", "", ""],
        ]
        self.stdout.write(
            "\n"
            + table(
                "Kick against the simulator:", ["", "n", "p50 ms", "p90 ms", "target", "met"], rows
            )
        )
        if result.console_failed or result.still_present:
            self.stdout.write(
                f"kick problems: {result.console_failed[:5]}; "
                f"still in the room: {result.still_present}"
            )

    # -- sockets ----------------------------------------------------------------------

    def _sockets(self, options: dict[str, Any]) -> None:
        count = options["sockets"]
        fleet = self.h.fleet
        fleet.close_all()
        tag = run_tag()
        room = seed.room_seed(tag=tag, key="fanout", size=5)
        room_id = Room.objects.get(sid=room.sid).pk
        specs = [
            self.h.socket(
                n,
                f"/ws/rooms/{room_id}/",
                ROLES[n % len(ROLES)],
                ROLES[n % len(ROLES)],
                keep=n < 60,
            )
            for n in range(count)
        ]
        self.stdout.write(f"\nsockets: connecting {count} at {options['burst_rate']:g}/s ...")
        burst = fleet.connect(specs, rate=options["burst_rate"], timeout=options["connect_timeout"])
        time.sleep(1.0)
        maker = EventMaker([room], tag=run_tag())
        spreads, firsts, lasts, received, extra = [], [], [], [], 0
        interval = float(settings.ROOMWATCH_PUSH_INTERVAL_SECONDS)
        for n in range(options["fanout_repeats"]):
            time.sleep(interval + 0.3)
            fleet.mark()
            _, _, body = maker.join(0)
            sent = time.time()
            self.h.webhook_post(body, worker=n)
            arrivals = fleet.arrivals(wait=5.0)
            times = [t for _, t, _ in arrivals if t is not None]
            received.append(len(times))
            extra = max(extra, max((c for _, _, c in arrivals), default=0))
            if times:
                spreads.append((max(times) - min(times)) * 1000)
                firsts.append((min(times) - sent) * 1000)
                lasts.append((max(times) - sent) * 1000)
        texts = fleet.texts()
        worst_spread = max(spreads, default=math.nan)
        rows = [
            [
                "connect burst: connected / failed",
                f"{burst['connected']} / {burst['failed']}",
                f"all {count}",
                verdict(burst["connected"] == count),
            ],
            [
                "connect burst: seconds until every socket opened or failed",
                burst["seconds"],
                "",
                "",
            ],
            [
                "connect time ms p50 / p99 (opened sockets)",
                f"{percentile(burst['connect_ms'], 0.5):.0f} / "
                f"{percentile(burst['connect_ms'], 0.99):.0f}",
                f"timeout {options['connect_timeout']:g} s",
                "",
            ],
            [
                f"fan-out first-to-last ms (median of {len(spreads)} pushes)",
                median(spreads),
                "",
                "",
            ],
            [
                "fan-out first-to-last ms (worst push)",
                worst_spread,
                f"<= {TARGET_FANOUT_MS}",
                verdict(worst_spread <= TARGET_FANOUT_MS if spreads else False),
            ],
            ["webhook sent -> first socket ms (median)", median(firsts), "", ""],
            ["webhook sent -> last socket ms (median)", median(lasts), "", ""],
            [
                "sockets reached per push (min)",
                min(received, default=0),
                f"{count}",
                verdict(burst["connected"] > 0 and bool(received) and min(received) == count),
            ],
            ["messages per socket per push (max)", extra, "1", ""],
        ]
        if burst["errors"]:
            rows.append(["connect errors", str(burst["errors"]), "", ""])
        self.stdout.write(
            "\n"
            + table(
                f"Sockets ({count}, connect burst at {options['burst_rate']:g}/s; arrivals stamped "
                "by the one client process reading every socket):",
                ["", "value", "target", "met"],
                rows,
            )
        )
        self._roles_table(texts)

    def _roles_table(self, texts: list[tuple[str, list[str]]]) -> None:
        """Each role's sockets got one HTML, their role's: actions for moderators and
        admins, none for support."""
        by_role: dict[str, list[str]] = {}
        for label, received in texts:
            if received:
                by_role.setdefault(label, []).append(received[-1])
        rows = []
        for role in ROLES:
            got = by_role.get(role, [])
            distinct = len(set(got))
            acts = sum('data-action="kick"' in html for html in got)
            should_act = role != ROLES[0]
            ok = bool(got) and distinct == 1 and (acts == len(got) if should_act else acts == 0)
            rows.append(
                [
                    role,
                    len(got),
                    distinct,
                    acts,
                    "kick action in every one" if should_act else "no actions",
                    verdict(ok),
                ]
            )
        same = len({html for html in (by_role.get(r, [""])[0] for r in ROLES)})
        rows.append(["distinct HTML across the three roles", "", same, "", "", ""])
        self.stdout.write(
            "\n"
            + table(
                "Each socket gets its own role's HTML (last push, sampled sockets):",
                ["role", "sockets", "distinct HTML", "with kick action", "expected", "met"],
                rows,
            )
        )


def _statuses(load: LoadResult) -> str:
    bad = {status: n for status, n in load.statuses.items() if not 200 <= status < 300}
    if not bad:
        return "0"
    return ", ".join(f"{'no answer' if s == 0 else s}: {n}" for s, n in sorted(bad.items()))


def _cost(phase: Phase) -> float:
    cpu = phase.cpu_ms or {}
    return cpu.get("web", 0.0) + cpu.get("applier", 0.0) + cpu.get("db", 0.0)


def _db_cpu() -> dict[int, float]:
    """CPU seconds of this database's PostgreSQL backends, by pid (empty elsewhere)."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    out = {}
    for pid in pids:
        seconds = _pid_cpu(pid)
        if seconds is not None:
            out[pid] = seconds
    return out


def _pid_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of a process on this machine (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _db_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())
