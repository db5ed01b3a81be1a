"""``manage.py screenshots DIR``: a picture of every page and dialog at 1440x900 and 390x844.

Starts what it needs, like ``manage.py latency`` does, and leaves nothing behind: the
LiveKit simulator in this process, a fresh SQLite database in a temporary directory
(never the configured one), an admin account in it, and the console under Daphne
(``runserver``) against both. The simulator is filled with the rooms of
``monitoring.ui_tour.seed_simulator`` (through real webhooks); then, in Chromium
(``/usr/bin/chromium``), the admin bans someone and mutes a microphone through the dialogs
so the Bans page and the audit log have rows, and every page of
``ui_tour.PAGES`` and dialog of ``ui_tour.DIALOGS`` is photographed at both sizes:
``DIR/<size>-<page>.png`` (whole pages) and ``DIR/<size>-dialog-<name>.png`` (the
viewport, with the dialog open). ``--axe`` also prints axe-core's serious and critical
findings for each page.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import ui_tour
from monitoring.browser import CHROMIUM, CHROMIUM_ARGS
from monitoring.livekit_sim import SimServer
from monitoring.localhost import free_port

USERNAME = "screenshots-admin"


class Command(BaseCommand):
    help = "Write screenshots of every page and dialog at 1440x900 and 390x844 to DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="Where to write the PNG files (created if needed).")
        parser.add_argument(
            "--axe", action="store_true", help="Also run axe-core on each page and print findings."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not Path(CHROMIUM).exists():
            raise CommandError(f"Chromium is needed at {CHROMIUM} (apt-get install -y chromium)")
        out = Path(options["directory"])
        out.mkdir(parents=True, exist_ok=True)
        key, secret = "screenshots-key", secrets.token_hex(24)
        sim = SimServer(key, secret)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(sim.start("127.0.0.1", free_port()), loop).result(10)
        password = secrets.token_urlsafe(18)
        with tempfile.TemporaryDirectory(prefix="roomwatch-shots-") as tmp:
            env = {
                key_: value
                for key_, value in os.environ.items()
                if not key_.startswith(("LIVEKIT_", "REDIS_", "DATABASE_", "DJANGO_ALLOW"))
            }
            env.update(
                DATABASE_URL=f"sqlite:///{Path(tmp) / 'screenshots.sqlite3'}",
                LIVEKIT_URL=sim.url,
                LIVEKIT_API_KEY=key,
                LIVEKIT_API_SECRET=secret,
                LOG_LEVEL="WARNING",
                DJANGO_SUPERUSER_PASSWORD=password,
                PYTHONUNBUFFERED="1",
            )
            self._manage(env, "migrate", "--noinput", "-v", "0")
            self._manage(
                env,
                "createsuperuser",
                "--noinput",
                "--username",
                USERNAME,
                "--email",
                "admin@example.org",
            )
            port = free_port()
            console = f"http://127.0.0.1:{port}"
            log = (Path(tmp) / "console.log").open("wb")
            server = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    "--insecure",
                    "--skip-checks",
                    f"127.0.0.1:{port}",
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                self._wait_for(console, server, Path(tmp) / "console.log")
                ui_tour._post(sim.url, "/sim/webhooks", {"url": f"{console}/livekit/webhook"})
                ui_tour.seed_simulator(sim.url)
                written = self._photograph(console, password, out, axe=options["axe"])
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=5)
                log.close()
                asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
                loop.call_soon_threadsafe(loop.stop)
        self.stdout.write(f"Wrote {len(written)} screenshots to {out}:")
        for path in written:
            self.stdout.write(f"  {path.name}")

    def _manage(self, env: dict[str, str], *arguments: str) -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise CommandError(f"manage.py {arguments[0]} failed:\n{done.stderr[-2000:]}")

    def _wait_for(self, console: str, server: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"the console exited:\n{log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{console}/accounts/login/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise CommandError("the console did not start within 40 s")

    def _photograph(self, console: str, password: str, out: Path, *, axe: bool) -> list[Path]:
        from playwright.sync_api import sync_playwright

        written: list[Path] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport=ui_tour.SIZES["desktop"])
                page = context.new_page()
                page.set_default_timeout(15_000)
                page.goto(f"{console}/accounts/login/")
                for size, viewport in ui_tour.SIZES.items():
                    page.set_viewport_size(viewport)
                    page.screenshot(path=str(out / f"{size}-login.png"))
                    written.append(out / f"{size}-login.png")
                page.set_viewport_size(ui_tour.SIZES["desktop"])
                page.fill("input[name=username]", USERNAME)
                page.fill("input[name=password]", password)
                page.click("button[type=submit]")
                page.wait_for_selector("[data-testid=role]")
                room_id = self._stage_id(page, console)
                self._act(page, console, room_id)
                for size, viewport in ui_tour.SIZES.items():
                    page.set_viewport_size(viewport)
                    for name, path in ui_tour.PAGES:
                        page.goto(console + path.format(room=room_id))
                        ui_tour.settle(page)
                        target = out / f"{size}-{name}.png"
                        page.screenshot(path=str(target), full_page=True)
                        written.append(target)
                        if axe:
                            for finding in ui_tour.axe_violations(page):
                                self.stdout.write(f"{size} {name}: {finding}")
                    for name, selector in ui_tour.DIALOGS:
                        page.goto(f"{console}/rooms/{room_id}/")
                        ui_tour.settle(page)
                        page.locator(selector).first.dispatch_event("click")
                        page.wait_for_selector("dialog[open]")
                        ui_tour.settle(page)
                        target = out / f"{size}-dialog-{name}.png"
                        page.screenshot(path=str(target))
                        written.append(target)
                    page.goto(f"{console}/")
                    ui_tour.settle(page)
                    page.keyboard.press("?")
                    page.wait_for_selector("#shortcuts[open]")
                    target = out / f"{size}-shortcuts.png"
                    page.screenshot(path=str(target))
                    written.append(target)
            finally:
                browser.close()
        return written

    def _stage_id(self, page: Any, console: str) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            page.goto(f"{console}/?q={ui_tour.STAGE}")
            link = page.locator(f"tr.room-row a:text-is('{ui_tour.STAGE}')")
            if link.count():
                return int(link.first.get_attribute("href").strip("/").split("/")[-1])
            time.sleep(0.5)
        raise CommandError("the seeded rooms never reached the console")

    def _act(self, page: Any, console: str, room_id: int) -> None:
        """Ban someone and mute the host's microphone through the dialogs (Bans page, audit log)."""
        page.goto(f"{console}/rooms/{room_id}/")
        ui_tour.settle(page)
        page.locator('tr[data-identity="viewer-5"] [data-action="ban"]').click()
        dialog = page.locator("dialog[open]")
        dialog.locator("input[name=identity]").fill("spammer-9")
        dialog.locator("select[name=reason_preset]").select_option("Spam or scam")
        dialog.locator("textarea[name=reason]").fill("links in every message")
        dialog.locator("[data-testid=action-submit]").click()
        page.wait_for_selector("[data-testid=action-result]")
        page.keyboard.press("Escape")
        page.locator('tr[data-identity="host-ana"] details.menu summary').click()
        page.locator('tr[data-identity="host-ana"] [data-action="mute"]').click()
        dialog = page.locator("dialog[open]")
        dialog.locator("select[name=reason_preset]").select_option("Copyright violation")
        dialog.locator("[data-testid=action-submit]").click()
        page.wait_for_selector("[data-testid=action-result]")
        page.keyboard.press("Escape")
