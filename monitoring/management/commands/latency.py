"""Measure webhook-to-screen latency: ``manage.py latency`` (run by hand, not in the suite).

Starts the LiveKit simulator in this process and the console under daphne with its
appliers (``monitoring.bench.harness``: DEBUG off, the configured database and Redis),
opens a room's page in Chromium signed in as support, keeps ``--pages`` pages open
in all (the rest as websocket pages on the same room and on the room list) and sends
``--background-rate`` signed webhooks per second to other rooms meanwhile. Then,
``--samples`` times, a participant joins in the simulator. Each sample is the time
from just before the simulator is told to send the webhook to the moment the
participant's row appears in the browser (a MutationObserver stamps it with the same
wall clock). Samples are spaced wider than the push coalescing interval so each one
shows the leading-edge push. Prints p50 and p99 (nearest rank) against the targets.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import SUPPORT
from monitoring.bench import seed
from monitoring.bench.events import run_tag
from monitoring.bench.harness import Harness
from monitoring.bench.loadgen import LoadPlan
from monitoring.bench.report import LoadSampler, percentile, table, verdict
from monitoring.browser import CHROMIUM, CHROMIUM_ARGS
from monitoring.models import Room

TARGET_P50_MS = 50
TARGET_P99_MS = 250
SAMPLE_TIMEOUT_MS = 20_000
# Sampling stops after this many samples in a row were not shown in time.
MISSES_IN_A_ROW = 3
WS_OPEN = "document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = true; });"
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


class Command(BaseCommand):
    help = "Measure the time from a simulator webhook to the browser showing it, under load."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--samples", type=int, default=50)
        parser.add_argument("--gap", type=float, default=0.6, help="seconds between samples")
        parser.add_argument("--pages", type=int, default=50, help="open pages in all")
        parser.add_argument(
            "--browser-pages",
            type=int,
            default=1,
            help="how many of the pages are Chromium tabs (the rest are websocket pages)",
        )
        parser.add_argument(
            "--background-rate", type=float, default=200, help="webhooks/s to other rooms"
        )
        parser.add_argument("--rooms", type=int, default=20, help="rooms the background load hits")
        parser.add_argument("--workers", type=int, default=1, help="daphne processes")
        parser.add_argument("--embedded", action="store_true", help="applier in the web process")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["samples"] < 1:
            raise CommandError("--samples must be at least 1")
        if options["pages"] < 1 or not 1 <= options["browser_pages"] <= options["pages"]:
            raise CommandError("--pages must be at least 1 and --browser-pages between 1 and it")
        if options["background_rate"] < 0 or options["rooms"] < 1:
            raise CommandError("--background-rate must not be negative, --rooms at least 1")
        if not Path(CHROMIUM).exists():
            raise CommandError(f"Chromium is needed at {CHROMIUM} (apt-get install -y chromium)")
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop
        loads = LoadSampler()
        missed: list[str] = []
        try:
            harness = Harness(web=options["workers"], embedded=options["embedded"], out=self.stdout)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        with harness:
            samples, background = self._run(harness, options, missed)
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        extra = options["pages"] - options["browser_pages"]
        rows: list[list[object]] = [
            ["p50 ms", p50, f"<= {TARGET_P50_MS}", verdict(p50 <= TARGET_P50_MS)],
            ["p99 ms (nearest rank)", p99, f"<= {TARGET_P99_MS}", verdict(p99 <= TARGET_P99_MS)],
            ["best / worst ms", f"{min(samples):.0f} / {max(samples):.0f}", "", ""],
            [
                f"samples not shown within {SAMPLE_TIMEOUT_MS / 1000:g} s (counted as that)",
                f"{len(missed)} of {len(samples)} taken ({options['samples']} asked)",
                "0",
                verdict(not missed),
            ],
            ["open pages", f"{options['browser_pages']} Chromium + {extra} websocket", "", ""],
            ["background webhooks/s (2xx)", background, f"{options['background_rate']:g}", ""],
        ]
        self.stdout.write(
            "\n"
            + table(
                f"Webhook -> browser over {len(samples)} samples "
                f"({harness.web} daphne, workers {harness.mode}):",
                ["", "value", "target", "met"],
                rows,
            )
        )
        self.stdout.write(loads.summary())
        self.stdout.write(
            f"webhook -> browser over {len(samples)} samples: "
            f"median {p50:.0f} ms, p99 {p99:.0f} ms, worst {max(samples):.0f} ms "
            f"(best {min(samples):.0f} ms)"
        )

    def _run(
        self, h: Harness, options: dict[str, Any], missed: list[str]
    ) -> tuple[list[float], float]:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout
        from playwright.sync_api import sync_playwright

        assert h.sim is not None and h.stack is not None and h.staff is not None
        tag = run_tag()
        probe = f"latency-probe-{tag.lower()}"
        h.sim.join(probe, "latency-host")
        h.sim.post("/sim/webhooks/flush")
        room = None
        for _ in range(200):
            room = Room.objects.filter(name=probe, ended_at__isnull=True).order_by("-pk").first()
            if room:
                break
            time.sleep(0.05)
        if room is None:
            raise CommandError("the probe room never reached the mirror")
        loaded = seed.rooms_seed(tag=tag, big=20, others=options["rooms"] - 1, other_size=3)
        extra = options["pages"] - options["browser_pages"]
        if extra:
            specs = h.page_sockets(extra, loaded[0], room.pk)
            opened = h.fleet.connect(specs, rate=100)
            if opened["connected"] != extra:
                raise CommandError(f"only {opened['connected']} of {extra} pages connected")
        samples: list[float] = []
        background, background_on = 0.0, False
        port = h.stack.ports[0]
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context()
                context.add_cookies(
                    [
                        {
                            "name": "sessionid",
                            "value": h.staff.sessions[SUPPORT],
                            "url": f"http://127.0.0.1:{port}",
                        }
                    ]
                )
                pages = []
                for n in range(options["browser_pages"]):
                    page = context.new_page()
                    page.add_init_script(WS_OPEN)
                    page.goto(f"{h.stack.bases[n % h.web]}/rooms/{room.pk}/")
                    page.wait_for_function("() => window.__wsOpen === true", timeout=15_000)
                    pages.append(page)
                page = pages[0]
                page.evaluate(OBSERVER)
                # The pages are open before the background load starts, as they would be.
                if options["background_rate"]:
                    h.loadgen.prepare(
                        LoadPlan(
                            urls=h.webhook_urls(),
                            rooms=loaded,
                            tag=run_tag(),
                            count=int(options["background_rate"] * 3600),
                            rate=options["background_rate"],
                            concurrency=16,
                            api_key=h.api_key,
                            api_secret=h.api_secret,
                            presign=False,
                        )
                    )
                    h.loadgen.go()
                    background_on = True
                    time.sleep(2.0)
                for n in range(options["samples"]):
                    identity = f"latency-{n}"
                    time.sleep(options["gap"])
                    sent = time.time() * 1000
                    h.sim.join(probe, identity)
                    try:
                        page.wait_for_function(
                            f"() => '{identity}' in window.__seen", timeout=SAMPLE_TIMEOUT_MS
                        )
                    except PlaywrightTimeout:
                        # Never shown in time: counted as the timeout, and said so.
                        missed.append(identity)
                        samples.append(float(SAMPLE_TIMEOUT_MS))
                        if missed[-MISSES_IN_A_ROW:] == [
                            f"latency-{k}" for k in range(n - MISSES_IN_A_ROW + 1, n + 1)
                        ]:
                            break  # the console is not keeping up: more samples say no more
                        continue
                    samples.append(page.evaluate(f"() => window.__seen['{identity}']") - sent)
                browser.close()
        finally:
            if background_on:
                h.loadgen.stop()
                result = h.loadgen.result(timeout=60)
                background = result.ok_per_second
        return samples, background
