"""manage.py loadtest at a tiny scale: it starts the console, loses no event and ends
with its machine-readable summary. No speed is asserted here (that is what the
command itself reports)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY = re.compile(
    r"^loadtest: events_per_s=(?P<events>\d+) p99_ms=(?P<p99>[\d.]+) lost=(?P<lost>\d+) "
    r"catchup_s=(?P<catchup>-?[\d.]+) bare_ratio=(?P<ratio>[\d.]+)$"
)


def test_a_tiny_load_run_applies_every_accepted_event_and_ends_with_its_summary() -> None:
    out = io.StringIO()
    call_command(
        "loadtest",
        *("--rate", "20", "--seconds", "1", "--pages", "2", "--room-size", "20"),
        *("--rooms", "3", "--kicks", "2", "--sockets", "6", "--fanout-repeats", "1"),
        stdout=out,
    )
    text = out.getvalue()
    summary = SUMMARY.match(text.strip().splitlines()[-1])
    assert summary is not None, text[-2000:]
    assert summary["lost"] == "0"
    assert float(summary["catchup"]) >= 0, "the mirror never caught up"
    assert re.search(r"webhooks sent / answered 2xx\s+20 / 20\s+20 / 20", text), text
    assert re.search(r"connect burst: connected / failed\s+6 / 0", text), text
    assert "kick problems" not in text
    for role in ("Support", "Moderator", "Admin"):
        assert re.search(rf"^{role}\s+2\s+1\s+\d+\s+.*yes$", text, re.MULTILINE), text
