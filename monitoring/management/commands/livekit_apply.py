"""``manage.py livekit_apply``: apply recorded webhooks to the mirror, in a loop.

Run one or more beside the web processes when ``ROOMWATCH_WORKERS=external``: each
claims batches of pending inbox events (several appliers never apply one room's
events out of order) and pushes what changed to the open pages. ``--once`` applies
what is pending and exits. Stops on SIGTERM or SIGINT after the current batch.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from monitoring.live import applier
from monitoring.live.pusher import pusher

logger = logging.getLogger("monitoring.livekit_apply")


class Command(BaseCommand):
    help = "Apply LiveKit events recorded in the inbox to the mirror (a loop, or --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Apply what is pending, exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            applied = applier.apply_pending()
            pusher.flush()
            self.stdout.write(f"Applied {applied} event(s); {applier.pending_count()} pending.")
            return
        stop = threading.Event()

        def request_stop(signum: int, _frame: Any) -> None:
            logger.info("livekit_apply: signal %s received, stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        pusher.start()
        logger.info("livekit_apply: applying events")
        applier.run_forever(stop=stop)
        pusher.stop()
        logger.info("livekit_apply: stopped")
