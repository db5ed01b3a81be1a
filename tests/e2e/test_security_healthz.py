"""In Chromium, against the console under Daphne on Redis: idle open pages never make
/healthz say the channel layer is down."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def healthz(console: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{console}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_idle_live_pages_leave_healthz_up(
    logged_in_page: Any, support: Any, wait_for_live: Any, console: str
) -> None:
    page = logged_in_page(support)
    wait_for_live(page)
    wall = page.context.new_page()
    wall.add_init_script("document.addEventListener('htmx:wsOpen',()=>{window.__wsOpen=true})")
    wall.goto(f"{console}/wall/")
    wait_for_live(wall)

    answers = [healthz(console) for _ in range(10)]

    assert [status for status, _ in answers] == [200] * 10
    assert {body["checks"]["channel_layer"]["status"] for _, body in answers} == {"up"}
