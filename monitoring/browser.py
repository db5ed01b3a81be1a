"""Debian's Chromium, as ``manage.py latency`` and the browser tests (tests/e2e) start it.

Playwright drives the system's Chromium rather than downloading its own.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
# No sandbox or GPU in a container; without the background-networking flags Chromium
# keeps calling out to a network that is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
