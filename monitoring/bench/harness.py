"""Everything a measurement starts, in one place: ``with Harness(...) as h:``.

It migrates the target database (the one this process uses), starts the simulator,
the console under daphne (``web`` processes) and, with external workers, ``appliers``
``manage.py livekit_apply`` processes; creates a staff member per role with a session
on that console; and on exit stops all of it and removes what it created.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db.models import Q

from monitoring.bench import bare, seed
from monitoring.bench.events import RoomSpec, headers, sign
from monitoring.bench.fleet import Fleet, SocketSpec
from monitoring.bench.loadgen import LoadProcess
from monitoring.bench.stack import SimRunner, Stack, console_env
from monitoring.bench.staff import ROLES, StaffSessions, leftovers_remove
from monitoring.models import SyncState


class Harness:
    def __init__(
        self, *, web: int = 1, appliers: int = 1, embedded: bool = False, out: Any = None
    ) -> None:
        if not settings.REDIS_URL and (web > 1 or not embedded):
            # Without Redis a push cannot leave the process that made it: the applier
            # must run inside the (single) web process.
            if web > 1:
                raise ValueError("more than one web process needs REDIS_URL (Redis)")
            embedded = True
        self.web = web
        self.embedded = embedded
        self.appliers = 0 if embedded else appliers
        self.api_key = "bench-key"
        self.api_secret = secrets.token_hex(24)
        self.secret_key = secrets.token_urlsafe(48)
        self.out = out
        self.sim: SimRunner | None = None
        self.stack: Stack | None = None
        self.staff: StaffSessions | None = None
        self._loadgen: LoadProcess | None = None
        self._fleet: Fleet | None = None

    @property
    def mode(self) -> str:
        return "embedded" if self.embedded else "external"

    def __enter__(self) -> Harness:
        # A SIGTERM (e.g. from `timeout`) unwinds through __exit__, so no child is left.
        signal.signal(signal.SIGTERM, _terminate)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _say(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text)
            self.out.flush()

    def _start(self) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        bare.table_create()
        bare.table_clear()
        leftovers_remove()
        seed.load_rooms_remove()
        self.sim = SimRunner(self.api_key, self.api_secret).start()
        env = console_env(
            livekit_url=self.sim.url,
            api_key=self.api_key,
            api_secret=self.api_secret,
            secret_key=self.secret_key,
            workers=self.mode,
        )
        self.stack = Stack(env)
        started = time.time()
        self._say(
            f"starting {self.web} daphne process(es), "
            f"{self.appliers if not self.embedded else 'embedded'} applier(s) ...\n"
        )
        self.stack.start(web=self.web, appliers=self.appliers)
        if self.embedded:
            self._first_sync_wait(started)
        self.sim.post("/sim/webhooks", {"url": self.webhook_urls()[0]})
        self.staff = StaffSessions(secret_key=self.secret_key)

    def _first_sync_wait(self, since: float, timeout: float = 30) -> None:
        """Embedded workers reconcile once at start (against the empty simulator): wait
        for that pass, so it cannot end the rooms seeded after it."""
        from datetime import UTC, datetime

        at = datetime.fromtimestamp(since - 1, tz=UTC)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if SyncState.objects.filter(
                Q(last_success_at__gte=at) | Q(last_error_at__gte=at)
            ).exists():
                return
            time.sleep(0.1)

    # -- parts ----------------------------------------------------------------

    @property
    def loadgen(self) -> LoadProcess:
        if self._loadgen is None:
            self._loadgen = LoadProcess()
        return self._loadgen

    @property
    def fleet(self) -> Fleet:
        if self._fleet is None:
            self._fleet = Fleet()
        return self._fleet

    def webhook_urls(self) -> list[str]:
        assert self.stack is not None
        return [f"{base}/livekit/webhook" for base in self.stack.bases]

    def bare_urls(self) -> list[str]:
        assert self.stack is not None
        return [f"{base}{bare.PATH}" for base in self.stack.bases]

    def socket(self, n: int, path: str, role: str, label: str, *, keep: bool = False) -> SocketSpec:
        """The ``n``-th page's socket (pages are spread over the web processes in turn)."""
        assert self.stack is not None and self.staff is not None
        port = self.stack.ports[n % len(self.stack.ports)]
        return SocketSpec(
            url=f"ws://127.0.0.1:{port}{path}",
            session=self.staff.sessions[role],
            origin=f"http://127.0.0.1:{port}",
            label=label,
            keep=keep,
        )

    def page_sockets(self, count: int, room: RoomSpec, room_id: int) -> list[SocketSpec]:
        """``count`` open pages: every other one the room's page, the rest the room list,
        the roles in turn."""
        specs = []
        for n in range(count):
            role = ROLES[n % len(ROLES)]
            if n % 2 == 0:
                specs.append(self.socket(n, f"/ws/rooms/{room_id}/", role, "room page"))
            else:
                specs.append(self.socket(n, "/ws/rooms/", role, "room list"))
        return specs

    def webhook_post(self, body: str, *, worker: int = 0) -> int:
        """Send one signed webhook now (as LiveKit would); return the HTTP status."""
        request = urllib.request.Request(
            self.webhook_urls()[worker % self.web],
            data=body.encode(),
            headers=headers(sign(body, api_key=self.api_key, api_secret=self.api_secret)),
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)

    def close(self) -> None:
        for part in (self._fleet, self._loadgen):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
        self._fleet = self._loadgen = None
        if self.stack is not None:
            self.stack.stop()
        if self.sim is not None:
            with contextlib.suppress(Exception):
                self.sim.stop()
        try:
            if self.staff is not None:
                self.staff.remove()
            seed.load_rooms_remove()
            bare.table_clear()
        except Exception:
            pass


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
