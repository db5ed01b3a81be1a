"""A subscribe-only LiveKit signalling client for tests: what livekit-client's first
steps on ``/rtc`` are (connect with ``access_token``, read the join response, ping,
leave), driven from sync tests on a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from urllib.parse import urlencode

import aiohttp
from livekit.protocol import rtc as rtc_pb


class Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status
        self.text = text


class SignalClient:
    """``SignalClient(url, token).open()`` -> the first SignalResponse; ``close()`` leaves."""

    def __init__(self, url: str, token: str, *, path: str = "/rtc") -> None:
        self.url = url.replace("http://", "ws://").rstrip("/") + path
        self.token = token
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    def _run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    async def _open(self, params: dict[str, str]) -> rtc_pb.SignalResponse:
        self.session = aiohttp.ClientSession()
        query = urlencode({"access_token": self.token, "auto_subscribe": "1", **params})
        try:
            self.ws = await self.session.ws_connect(f"{self.url}?{query}")
        except aiohttp.WSServerHandshakeError as exc:
            async with self.session.get(
                f"{self.url.replace('ws://', 'http://')}/validate?{query}"
            ) as response:
                text = await response.text()
            await self.session.close()
            raise Refused(exc.status, text) from None
        message = await self.ws.receive(timeout=5)
        response = rtc_pb.SignalResponse()
        response.ParseFromString(message.data)
        return response

    def open(self, **params: str) -> rtc_pb.SignalResponse:
        try:
            return self._run(self._open(params))
        except Refused:
            self._stop()
            raise

    async def _ping(self) -> rtc_pb.SignalResponse:
        assert self.ws is not None
        await self.ws.send_bytes(
            rtc_pb.SignalRequest(ping_req=rtc_pb.Ping(timestamp=1)).SerializeToString()
        )
        message = await self.ws.receive(timeout=5)
        response = rtc_pb.SignalResponse()
        response.ParseFromString(message.data)
        return response

    def ping(self) -> rtc_pb.SignalResponse:
        return self._run(self._ping())

    async def _receive(self) -> Any:
        assert self.ws is not None
        return await self.ws.receive(timeout=5)

    def receive(self) -> Any:
        return self._run(self._receive())

    async def _close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()

    def close(self) -> None:
        try:
            self._run(self._close())
        finally:
            self._stop()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
