"""Browser-test harness: Debian's Chromium driving the console served by Daphne.

Run on its own: ``pytest -m e2e tests/e2e``. Playwright's sync API keeps an event
loop running in the test thread, which pytest-asyncio tests run later in the same
process trip over.

Fixtures:
- ``console``: the base URL of a Daphne subprocess (``manage.py runserver`` with
  Daphne installed) using this test's database, with the in-process LiveKit
  simulator as its LiveKit and the simulator's webhooks pointed at it.
- ``console_server``: the same server's handle, with ``stop()`` and ``start()``
  (same port), to see open pages lose their socket, reconnect and catch up.
- ``logged_in_page(user)``: a Playwright page signed in through the real login page,
  with every JavaScript dialog recorded in ``page.dialogs`` (and dismissed).
- ``wait_for_live(page)``: waits until the page's websocket is open.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from monitoring.browser import CHROMIUM, CHROMIUM_ARGS
from monitoring.localhost import free_port
from tests.conftest import PASSWORD

REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT = 30.0
# Marks the page once htmx's websocket has opened (htmx 2 event name).
WS_OPEN_SCRIPT = (
    "document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = true; });"
    "document.addEventListener('htmx:wsClose', () => { window.__wsOpen = false; });"
)


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop running in the test thread; the ORM
    refuses to run there unless told it is safe (it is: the loop is idle)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def _database_url() -> str:
    """The URL of the database this test runs against (the test database, not the dev one)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(settings["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("browser tests need a file SQLite database (set TEST NAME)")
        return f"sqlite:///{Path(name).resolve()}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings['NAME']}"


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the console exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"the console did not start in time:\n{log.read_text()[-4000:]}")


class ConsoleServer:
    """The console under Daphne on a fixed port, which a test may stop and start again
    (to see open pages lose their socket, reconnect and catch up)."""

    def __init__(self, *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    "--insecure",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_until_serving(self.url, self.process, self.log)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def console_server(
    transactional_db: Any,
    livekit_sim: Any,
    tmp_path: Path,
    settings: Any,
    request: pytest.FixtureRequest,
) -> Iterator[ConsoleServer]:
    """Start the console under Daphne against this test's database; yield its handle.

    It applies webhooks itself; its reconciler runs only for tests marked
    ``@pytest.mark.console_workers("embedded")`` (others stage the mirror by hand).
    """
    marker = request.node.get_closest_marker("console_workers")
    env = {
        "ROOMWATCH_WORKERS": marker.args[0] if marker else "applier",
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _database_url(),
        # The test database's name differs from the configured one: keep the channel
        # prefix of this process, so pushes sent from the test reach the server.
        "ROOMWATCH_CHANNEL_PREFIX": settings.ROOMWATCH_CHANNEL_PREFIX,
        "LIVEKIT_URL": livekit_sim.url,
        "LIVEKIT_API_KEY": settings.LIVEKIT_API_KEY,
        "LIVEKIT_API_SECRET": settings.LIVEKIT_API_SECRET,
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = ConsoleServer(env=env, log=tmp_path / "console.log")
    try:
        server.start()
        livekit_sim.webhooks(url=f"{server.url}/livekit/webhook")
        yield server
    finally:
        server.stop()


@pytest.fixture
def console(console_server: ConsoleServer) -> str:
    """The base URL of the console under Daphne (see ``console_server``)."""
    return console_server.url


@pytest.fixture
def logged_in_page(page: Any, console: str) -> Callable[[Any], Any]:
    """Sign ``user`` in through the real login page; returns the page (with ``.dialogs``)."""
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.add_init_script(WS_OPEN_SCRIPT)
    page.set_default_timeout(10_000)
    page.dialogs = dialogs

    def login(user: Any, next_path: str = "/") -> Any:
        page.goto(f"{console}/accounts/login/?next={next_path}")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=role]")
        return page

    return login


@pytest.fixture
def wait_for_live() -> Callable[[Any], None]:
    def wait(page: Any, timeout: float = 10_000) -> None:
        page.wait_for_function("() => window.__wsOpen === true", timeout=timeout)

    return wait
