"""``manage.py livekit_sync``: keep the mirror equal to LiveKit.

Runs a reconciliation pass every ``ROOMWATCH_SYNC_INTERVAL_SECONDS`` until SIGTERM
or SIGINT (``--once`` for a single pass), each followed by the ending of restrictions
that ran out (their permissions given back), and beside it polls the watched rooms
(open room pages and walls) every ``ROOMWATCH_WATCH_POLL_MS``. Errors are logged and
the loops go on; several copies may run, only one reconciles at a time.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import realtime
from monitoring.moderation.restrictions import restrictions_expire_due
from monitoring.reconciler import reconcile_once, run_forever

logger = logging.getLogger("monitoring.livekit_sync")


class Command(BaseCommand):
    help = "Reconcile the mirror with LiveKit's API, in a loop (or once with --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between passes (default: ROOMWATCH_SYNC_INTERVAL_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            result = reconcile_once()
            expired = restrictions_expire_due()
            realtime.pushes_flush()
            if not result.ran:
                self.stdout.write("Another process is reconciling; nothing done.")
                return
            if result.error:
                raise CommandError(f"LiveKit could not be read: {result.error}")
            self.stdout.write(
                f"Reconciled {result.rooms_seen} room(s); "
                f"corrected {len(result.corrected_room_ids)}."
            )
            self.stdout.write(
                f"Listed the participants of {result.rooms_checked} room(s) "
                f"({result.rooms_disagreeing} disagreeing, {result.rooms_watched} watched, "
                f"{result.rooms_rotated} in rotation); {result.livekit_calls} LiveKit calls, "
                f"{result.queries} queries, {result.duration_ms} ms."
            )
            for line in result.corrections:
                self.stdout.write(f"  {line}")
            if expired:
                self.stdout.write(f"Ended {expired} restriction(s) that ran out.")
            return
        interval = options["interval"] or settings.ROOMWATCH_SYNC_INTERVAL_SECONDS
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        stop = threading.Event()

        def request_stop(signum: int, _frame: Any) -> None:
            logger.info("livekit_sync: signal %s received, stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        logger.info(
            "livekit_sync: reconciling every %s s, watched rooms every %s s",
            interval,
            settings.ROOMWATCH_WATCH_POLL_SECONDS,
        )
        run_forever(stop=stop, interval=interval)
        realtime.pushes_flush()
        logger.info("livekit_sync: stopped")
