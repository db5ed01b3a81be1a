"""Database work from async code (the websocket consumers), off Channels' one thread.

``database_sync_to_async`` runs every call on one thread by default, so a burst of
sockets connecting queues on it. :func:`db_call` runs the call in the shared thread
pool instead and gives the thread's pooled connection back when it returns (a pool
thread outlives the call, and a connection it kept would be lost to the pool).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections


def db_call(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=False)
