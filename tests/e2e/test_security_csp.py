"""In Chromium: the pages work under the Content-Security-Policy: no violation is
reported and the live socket opens (connect-src allows it)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from monitoring.models import Participant, Room, RoomStatus

pytestmark = pytest.mark.e2e

VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def violations_on(page: Any, wait_for_live: Any) -> list[str]:
    page.wait_for_load_state("networkidle")
    if page.query_selector("[ws-connect]"):
        wait_for_live(page)
    return page.evaluate("() => window.__cspViolations")


@pytest.mark.parametrize("path", ["/", "/wall/", "/queue/", "/bans/", "/api-keys/"])
def test_pages_run_under_the_policy_without_a_violation(
    logged_in_page: Any, admin: Any, wait_for_live: Any, path: str
) -> None:
    page = logged_in_page(admin, next_path=path)
    page.add_init_script(VIOLATIONS)
    page.reload()

    assert violations_on(page, wait_for_live) == []
    header = page.evaluate(
        "() => fetch(location.href).then(r => r.headers.get('content-security-policy'))"
    )
    assert "script-src 'self'" in header


def test_the_room_page_with_its_preview_runs_without_a_violation(
    logged_in_page: Any, admin: Any, wait_for_live: Any
) -> None:
    room = Room.objects.create(
        sid="RM_cspe2e", name="csp-e2e", status=RoomStatus.LIVE, created_at=timezone.now()
    )
    Participant.objects.create(
        room=room, sid="PA_cspe2e", identity="host-1", joined_at=timezone.now(), tracks=[]
    )
    page = logged_in_page(admin, next_path=f"/rooms/{room.pk}/")
    page.add_init_script(VIOLATIONS)
    page.reload()

    assert violations_on(page, wait_for_live) == []
