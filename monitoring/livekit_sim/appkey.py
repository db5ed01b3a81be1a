"""The aiohttp application key under which handlers find their `SimServer`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import SimServer

SIM: web.AppKey[SimServer] = web.AppKey("sim", Any)  # type: ignore[arg-type]
