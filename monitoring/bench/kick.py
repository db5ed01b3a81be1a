"""A kick through the console (its form, posted as the page posts it) against the bare
``RemoveParticipant`` call, in the same run, against the simulator.

Console: for each target, the moderator's dialog is fetched (``GET .../actions/kick/form``,
which renders the one-time token and the CSRF field) and then posted with htmx's
header; the timed part is the POST until the moderator's answer. Bare: the same call
the console makes, ``livekit.api`` ``RoomService.RemoveParticipant``, timed alone.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from monitoring.bench.stack import SimRunner
from monitoring.models import Participant, Room
from monitoring.moderation.reasons import REASON_PRESETS

HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)"')


@dataclass
class KickResult:
    console_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    console_failed: list[str] = field(default_factory=list)
    still_present: int = 0

    @property
    def console_p50(self) -> float:
        return statistics.median(self.console_ms) if self.console_ms else float("nan")

    @property
    def bare_p50(self) -> float:
        return statistics.median(self.bare_ms) if self.bare_ms else float("nan")


def targets_join(sim: SimRunner, *, room: str, identities: list[str], timeout: float = 30) -> Room:
    """Join ``identities`` in the simulator (its webhooks reach the console) and wait
    until the mirror shows every one of them present."""
    for identity in identities:
        sim.join(room, identity)
    sim.post("/sim/webhooks/flush")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mirror = Room.objects.filter(name=room, ended_at__isnull=True).order_by("-pk").first()
        if mirror is not None:
            present = Participant.objects.filter(
                room=mirror, identity__in=identities, left_at__isnull=True
            ).count()
            if present == len(identities):
                return mirror
        time.sleep(0.05)
    raise RuntimeError(f"the mirror did not show the {len(identities)} kick targets in time")


async def _console_kicks(
    base: str, session: str, room: Room, identities: list[str], result: KickResult
) -> None:
    import aiohttp
    from yarl import URL

    jar = aiohttp.CookieJar(unsafe=True)
    jar.update_cookies({"sessionid": session}, URL(base))
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        for n, identity in enumerate(identities):
            form_url = f"{base}/rooms/{room.pk}/actions/kick/form?identity={quote(identity)}"
            async with client.get(form_url, headers={"HX-Request": "true"}) as answer:
                html = await answer.text()
                if answer.status != 200:
                    result.console_failed.append(f"form {answer.status}")
                    continue
            fields = {m["name"]: m["value"] for m in HIDDEN.finditer(html)}
            data = {
                **fields,
                "identity": identity,
                "reason_preset": REASON_PRESETS[0],
                "reason": "load test",
            }
            started = time.perf_counter()
            async with client.post(
                f"{base}/rooms/{room.pk}/actions/kick",
                data=data,
                headers={"HX-Request": "true", "HX-Target": "moderation-dialog"},
            ) as answer:
                body = await answer.text()
                elapsed = (time.perf_counter() - started) * 1000
            if answer.status != 200 or "was removed" not in body:
                result.console_failed.append(f"POST {answer.status}")
            elif n > 0:  # the first one warms the connection and the caches
                result.console_ms.append(elapsed)


async def _bare_kicks(sim: SimRunner, room: str, identities: list[str], result: KickResult) -> None:
    from livekit import api

    async with api.LiveKitAPI(sim.url, sim.server.api_key, sim.server.api_secret) as client:
        for n, identity in enumerate(identities):
            started = time.perf_counter()
            await client.room.remove_participant(
                api.RoomParticipantIdentity(room=room, identity=identity)
            )
            elapsed = (time.perf_counter() - started) * 1000
            if n > 0:
                result.bare_ms.append(elapsed)


def kicks_measure(
    *, sim: SimRunner, base: str, session: str, room_name: str, count: int
) -> KickResult:
    """``count`` timed kicks each way (plus one untimed warm-up each)."""
    console_targets = [f"kick-console-{n}" for n in range(count + 1)]
    bare_targets = [f"kick-bare-{n}" for n in range(count + 1)]
    room = targets_join(sim, room=room_name, identities=console_targets + bare_targets)
    result = KickResult()
    asyncio.run(_console_kicks(base, session, room, console_targets, result))
    asyncio.run(_bare_kicks(sim, room_name, bare_targets, result))
    state: Any = sim.get("/sim/state")
    left = {
        p["identity"]
        for r in state.get("rooms", [])
        if r.get("name") == room_name
        for p in r.get("participants", [])
    }
    result.still_present = len(left & set(console_targets + bare_targets))
    return result
