"""Starting the live path's workers: in their own processes, or embedded in the web one.

``ROOMWATCH_WORKERS=embedded`` (the default, and the demo) makes the web process run
the applier and the reconciler in background threads, so one command serves
everything; ``applier`` embeds only the applier; ``external`` leaves both to their own
processes (``manage.py livekit_apply``, ``manage.py livekit_sync``). Every process
pushes its own changes from its pusher thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from monitoring.live import applier
from monitoring.live.pusher import pusher

logger = logging.getLogger(__name__)

_started = threading.Lock()
_stop = threading.Event()
_threads: list[threading.Thread] = []


def web_process_start() -> None:
    """Called once by the ASGI application: the pusher, and the embedded workers."""
    if not _started.acquire(blocking=False):
        return
    pusher.start()
    if settings.ROOMWATCH_WORKERS in ("embedded", "applier"):
        _thread("applier", _applier_run)
        logger.info("live path: the applier runs in this process")
    if settings.ROOMWATCH_WORKERS == "embedded":
        _thread("reconciler", _reconciler_run)
        logger.info("live path: the reconciler runs in this process")


class StartWorkers:
    """ASGI middleware: starts this process's workers on its first HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not _started.locked():
            web_process_start()
        await self.app(scope, receive, send)


def _thread(name: str, target: object) -> None:
    thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
    thread.start()
    _threads.append(thread)


def _applier_run() -> None:
    applier.run_forever(stop=_stop)


def _reconciler_run() -> None:
    from monitoring import reconciler

    run = getattr(reconciler, "run_forever", None)
    if run is not None:
        run(stop=_stop)
        return
    while not _stop.is_set():
        try:
            reconciler.reconcile_once()
        except Exception:
            logger.exception("embedded reconciler: pass failed")
        finally:
            close_old_connections()
        _stop.wait(settings.ROOMWATCH_SYNC_INTERVAL_SECONDS)


def stop(timeout: float = 5.0) -> None:
    _stop.set()
    for thread in _threads:
        thread.join(timeout)
    pusher.stop(timeout)
