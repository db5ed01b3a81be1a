"""Alert rules fire on real events (signed webhooks from the simulator, reports, reconciler
passes) at their thresholds, and stay quiet below them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from monitoring.live import applier
from monitoring.models import AuditEntry, Ban, Case, Report, Room, RoomStatus
from monitoring.queue import categories, services
from monitoring.reconciler import reconcile_once

WEBHOOK = "/livekit/webhook"


def deliver(sim: Any) -> int:
    """Post every webhook the simulator signed and captured, as LiveKit sends them."""
    client = Client()
    deliveries = sim.outbox()
    for item in deliveries:
        response = client.post(
            WEBHOOK,
            data=item["body"],
            content_type=item["content_type"],
            HTTP_AUTHORIZATION=item["authorization"],
        )
        assert response.status_code == 200, response.content
    applier.apply_pending()
    sim.clear_outbox()
    return len(deliveries)


def alert_cases(rule: str) -> list[Case]:
    return [c for c in Case.objects.order_by("pk") if rule in c.alerts]


def thresholds(admin: Any, **changes: int) -> None:
    current = services.alert_settings()
    values = {name: getattr(current, name) for name, *_ in services.SETTING_FIELDS}
    services.alert_settings_update(actor=admin, values={**values, **changes})


# --- join surge (a raid)


@pytest.mark.django_db
def test_fifty_joins_within_ten_seconds_open_a_raid_case_on_the_room(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host", publish=["video"])
    deliver(livekit_sim)
    started = time.monotonic()
    for i in range(50):
        livekit_sim.join("lobby", f"raider-{i}")
    assert time.monotonic() - started < 10
    deliver(livekit_sim)

    [case] = alert_cases(categories.ALERT_JOIN_SURGE)
    assert (case.room_name, case.identity) == ("lobby", "")
    fired = AuditEntry.objects.get(action="alert.fire")
    assert fired.actor_name == "system" and fired.detail["rule"] == "alert_join_surge"
    assert fired.detail["joins"] >= 30
    alert = Report.objects.get(source="alert")
    assert alert.category == categories.ALERT_JOIN_SURGE and "joins within 10 s" in alert.text


@pytest.mark.django_db
def test_joins_below_the_threshold_open_no_case(livekit_sim: Any) -> None:
    for i in range(29):
        livekit_sim.join("lobby", f"viewer-{i}")
    deliver(livekit_sim)

    assert Room.objects.get(name="lobby").num_participants == 29
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_a_raid_that_goes_on_fires_once_per_open_case(livekit_sim: Any, admin: Any) -> None:
    thresholds(admin, join_surge_count=10)
    for batch in range(3):
        for i in range(12):
            livekit_sim.join("lobby", f"raider-{batch}-{i}")
        deliver(livekit_sim)

    assert len(alert_cases(categories.ALERT_JOIN_SURGE)) == 1
    assert AuditEntry.objects.filter(action="alert.fire").count() == 1


# --- a banned identity rejoining


@pytest.mark.django_db(transaction=True)
def test_a_banned_identity_rejoining_three_times_opens_a_case_about_it(livekit_sim: Any) -> None:
    livekit_sim.join("lobby", "host")
    deliver(livekit_sim)
    Ban.objects.create(identity="troll", scope="global", reason="spam", created_by_name="x")

    for _ in range(3):
        livekit_sim.join("lobby", "troll")
        deliver(livekit_sim)  # enforcement removes it again on commit
        deliver(livekit_sim)  # ... and LiveKit reports it leaving

    assert AuditEntry.objects.filter(action="ban.enforce", outcome="done").count() == 3
    [case] = alert_cases(categories.ALERT_BANNED_REJOIN)
    assert (case.room_name, case.identity) == ("lobby", "troll")
    assert [p["identity"] for p in livekit_sim.room("lobby")["participants"]] == ["host"]


@pytest.mark.django_db(transaction=True)
def test_two_rejoins_open_no_case(livekit_sim: Any) -> None:
    Ban.objects.create(identity="troll", scope="global", reason="spam", created_by_name="x")
    for _ in range(2):
        livekit_sim.join("lobby", "troll")
        deliver(livekit_sim)
        deliver(livekit_sim)

    assert AuditEntry.objects.filter(action="ban.enforce").count() == 2
    assert not Case.objects.exists()


# --- report surge


def reported(room: str, reporter: str, n: int, identity: str = "") -> None:
    services.report_receive(
        report_id=f"{room}-{reporter}-{n}",
        room_name=room,
        identity=identity,
        reporter=reporter,
        category="spam_or_scam",
    )


@pytest.mark.django_db
def test_five_distinct_reporters_on_one_room_within_ten_minutes_raise_a_surge() -> None:
    for n, reporter in enumerate(["a", "b", "c", "d"]):
        reported("lobby", reporter, n, identity=f"user-{n}")
    assert not alert_cases(categories.ALERT_REPORT_SURGE)

    reported("lobby", "e", 9)

    [case] = alert_cases(categories.ALERT_REPORT_SURGE)
    assert (case.room_name, case.identity) == ("lobby", "")
    assert case.severity >= categories.severity(categories.ALERT_REPORT_SURGE)


@pytest.mark.django_db
def test_one_reporter_reporting_many_times_is_no_surge() -> None:
    for n in range(10):
        reported("lobby", "same-person", n)
    for n, reporter in enumerate(["a", "b", "c"]):
        reported("other-room", reporter, n)
    assert not alert_cases(categories.ALERT_REPORT_SURGE)


@pytest.mark.django_db
def test_reports_older_than_the_window_do_not_count(admin: Any) -> None:
    thresholds(admin, report_surge_reporters=3, report_surge_minutes=5)
    reported("lobby", "a", 1)
    reported("lobby", "b", 2)
    Report.objects.update(received_at=timezone.now() - timezone.timedelta(minutes=6))
    reported("lobby", "c", 3)
    assert not alert_cases(categories.ALERT_REPORT_SURGE)
    reported("lobby", "d", 4)
    reported("lobby", "e", 5)
    assert alert_cases(categories.ALERT_REPORT_SURGE)


# --- the console's health


@pytest.mark.django_db
def test_livekit_unreachable_opens_one_console_case_per_outage(settings: Any) -> None:
    settings.LIVEKIT_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.LIVEKIT_TIMEOUT_SECONDS = 2

    assert reconcile_once().error
    assert reconcile_once().error

    [case] = alert_cases(categories.ALERT_LIVEKIT_DOWN)
    assert (case.room_name, case.target_label) == ("", "the console")
    assert AuditEntry.objects.filter(action="alert.fire").count() == 1


@pytest.mark.django_db
def test_reconciler_corrections_above_the_threshold_open_a_console_case(
    livekit_sim: Any, admin: Any
) -> None:
    thresholds(admin, corrections_threshold=3)
    reconcile_once()  # a first good pass

    def ghost_rooms(prefix: str, n: int) -> None:
        for i in range(n):
            Room.objects.create(
                sid=f"RM_{prefix}{i}",
                name=f"{prefix}-{i}",
                status=RoomStatus.LIVE,
                created_at=timezone.now(),
            )

    ghost_rooms("few", 2)
    reconcile_once()
    assert not alert_cases(categories.ALERT_CORRECTIONS)

    ghost_rooms("many", 3)
    reconcile_once()
    [case] = alert_cases(categories.ALERT_CORRECTIONS)
    assert "corrected 3 rooms" in case.reports.get().text


# --- outgoing notification


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.django_db
def test_an_alert_sends_a_signed_notification_when_a_url_is_set(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.received = []
    settings.ROOMWATCH_ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    settings.ROOMWATCH_ALERT_WEBHOOK_SECRET = "a-shared-secret-of-some-length"
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.alert_fire(
                rule=categories.ALERT_JOIN_SURGE,
                room_name="lobby",
                detail={"summary": "50 joins within 10 s"},
                now=timezone.now(),
            )
        deadline = time.monotonic() + 5
        while not Receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        server.shutdown()
        server.server_close()

    [(headers, body)] = Receiver.received
    expected = hmac.new(
        b"a-shared-secret-of-some-length",
        headers["X-Roomwatch-Timestamp"].encode() + b"." + body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["X-Roomwatch-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["rule"] == "alert_join_surge" and payload["case"]["room"] == "lobby"


@pytest.mark.django_db
def test_a_failing_notification_is_logged_and_returns_quickly(settings: Any, caplog: Any) -> None:
    from monitoring.queue import notify

    settings.ROOMWATCH_ALERT_WEBHOOK_SECRET = "a-shared-secret-of-some-length"
    started = time.monotonic()
    assert notify.send(url="http://127.0.0.1:9/hook", body=b"{}") is False
    assert time.monotonic() - started < 5
    assert "alert notification" in caplog.text


@pytest.mark.django_db
def test_no_notification_is_sent_by_default(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        services.alert_fire(
            rule=categories.ALERT_JOIN_SURGE, room_name="lobby", detail={}, now=timezone.now()
        )
    # only the queue push is scheduled
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_a_reconciler_pass_releases_idle_claims(livekit_sim: Any, moderator: Any) -> None:
    case = services.report_receive(
        report_id="r", room_name="lobby", reporter="v", category="spam_or_scam"
    ).case
    services.case_claim(actor=moderator, case=case)
    Case.objects.filter(pk=case.pk).update(
        claim_active_at=timezone.now() - timezone.timedelta(hours=1)
    )

    reconcile_once()

    assert Case.objects.get(pk=case.pk).claimed_by is None
    assert AuditEntry.objects.filter(action="case.claim_lapsed").count() == 1
