"""A tour of every page and dialog of the console in a real browser, at a desktop and
a phone size: what ``manage.py screenshots`` photographs and what the browser tests
(tests/e2e/test_layout.py, test_keyboard.py, test_accessibility.py) check.

- ``seed_simulator(sim_url)``: rooms a moderator would see on a shift (a live stage
  with a host, a screen sharer, viewers and a recording; a quiet
  room; a room with a long name), made through the simulator's control API so the
  console learns about them from real webhooks.
- ``PAGES``: every page, by name and path (``{room}`` is the stage's id).
- ``DIALOGS``: every moderator dialog and the link on the room page that opens it.
- ``OVERFLOW_JS``: the elements that stick out of the viewport sideways.
- ``axe_violations(page)``: the serious and critical findings of axe-core (served
  from our own static files, ``static/vendor/axe-core``; no page includes it).
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any
from urllib.parse import quote

SIZES: dict[str, dict[str, int]] = {
    "desktop": {"width": 1440, "height": 900},
    "phone": {"width": 390, "height": 844},
}
STAGE = "main-stage"
PAGES: list[tuple[str, str]] = [
    ("rooms", "/"),
    ("room", "/rooms/{room}/"),
    ("wall", "/wall/"),
    ("bans", "/bans/"),
    ("ban-history", "/bans/history?identity=spammer-9"),
    ("audit", "/audit/"),
    ("staff", "/accounts/staff/"),
    ("api-keys", "/api-keys/"),
    ("queue", "/queue/"),
]
# name -> the link on the room page that opens it (participant rows by identity).
DIALOGS: list[tuple[str, str]] = [
    ("warn", 'tr[data-identity="viewer-1"] [data-action="warn"]'),
    ("mute", 'tr[data-identity="host-ana"] [data-action="mute"]'),
    ("kick", 'tr[data-identity="viewer-1"] [data-action="kick"]'),
    ("ban", 'tr[data-identity="viewer-1"] [data-action="ban"]'),
    ("warn-room", '[data-testid="room-actions"] [data-action="warn-room"]'),
    ("end", '[data-testid="room-actions"] [data-action="end"]'),
]
AXE_URL = "/static/vendor/axe-core/axe.min.js"
OVERFLOW_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    if (style.position === 'fixed' && el.tagName !== 'DIALOG') continue;
    if (el.closest('.visually-hidden, .skip-link')) continue;
    if (el.closest('details:not([open]) > :not(summary)')) continue;  // a closed menu
    if (box.right > width + 1 || box.left < -1) {
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (el.classList.length ? '.' + [...el.classList].join('.') : '');
      out.push(`${name} [${Math.round(box.left)}..${Math.round(box.right)} of ${width}]`);
    }
  }
  if (document.documentElement.scrollWidth > width + 1) {
    out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  return out.slice(0, 20);
}
"""
SUBMIT_IN_VIEW_JS = """
() => {
  const dialog = document.querySelector('dialog[open]');
  if (!dialog) return 'no open dialog';
  const button = dialog.querySelector('button[type=submit], [data-dialog-close]');
  const box = button.getBoundingClientRect();
  const ok = box.top >= 0 && box.left >= 0 && box.bottom <= window.innerHeight
    && box.right <= document.documentElement.clientWidth;
  const r = (n) => Math.round(n);
  return ok ? '' : `submit at ${r(box.left)},${r(box.top)}..${r(box.right)},${r(box.bottom)}`
    + ` in ${document.documentElement.clientWidth}x${window.innerHeight}`;
}
"""


def _post(base: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(payload or {}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.loads(response.read() or b"null")


def seed_simulator(sim_url: str) -> None:
    """Rooms and people for the tour, sent to the console as real webhooks."""

    def join(room: str, identity: str, **options: Any) -> Any:
        return _post(
            sim_url,
            f"/sim/rooms/{quote(room, safe='')}/participants",
            {"identity": identity, **options},
        )

    join(
        STAGE, "host-ana", name="Ana Host", attributes={"role": "host"}, publish=["video", "audio"]
    )
    join(STAGE, "cohost-ben", name="Ben", attributes={"role": "co-host"}, publish=["screen"])
    for n in range(1, 6):
        join(STAGE, f"viewer-{n}", can_publish=False)
    _post(sim_url, f"/sim/rooms/{STAGE}/egress")
    join("quiet-lounge", "lurker")
    join(
        "a-room-with-a-rather-long-name-for-a-phone-screen",
        "guest-xyz-0123456789",
        publish=["video"],
    )
    _post(sim_url, "/sim/webhooks/flush")


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as shown (WCAG 2 A/AA)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
        page.wait_for_function("() => typeof window.axe !== 'undefined'")
    results = page.evaluate(
        """async () => {
          const r = await axe.run(document, {
            runOnly: {
              type: 'tag',
              values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
            },
            resultTypes: ['violations'],
          });
          return r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.impact} ${v.id}: ${v.help} — `
              + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
        }"""
    )
    return list(results)


def settle(page: Any, pause: float = 0.15) -> None:
    """Let htmx swaps and the live socket settle before looking."""
    page.wait_for_load_state("networkidle")
    time.sleep(pause)
