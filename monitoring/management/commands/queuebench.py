"""``manage.py queuebench``: report intake through the real HTTP API, and the queue page.

1. **Intake**: starts the console under daphne (DEBUG off, workers external, on the
   database and Redis this process is configured with), creates an API key and sends
   ``--reports`` reports to ``POST /api/v1/reports`` with ``--concurrency`` in flight
   (over ``--rooms`` rooms and a spread of identities and reporters, so reports join
   cases and report-surge alerts fire; a share are retries of an earlier
   ``report_id``). Prints reports per second and latency percentiles.
2. **Queue page**: seeds ``--cases`` open cases and renders ``/queue/`` as a support
   member ``--repeat`` times (in this process, through Django's test client), with
   100 cases first, to show the query count does not grow.

The reports and cases it creates are removed at the end; its two accounts are
deactivated and its key revoked (audit rows name them; the log is append-only).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import SUPPORT, role_assign
from monitoring.bench.report import load_average, percentile, table, verdict
from monitoring.bench.stack import Stack, console_env
from monitoring.models import Case, Report
from monitoring.moderation.api_keys import api_key_create, api_key_revoke

PREFIX = "qbench-"
TARGET_RATE = 500
TARGET_P99_MS = 50
TARGET_PAGE_MS = 50


class Command(BaseCommand):
    help = "Measure report intake over HTTP (daphne) and the queue page with many open cases."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reports", type=int, default=5000)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument(
            "--web", type=int, default=2, help="daphne processes (more than one needs Redis)"
        )
        parser.add_argument("--rooms", type=int, default=200)
        parser.add_argument("--retries", type=float, default=0.05, help="share of retries")
        parser.add_argument("--cases", type=int, default=10_000)
        parser.add_argument("--repeat", type=int, default=20)
        parser.add_argument("--skip-intake", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        self._cleanup()
        users = get_user_model().objects
        admin, _ = users.update_or_create(
            username=f"{PREFIX}admin",
            defaults={"is_staff": True, "is_superuser": True, "is_active": True},
        )
        support, _ = users.update_or_create(
            username=f"{PREFIX}support", defaults={"is_staff": True, "is_active": True}
        )
        role_assign(user=support, role=SUPPORT)
        rows: list[list[object]] = []
        try:
            if not options["skip_intake"]:
                rows += self._intake(admin=admin, options=options)
            self._cleanup_rows()
            rows += self._page(support=support, options=options)
        finally:
            self._cleanup()
        self.stdout.write(
            table(
                f"queuebench on {connection.vendor} (load average {load_average()}, "
                f"{os.cpu_count()} cores)",
                ["measure", "value", "target", "met"],
                rows,
            )
        )

    # -- intake -------------------------------------------------------------------

    def _intake(self, *, admin: Any, options: dict[str, Any]) -> list[list[object]]:
        key = api_key_create(actor=admin, name=f"{PREFIX}key")
        env = console_env(
            livekit_url="http://127.0.0.1:9",
            api_key="bench",
            api_secret=secrets.token_hex(24),
            secret_key=secrets.token_urlsafe(48),
            workers="external",
        )
        if options["web"] > 1 and not env.get("REDIS_URL"):
            raise CommandError("More than one daphne process needs REDIS_URL (Redis).")
        stack = Stack(env=env)
        bodies = self._bodies(options)
        try:
            stack.start(web=options["web"], appliers=0)
            urls = [base + "/api/v1/reports" for base in stack.bases]
            cpu_before = stack.cpu()["web"]
            # A short warm-up (connections, imports), not counted.
            asyncio.run(_send(urls, key.plaintext, bodies[:200], options["concurrency"]))
            started = time.monotonic()
            latencies, statuses = asyncio.run(
                _send(urls, key.plaintext, bodies[200:], options["concurrency"])
            )
            elapsed = time.monotonic() - started
            cpu = stack.cpu()["web"] - cpu_before
            # The ceiling of this stack here: the simplest authenticated API call (one
            # key look-up and one query), on the same processes, same concurrency.
            checks = [base + "/api/v1/bans/check?identity=viewer-1" for base in stack.bases]
            baseline_started = time.monotonic()
            baseline, _ = asyncio.run(
                _send(checks, key.plaintext, [b""] * 1000, options["concurrency"], method="GET")
            )
            baseline_rate = len(baseline) / (time.monotonic() - baseline_started)
            stack.check_alive()
        finally:
            stack.stop()
            api_key_revoke(actor=admin, api_key=key.api_key)
        sent = len(latencies)
        rate = sent / elapsed
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        bad = sum(1 for s in statuses if s not in (200, 201))
        stored = Report.objects.filter(room_name__startswith=PREFIX).count()
        cases = Case.objects.filter(room_name__startswith=PREFIX).count()
        alerts = Report.objects.filter(room_name__startswith=PREFIX, source="alert").count()
        return [
            [f"intake: reports sent (HTTP, {options['web']} daphne)", sent, "", ""],
            ["intake: reports/s", rate, f">= {TARGET_RATE}", verdict(rate >= TARGET_RATE)],
            ["intake: p50 ms", p50, "", ""],
            ["intake: p99 ms", p99, f"<= {TARGET_P99_MS}", verdict(p99 <= TARGET_P99_MS)],
            ["intake: max ms", max(latencies), "", ""],
            ["intake: non-2xx answers", bad, "0", verdict(bad == 0)],
            ["intake: stored reports / cases / alerts", f"{stored} / {cases} / {alerts}", "", ""],
            ["intake: web CPU ms per report", cpu * 1000 / max(sent, 1), "", ""],
            ["baseline: GET /api/v1/bans/check per s", baseline_rate, "", ""],
            ["baseline: GET /api/v1/bans/check p50 ms", percentile(baseline, 0.5), "", ""],
        ]

    def _bodies(self, options: dict[str, Any]) -> list[bytes]:
        rng = random.Random(7)
        categories = ["spam_or_scam", "harassment_or_bullying", "hate_speech", "other"]
        bodies: list[bytes] = []
        made: list[bytes] = []
        for n in range(options["reports"] + 200):
            if made and rng.random() < options["retries"]:
                bodies.append(rng.choice(made))
                continue
            room = rng.randrange(options["rooms"])
            body = {
                "report_id": f"{PREFIX}{n}",
                "room": f"{PREFIX}room-{room}",
                "reporter": f"viewer-{rng.randrange(5000)}",
                "category": rng.choice(categories),
                "text": "reported from the app",
            }
            if rng.random() < 0.7:
                body["identity"] = f"user-{rng.randrange(20)}"
            made.append(json.dumps(body).encode())
            bodies.append(made[-1])
        return bodies

    # -- the queue page -----------------------------------------------------------

    def _page(self, *, support: Any, options: dict[str, Any]) -> list[list[object]]:
        client = Client()
        client.force_login(support)
        self._seed(100)
        small_queries, _ = self._render(client, 3)
        self._seed(options["cases"] - 100, start=100)
        open_cases = Case.objects.filter(state="open").count()
        queries, times = self._render(client, options["repeat"])
        p50, worst = percentile(times, 0.5), max(times)
        return [
            ["queue page: open cases", open_cases, f">= {options['cases']}", ""],
            ["queue page: median ms", p50, f"<= {TARGET_PAGE_MS}", verdict(p50 <= TARGET_PAGE_MS)],
            ["queue page: p90 ms", percentile(times, 0.9), "", ""],
            ["queue page: median CPU ms (this process)", percentile(self._cpu, 0.5), "", ""],
            ["queue page: max ms", worst, "", ""],
            ["queue page: queries at 100 cases", small_queries, "", ""],
            [
                f"queue page: queries at {open_cases} cases",
                queries,
                "constant",
                verdict(queries == small_queries),
            ],
        ]

    def _render(self, client: Client, repeat: int) -> tuple[int, list[float]]:
        times: list[float] = []
        self._cpu: list[float] = []
        queries = 0
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                started, cpu = time.perf_counter(), time.process_time()
                response = client.get("/queue/", HTTP_HOST="localhost")
                times.append((time.perf_counter() - started) * 1000)
                self._cpu.append((time.process_time() - cpu) * 1000)
            assert response.status_code == 200, response.status_code
            queries = len(captured)
        return queries, times

    def _seed(self, count: int, *, start: int = 0) -> None:
        now = timezone.now()
        rng = random.Random(start)
        batch = [
            Case(
                room_name=f"{PREFIX}page-{n % 500}",
                identity=f"user-{n}",
                open_key=f"{PREFIX}page-{n}",
                report_count=rng.randrange(1, 20),
                reporter_count=rng.randrange(1, 12),
                categories=["spam_or_scam"],
                severity=rng.randrange(1, 6),
                opened_at=now,
                first_report_at=now,
                last_report_at=now - timezone.timedelta(minutes=rng.randrange(0, 600)),
            )
            for n in range(start, start + count)
        ]
        Case.objects.bulk_create(batch, batch_size=2000)

    # -- cleanup ------------------------------------------------------------------

    def _cleanup_rows(self) -> None:
        Report.objects.filter(room_name__startswith=PREFIX).delete()
        Case.objects.filter(room_name__startswith=PREFIX).delete()

    def _cleanup(self) -> None:
        # The accounts and (revoked) keys stay, deactivated: audit rows name them.
        self._cleanup_rows()
        get_user_model().objects.filter(username__startswith=PREFIX).update(is_active=False)


async def _send(
    urls: list[str], key: str, bodies: list[bytes], concurrency: int, *, method: str = "POST"
) -> tuple[list[float], list[int]]:
    import aiohttp

    latencies: list[float] = []
    statuses: list[int] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    deadline = time.monotonic() + 300  # bounded: the run stops by itself

    async def worker(session: aiohttp.ClientSession, n: int) -> None:
        url = urls[n % len(urls)]  # spread over the daphne processes
        while not queue.empty() and time.monotonic() < deadline:
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.request(method, url, data=body or None, headers=headers) as response:
                await response.read()
                statuses.append(response.status)
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session, n) for n in range(concurrency)))
    return latencies, statuses
