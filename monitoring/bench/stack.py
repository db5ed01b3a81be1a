"""Start what a measurement needs on this machine, and stop it again.

- :func:`console_env`: the environment of a local production-like run (DEBUG off, the
  settings that then become required, the measuring command's own database and Redis);
- :class:`Stack`: ``W`` daphne processes (each on its own port) serving
  ``monitoring.bench.asgi`` (the console plus the bare endpoint), and the appliers
  (``manage.py livekit_apply``) when the workers are external;
- :class:`SimRunner`: the LiveKit simulator on its own event loop in this process.

Each child's output goes to a log file, shown when it fails to start.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from monitoring.livekit_sim import SimServer
from monitoring.localhost import free_port

ASGI_APP = "monitoring.bench.asgi:application"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def database_url() -> str:
    """The URL of the database this process uses (in tests: the test database)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def console_env(
    *,
    livekit_url: str,
    api_key: str,
    api_secret: str,
    secret_key: str,
    workers: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """A production-like local run: DEBUG off, with what that makes required."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_COOKIES": "false",  # plain http on this machine
        "SECURE_HSTS_SECONDS": "0",
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": api_key,
        "LIVEKIT_API_SECRET": api_secret,
        "ROOMWATCH_WORKERS": workers,
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": "WARNING",
        # The measurement owns its mirror (the simulator does not hold the seeded rooms):
        # the reconciler (embedded workers only) runs its first pass at start, then
        # neither a pass nor a watched-room poll during the run.
        "ROOMWATCH_SYNC_INTERVAL_SECONDS": "86400",
        "ROOMWATCH_WATCH_POLL_MS": "86400000",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra or {})
    return env


@dataclass
class Child:
    kind: str  # "web" or "applier"
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time this process has used so far."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    """The console's processes on this machine."""

    env: dict[str, str]
    ports: list[int] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    logdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roomwatch-bench-")))

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self, *, web: int, appliers: int, timeout: float = 60) -> None:
        for n in range(web):
            port = free_port()
            self.ports.append(port)
            self._spawn(
                "web",
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI_APP],
                f"web-{n}",
            )
        for n in range(appliers):
            self._spawn("applier", [sys.executable, "manage.py", "livekit_apply"], f"applier-{n}")
        deadline = time.monotonic() + timeout
        for base in self.bases:
            self._wait_http(f"{base}/healthz", deadline)

    def _spawn(self, kind: str, argv: list[str], name: str) -> None:
        log = self.logdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=settings.BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.children.append(Child(kind, process, log))

    def _wait_http(self, url: str, deadline: float) -> None:
        while True:
            for child in self.children:
                if child.process.poll() is not None:
                    raise RuntimeError(
                        f"{child.kind} process exited with {child.process.returncode}:\n"
                        f"{child.log_tail()}"
                    )
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers (503 while LiveKit or Redis is not ready is fine)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer in time") from None
                time.sleep(0.1)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far, per kind of process."""
        out: dict[str, float] = {"web": 0.0, "applier": 0.0}
        for child in self.children:
            out[child.kind] = out.get(child.kind, 0.0) + child.cpu_seconds()
        return out

    def check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise RuntimeError(
                    f"a {child.kind} process died ({child.process.returncode}):\n{child.log_tail()}"
                )

    def stop(self) -> None:
        for child in self.children:
            if child.process.poll() is None:
                child.process.terminate()
        for child in self.children:
            try:
                child.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(timeout=5)
        self.children = []


class SimRunner:
    """The LiveKit simulator on its own event loop in a daemon thread of this process."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.server = SimServer(api_key, api_secret, unavailable_delay=0.2)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="sim")

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> SimRunner:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(
            self.server.start("127.0.0.1", free_port()), self.loop
        ).result(10)
        return self

    def post(self, path: str, payload: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(payload or {}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def join(self, room: str, identity: str) -> Any:
        return self.post(f"/sim/rooms/{quote(room, safe='')}/participants", {"identity": identity})

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
