"""`SimServer`: the Twirp API, the /sim/ control API and webhook delivery on one port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiohttp import web

from . import control, rtc, twirp
from .appkey import SIM
from .state import SimClock, SimState
from .webhooks import WebhookNotifier

CLOSING_CHECK_SECONDS = 1.0


class SimServer:
    """A LiveKit-compatible server held in memory.

    ``clock`` returns unix seconds (default `time.time`); ``/sim/clock`` moves the
    simulator's time forward on top of it. ``unavailable_delay`` is how long a
    request routed to a participant nobody hosts waits before its 503.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        webhook_url: str | None = None,
        clock: Callable[[], float] | None = None,
        *,
        activity: int = 0,
        unavailable_delay: float = 1.0,
        webhook_retry_base_seconds: float = 1.0,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("the simulator needs an API key and secret")
        self.api_key = api_key
        self.api_secret = api_secret
        self.keys = {api_key: api_secret}
        self.activity_rooms = activity
        self.unavailable_delay = unavailable_delay
        self.clock = SimClock(clock)
        self.notifier = WebhookNotifier(
            api_key=api_key,
            api_secret=api_secret,
            url=webhook_url,
            retry_base_seconds=webhook_retry_base_seconds,
        )
        self.state = SimState(self.clock, on_event=self.notifier.enqueue)
        self.url = ""
        self.host = ""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._activity = None

    def build_app(self) -> web.Application:
        app = web.Application()
        app[SIM] = self
        app.add_routes(control.routes)
        rtc.add_routes(app)  # /rtc signalling for hidden subscribers
        app.router.add_route("*", "/sim/{tail:.*}", control.not_found)
        app.router.add_route("*", "/twirp/livekit.{service}/{method}", twirp.handle)
        app.router.add_route("*", "/twirp/{service}/{method}", twirp.handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 7880) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.host = host
        self.port = sockets[0].getsockname()[1] if sockets else port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self._tasks.append(asyncio.get_running_loop().create_task(self._close_idle_rooms()))
        if self.activity_rooms:
            from .activity import Activity

            self._activity = Activity(self.state, rooms=self.activity_rooms)
            self._tasks.append(asyncio.get_running_loop().create_task(self._activity.run()))

    async def reset(self) -> None:
        await self.notifier.reset()
        self.state.reset()
        self.clock.offset = 0.0

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.notifier.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _close_idle_rooms(self) -> None:
        while True:
            await asyncio.sleep(CLOSING_CHECK_SECONDS)
            self.state.check_closing()
