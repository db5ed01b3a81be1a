"""Run the LiveKit-compatible simulator: `python manage.py livekit_sim`."""

from __future__ import annotations

import asyncio
import signal
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.livekit_sim import SimServer


class Command(BaseCommand):
    help = (
        "Serve a LiveKit-compatible API (Twirp RoomService/Egress/Ingress), signed webhooks "
        "and the /sim/ control API on one port. Ctrl-C stops it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        default_port = urlparse(settings.LIVEKIT_URL).port or 7880
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=default_port)
        parser.add_argument("--api-key", default=settings.LIVEKIT_API_KEY)
        parser.add_argument("--api-secret", default=settings.LIVEKIT_API_SECRET)
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="Where to POST webhooks; without it they are kept in GET /sim/webhooks/outbox.",
        )
        parser.add_argument(
            "--activity",
            type=int,
            default=0,
            metavar="N",
            help="Keep N demo rooms alive with realistic churn.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be between 0 and 65535")
        if options["activity"] < 0:
            raise CommandError("--activity must not be negative")
        webhook_url = options["webhook_url"]
        if webhook_url and urlparse(webhook_url).scheme not in ("http", "https"):
            raise CommandError("--webhook-url must be an http(s) URL")
        if not options["api_key"] or not options["api_secret"]:
            raise CommandError("an API key and secret are required")
        server = SimServer(
            options["api_key"],
            options["api_secret"],
            webhook_url=webhook_url,
            activity=options["activity"],
        )
        try:
            asyncio.run(self._serve(server, options["host"], options["port"]))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc

    async def _serve(self, server: SimServer, host: str, port: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await server.start(host, port)
        target = server.notifier.config.url or "the outbox (GET /sim/webhooks/outbox)"
        self.stdout.write(
            f"LiveKit simulator on {server.url} (API key {server.api_key}); webhooks to {target}",
        )
        self.stdout.flush()
        try:
            await stop.wait()
        finally:
            await server.stop()
            self.stdout.write("LiveKit simulator stopped.")
