"""``manage.py demo``: one command starts the console and a busy simulator; Ctrl-C stops all."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from monitoring.localhost import free_port

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 45.0


def fetch(url: str) -> tuple[int, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return None


def wait_until(condition: Callable[[], Any], *, timeout: float, process: subprocess.Popen) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited early with status {process.returncode}")
        if result := condition():
            return result
        time.sleep(0.2)
    pytest.fail("the demo did not get there in time")


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # zombies are dead (PID 1 here does not reap)


def sign_in(console: str, username: str, password: str) -> str:
    """Sign in through the login form as a browser would; returns where it lands."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{console}/accounts/login/", timeout=5) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token[1], "username": username, "password": password}
    ).encode()
    request = urllib.request.Request(
        f"{console}/accounts/login/", data=form, headers={"Referer": f"{console}/accounts/login/"}
    )
    with opener.open(request, timeout=5) as response:
        assert response.status == 200
        return response.url


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port, sim_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LIVEKIT_", "DJANGO_", "PYTEST_")) and key != "REDIS_URL"
    }
    env.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    log = (tmp_path / "demo.log").open("w+b")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "demo",
            "--port",
            str(port),
            "--sim-port",
            str(sim_port),
            "--rooms",
            "3",
            "--password",
            "demo-password-for-tests",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    info = {"process": process, "port": port, "sim_port": sim_port, "log": log}
    try:
        yield info
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")
        log.close()
        print(output)  # shown by pytest only when the test fails


def test_the_demo_serves_the_console_and_a_busy_simulator_and_stops_on_ctrl_c(
    demo: dict[str, Any],
) -> None:
    process, port, sim_port = demo["process"], demo["port"], demo["sim_port"]
    console = f"http://127.0.0.1:{port}"

    health = wait_until(
        lambda: (r := fetch(f"{console}/healthz")) and r[0] == 200 and r,
        timeout=STARTUP_SECONDS,
        process=process,
    )
    assert json.loads(health[1])["checks"]["livekit"] == {"status": "up"}
    status, login_page = fetch(f"{console}/accounts/login/")
    assert status == 200
    assert b"<form" in login_page and b"password" in login_page.lower()
    status, _ = fetch(f"{console}/static/css/roomwatch.css")
    assert status == 200

    rooms = wait_until(
        lambda: (
            (r := fetch(f"http://127.0.0.1:{sim_port}/sim/state")) and json.loads(r[1])["rooms"]
        ),
        timeout=15,
        process=process,
    )
    assert rooms[0]["sid"].startswith("RM_")

    def output() -> str:
        demo["log"].flush()
        demo["log"].seek(0)
        return demo["log"].read().decode(errors="replace")

    wait_until(lambda: "Press Ctrl-C to stop." in output(), timeout=10, process=process)
    assert "admin / demo-password-for-tests" in output()
    assert f"Roomwatch is running:  {console}/" in output()

    assert sign_in(console, "admin", "demo-password-for-tests") == f"{console}/"
    # Requests and webhooks are not logged by default: the sign-in line stays in view.
    assert "Request logs are off" in output()
    assert "HTTP GET /accounts/login/" not in output()
    assert "POST /livekit/webhook" not in output()

    children = children_of(process.pid)
    # The simulator and the console (which applies webhooks and reconciles itself).
    assert len(children) >= 2

    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=15) == 0

    assert [pid for pid in children if is_running(pid)] == []
    assert fetch(f"{console}/healthz") is None
    assert fetch(f"http://127.0.0.1:{sim_port}/sim/state") is None


def test_the_demo_refuses_a_port_that_is_already_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(CommandError, match=f"Port {port} .* already in use.*--port"):
            call_command("demo", "--port", str(port), "--sim-port", str(free_port()))


def test_the_demo_refuses_the_same_port_for_the_console_and_the_simulator() -> None:
    with pytest.raises(CommandError, match="must differ"):
        call_command("demo", "--port", "8123", "--sim-port", "8123")


def test_the_demo_refuses_a_port_out_of_range() -> None:
    with pytest.raises(CommandError, match="between 1 and 65535"):
        call_command("demo", "--port", "70000")
