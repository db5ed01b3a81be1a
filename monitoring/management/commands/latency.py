"""Measure webhook-to-screen latency: ``manage.py latency`` (run by hand, not in the suite).

Starts the LiveKit simulator in this process and the console under Daphne
(``runserver``) against the configured database, signs a temporary staff member in
through the real login page in Chromium, opens a room's page and then, ``--samples``
times, has a participant join in the simulator. Each sample is the time from just
before the simulator is told to send the webhook to the moment the participant's row
appears in the browser (a MutationObserver stamps it with the same wall clock).
Samples are spaced wider than the push coalescing interval so each one shows the
leading-edge push. Prints the median and the worst.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import SUPPORT, role_assign
from monitoring.browser import CHROMIUM, CHROMIUM_ARGS
from monitoring.livekit_sim import SimServer
from monitoring.localhost import free_port
from monitoring.models import Room

ROOM = "latency-probe"
OBSERVER = """
() => {
  window.__seen = {};
  new MutationObserver(() => {
    document.querySelectorAll('tr[data-identity^="latency-"]').forEach((row) => {
      const id = row.dataset.identity;
      if (!(id in window.__seen)) { window.__seen[id] = Date.now(); }
    });
  }).observe(document.body, {childList: true, subtree: true});
}
"""


def _post(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


class Command(BaseCommand):
    help = "Measure the time from a simulator webhook to the browser showing it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--samples", type=int, default=50)
        parser.add_argument("--gap", type=float, default=0.6, help="seconds between samples")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["samples"] < 1:
            raise CommandError("--samples must be at least 1")
        if not Path(CHROMIUM).exists():
            raise CommandError(f"Chromium is needed at {CHROMIUM} (apt-get install -y chromium)")
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop
        key, secret = "latency-key", secrets.token_hex(24)
        sim = SimServer(key, secret)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(sim.start("127.0.0.1", free_port()), loop).result(10)
        password = secrets.token_urlsafe(18)
        username = f"latency-{secrets.token_hex(4)}"
        user = get_user_model().objects.create_user(
            username=username, password=password, is_staff=True
        )
        role_assign(user=user, role=SUPPORT)
        port = free_port()
        console = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "LIVEKIT_URL": sim.url,
            "LIVEKIT_API_KEY": key,
            "LIVEKIT_API_SECRET": secret,
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                "--noreload",
                "--insecure",
                f"127.0.0.1:{port}",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            samples = self._run(sim.url, console, username, password, options)
        finally:
            server.terminate()
            server.wait(timeout=10)
            asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            user.delete()
        self.stdout.write(
            f"webhook -> browser over {len(samples)} samples: "
            f"median {statistics.median(samples):.0f} ms, worst {max(samples):.0f} ms "
            f"(best {min(samples):.0f} ms)"
        )

    def _run(
        self, sim_url: str, console: str, username: str, password: str, options: dict[str, Any]
    ) -> list[float]:
        from playwright.sync_api import sync_playwright

        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{console}/accounts/login/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise CommandError("the console did not start") from None
                time.sleep(0.1)
        _post(f"{sim_url}/sim/webhooks", {"url": f"{console}/livekit/webhook"})
        _post(f"{sim_url}/sim/rooms/{ROOM}/participants", {"identity": "latency-host"})
        _post(f"{sim_url}/sim/webhooks/flush", {})
        room = None
        for _ in range(100):
            room = Room.objects.filter(name=ROOM, ended_at__isnull=True).order_by("-pk").first()
            if room:
                break
            time.sleep(0.05)
        if room is None:
            raise CommandError("the probe room never reached the mirror")
        samples: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.add_init_script(
                "document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = true; });"
            )
            page.goto(f"{console}/accounts/login/?next=/rooms/{room.pk}/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_function("() => window.__wsOpen === true", timeout=15_000)
            page.evaluate(OBSERVER)
            for n in range(options["samples"]):
                identity = f"latency-{n}"
                time.sleep(options["gap"])
                sent = time.time() * 1000
                _post(f"{sim_url}/sim/rooms/{ROOM}/participants", {"identity": identity})
                page.wait_for_function(f"() => '{identity}' in window.__seen", timeout=15_000)
                samples.append(page.evaluate(f"() => window.__seen['{identity}']") - sent)
            browser.close()
        return samples
