"""``manage.py demo``: the whole console on one machine, with a simulated LiveKit.

Migrates the database, creates (or refreshes) the ``admin`` account and prints its
password, then runs two children, each in its own process group:

- the LiveKit simulator with live activity, sending webhooks to the console;
- the console itself, served by Daphne (``runserver`` with Daphne installed, which
  also serves the static files), applying webhooks and reconciling in background
  threads (``ROOMWATCH_WORKERS=embedded``).

Ctrl-C (or SIGTERM) stops every child: SIGTERM to each group, SIGKILL to whatever is
left after a grace period. If a child dies on its own the demo stops the others and
exits non-zero.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.roles import ADMIN, role_assign

HOST = "127.0.0.1"
ADMIN_USERNAME = "admin"
DEMO_REPORTS_KEY_NAME = "demo viewer reports"
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the demo itself is killed (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: Ctrl-C still stops everything, only a SIGKILL of the demo can't


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers themselves do, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _answers(url: str) -> int | None:
    """The HTTP status ``url`` answers with, or None if nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


class Command(BaseCommand):
    help = "Run the console with a simulated LiveKit: one command, Ctrl-C stops everything."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Console port (8000).")
        parser.add_argument(
            "--sim-port", type=int, default=7880, help="LiveKit simulator port (7880)."
        )
        parser.add_argument(
            "--rooms", type=int, default=12, help="Rooms the simulator keeps busy (12)."
        )
        parser.add_argument(
            "--no-activity",
            action="store_true",
            help="Start the simulator empty (drive it yourself through /sim/).",
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="Log every request and webhook (by default only warnings and errors).",
        )
        parser.add_argument(
            "--password",
            default="",
            help="Password for the admin account (default: a new random one each start).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port, sim_port, rooms = options["port"], options["sim_port"], options["rooms"]
        for label, value in (("--port", port), ("--sim-port", sim_port)):
            if not 1 <= value <= 65535:
                raise CommandError(f"{label} must be a TCP port between 1 and 65535.")
        if port == sim_port:
            raise CommandError("--port and --sim-port must differ.")
        if rooms < 0:
            raise CommandError("--rooms cannot be negative.")
        for label, value in (("--port", port), ("--sim-port", sim_port)):
            if not _port_free(value):
                raise CommandError(
                    f"Port {value} on {HOST} is already in use; choose another with {label}."
                )

        database = settings.DATABASES["default"]
        self.stdout.write(f"Migrating the database ({database['NAME']})...")
        call_command("migrate", interactive=False, verbosity=0)
        password = options["password"] or secrets.token_urlsafe(12)
        self._admin_refresh(password=password)
        self.stdout.write(f"Sign in as {ADMIN_USERNAME} / {password}")

        self._children: list[Child] = []
        self._stop_signal: int | None = None
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        failed: str | None = None
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if not options["verbose"] and "LOG_LEVEL" not in os.environ:
            # Every request and webhook at INFO buries the sign-in line within seconds.
            self._env["LOG_LEVEL"] = "WARNING"
        self._verbose = bool(options["verbose"])
        try:
            self._start_children(
                port=port,
                sim_port=sim_port,
                rooms=0 if options["no_activity"] else rooms,
            )
            failed = self._wait_until_ready(port=port, sim_port=sim_port)
            if failed is None and self._stop_signal is None:
                self._banner(port=port, sim_port=sim_port, password=password)
                failed = self._watch()
        finally:
            self._stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed:
            raise CommandError(failed)
        self.stdout.write("Roomwatch demo stopped.")

    # ----------------------------------------------------------------- steps

    def _admin_refresh(self, *, password: str) -> None:
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(
                username=ADMIN_USERNAME, defaults={"email": "admin@example.org"}
            )
            user.is_staff = True
            user.is_active = True
            user.set_password(password)
            user.save()
            role_assign(user=user, role=ADMIN)
        # A demo admin locked out by earlier failed logins would be a dead end.
        from axes.utils import reset

        reset(username=ADMIN_USERNAME)
        self.stdout.write(f"{'Created' if created else 'Refreshed'} the demo admin account.")

    def _demo_reports_key(self) -> str:
        """A fresh API key for the simulated platform's viewer reports (the last one revoked)."""
        from monitoring.models import ApiKey
        from monitoring.moderation.api_keys import api_key_create, api_key_revoke

        admin = get_user_model().objects.get(username=ADMIN_USERNAME)
        for old in ApiKey.objects.filter(name=DEMO_REPORTS_KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(actor=admin, api_key=old)
        return api_key_create(actor=admin, name=DEMO_REPORTS_KEY_NAME).plaintext

    def _spawn(self, name: str, *arguments: str, env: dict[str, str]) -> None:
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *arguments]
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            start_new_session=True,  # its own process group, stopped as a whole
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._children.append(Child(name=name, process=process))
        self.stdout.write(f"Started {name} (pid {process.pid}).")

    def _start_children(self, *, port: int, sim_port: int, rooms: int) -> None:
        env = self._env
        env["LIVEKIT_URL"] = f"http://{HOST}:{sim_port}"
        # One process serves it all: Daphne also runs the applier and the reconciler
        # (so without Redis every change still reaches the open pages).
        env["ROOMWATCH_WORKERS"] = "embedded"
        simulator = [
            "livekit_sim",
            "--host",
            HOST,
            "--port",
            str(sim_port),
            "--webhook-url",
            f"http://{HOST}:{port}/livekit/webhook",
        ]
        if rooms:
            simulator += ["--activity", str(rooms)]
            env["ROOMWATCH_DEMO_REPORTS_URL"] = f"http://{HOST}:{port}/api/v1/reports"
            env["ROOMWATCH_DEMO_REPORTS_KEY"] = self._demo_reports_key()
        self._spawn("the LiveKit simulator", *simulator, env=env)
        self._spawn(
            "the console (Daphne)",
            "runserver",
            f"{HOST}:{port}",
            "--noreload",
            "--insecure",  # serve /static/ even if DEBUG is off
            "--skip-checks",
            env=env,
        )

    def _wait_until_ready(self, *, port: int, sim_port: int) -> str | None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        pending = {
            "the LiveKit simulator": f"http://{HOST}:{sim_port}/sim/state",
            "the console": f"http://{HOST}:{port}/accounts/login/",
        }
        while pending and self._stop_signal is None:
            if (failed := self._dead_child()) is not None:
                return failed
            for name, url in list(pending.items()):
                if _answers(url) is not None:
                    del pending[name]
            if time.monotonic() > deadline:
                return (
                    f"{' and '.join(pending)} did not start within {STARTUP_TIMEOUT_SECONDS:g} s."
                )
            if pending:
                time.sleep(POLL_SECONDS)
        return None

    def _banner(self, *, port: int, sim_port: int, password: str) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                "\n"
                f"  Roomwatch is running:  http://{HOST}:{port}/\n"
                f"  Sign in as:            {ADMIN_USERNAME} / {password}\n"
                f"  LiveKit simulator:     http://{HOST}:{sim_port}/sim/state\n"
                f"  Health:                http://{HOST}:{port}/healthz\n"
                + (
                    ""
                    if getattr(self, "_verbose", False)
                    else "  Request logs are off:  run with --verbose to see them.\n"
                )
                + "  Press Ctrl-C to stop.\n"
            )
        )

    def _watch(self) -> str | None:
        while self._stop_signal is None:
            if (failed := self._dead_child()) is not None:
                return failed
            time.sleep(POLL_SECONDS)
        return None

    def _dead_child(self) -> str | None:
        for child in self._children:
            if not child.alive:
                return f"{child.name} exited with status {child.process.returncode}; stopping."
        return None

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stop_signal = signum

    def _stop_children(self) -> None:
        children = [child for child in getattr(self, "_children", []) if child.alive]
        if not children:
            return
        self.stdout.write("Stopping the demo...")
        for child in children:
            _signal_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and any(child.alive for child in children):
            time.sleep(0.05)
        for child in children:
            if child.alive:
                self.stderr.write(f"{child.name} did not stop within the grace period; killed.")
            # SIGKILL the whole group: also whatever a child started and left behind.
            _signal_group(child.process.pid, signal.SIGKILL)
            child.process.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, sig)
