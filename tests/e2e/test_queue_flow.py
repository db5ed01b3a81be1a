"""In Chromium: a report sent through the API appears on open queue pages without a
reload; a second moderator sees the claim; resolving with a kick removes the
participant in LiveKit and closes the case on both pages."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from monitoring.models import AuditEntry, Case, Room
from monitoring.moderation.api_keys import api_key_create
from tests.conftest import PASSWORD, make_staff
from tests.e2e.conftest import WS_OPEN_SCRIPT

pytestmark = pytest.mark.e2e


def wait_for_mirror(name: str, identity: str, timeout: float = 10.0) -> Room:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name).order_by("-pk").first()
        if room is not None and room.participants.filter(identity=identity).exists():
            return room
        time.sleep(0.05)
    raise AssertionError(f"{identity} in {name} never reached the mirror")


def open_page(browser: Any, console: str, user: Any, path: str) -> Any:
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    page.add_init_script(WS_OPEN_SCRIPT)
    page.goto(f"{console}/accounts/login/?next={path}")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=role]")
    page.wait_for_function("() => window.__wsOpen === true")
    return page


def send_report(console: str, key: str, **fields: Any) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{console}/api/v1/reports",
        data=json.dumps(fields).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


def test_a_reported_participant_is_claimed_kicked_and_the_case_closes_on_both_pages(
    browser: Any, console: str, moderator: Any, admin: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.join("studio", "troll-7", publish=["microphone"])
    livekit_sim.flush()
    wait_for_mirror("studio", "troll-7")
    key = api_key_create(actor=admin, name="platform").plaintext
    second = make_staff("max-moderator", "Moderator")
    acting = open_page(browser, console, moderator, "/queue/")
    watching = open_page(browser, console, second, "/queue/")
    assert acting.locator("[data-testid=queue-empty]").is_visible()

    sent = send_report(
        console,
        key,
        report_id="platform-123",
        room="studio",
        identity="troll-7",
        reporter="viewer-42",
        category="harassment_or_bullying",
        excerpt="you are all idiots",
    )

    case_id = sent["case"]["id"]
    for page in (acting, watching):
        row = page.locator(f"#case-row-{case_id}")
        row.wait_for()
        assert "troll-7 in studio" in row.inner_text()
        page.locator("#queue-count", has_text="1").wait_for()

    acting.locator(f"#case-row-{case_id} [data-testid=claim]").click()
    acting.wait_for_url("**/queue/")
    watching.locator(
        f"#case-row-{case_id} [data-testid=case-claimed-by]", has_text="mia-moderator"
    ).wait_for()
    assert watching.locator(f"#case-row-{case_id} [data-testid=claim]").count() == 0

    acting.locator(f"#case-row-{case_id} a[data-testid=case-target]").click()
    acting.wait_for_url(f"**/queue/cases/{case_id}/")
    assert acting.locator("#case-reason-preset").input_value() == "Harassment or bullying"
    acting.locator("[data-testid=case-action-select]").select_option("kick")
    acting.locator("[data-testid=case-act]").click()

    acting.locator("[data-testid=case-state]", has_text="Resolved").wait_for()
    watching.locator(f"#case-row-{case_id}").wait_for(state="detached")
    watching.locator("#queue-count", has_text="0").wait_for()
    assert {p["identity"] for p in livekit_sim.room("studio")["participants"]} == {"host-1"}
    kick = AuditEntry.objects.get(action="participant.kick")
    case = Case.objects.get(pk=case_id)
    assert (case.state, case.action_entry_id) == ("resolved", kick.pk)
    assert kick.reason.startswith("Harassment or bullying")
