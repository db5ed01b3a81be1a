"""The queue: cases by priority, claims, resolving by action, dismissing, roles and figures."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring import realtime
from monitoring.models import AuditEntry, Case, Report, Room, RoomStatus
from monitoring.queue import categories, selectors, services
from monitoring.queue.services import CaseConflict
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def report(
    report_id: str,
    *,
    room: str = "lobby",
    identity: str = "",
    reporter: str = "v1",
    category: str = "spam_or_scam",
) -> Case:
    return services.report_receive(
        report_id=report_id,
        room_name=room,
        identity=identity,
        reporter=reporter,
        category=category,
    ).case


def open_room(name: str, *, participants: int = 0) -> Room:
    return Room.objects.create(
        sid=f"RM_{name}",
        name=name,
        status=RoomStatus.LIVE,
        num_participants=participants,
        created_at=timezone.now(),
    )


# --- priority


def test_open_cases_come_by_severity_then_reporters_then_audience(db: Any) -> None:
    open_room("big", participants=900)
    open_room("small", participants=3)
    spam = report("1", room="small", category="spam_or_scam")
    violence = report("2", room="small", identity="x", category="violence_or_threats")
    many = report("3", room="small", identity="y", category="spam_or_scam", reporter="a")
    report("4", room="small", identity="y", category="spam_or_scam", reporter="b")
    report("5", room="small", identity="y", category="spam_or_scam", reporter="c")
    audience = report("6", room="big", category="spam_or_scam")

    order = [c.pk for c in selectors.queue_view().cases]

    assert order == [violence.pk, many.pk, audience.pk, spam.pk]


def test_of_two_equal_cases_the_recent_one_comes_first(db: Any) -> None:
    old = report("1", room="a")
    new = report("2", room="b")
    Case.objects.filter(pk=old.pk).update(last_report_at=timezone.now() - timedelta(hours=2))

    assert [c.pk for c in selectors.queue_view().cases] == [new.pk, old.pk]


def test_the_queue_page_makes_the_same_number_of_queries_for_3_cases_as_for_60(
    client_for: Any, support: Any
) -> None:
    client = client_for(support)
    for i in range(3):
        report(f"a{i}", room=f"room-{i}")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/queue/").status_code == 200
    for i in range(60):
        report(f"b{i}", room=f"other-{i}", identity="x")
    with CaptureQueriesContext(connection) as many:
        page = client.get("/queue/")
    assert len(few) == len(many)
    assert page.content.decode().count('data-testid="case-row"') == selectors.QUEUE_LIMIT


# --- claims


def test_a_claim_shows_who_has_the_case_and_another_moderator_cannot_take_it(
    moderator: Any, admin: Any
) -> None:
    case = report("1", identity="troll")

    services.case_claim(actor=moderator, case=case)

    with pytest.raises(CaseConflict, match="mia-moderator has claimed this case"):
        services.case_claim(actor=admin, case=case)
    case.refresh_from_db()
    assert case.claimed_by == moderator
    assert AuditEntry.objects.get(action="case.claim").actor_name == "mia-moderator"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_give_the_case_to_exactly_one_moderator() -> None:
    first = make_staff("first-mod", "Moderator")
    second = make_staff("second-mod", "Moderator")
    case = report("1", identity="troll")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def claim(user: Any) -> None:
        try:
            barrier.wait(timeout=5)
            services.case_claim(actor=user, case=Case.objects.get(pk=case.pk))
            outcomes[user.username] = "claimed"
        except CaseConflict:
            outcomes[user.username] = "refused"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(outcomes.values()) == ["claimed", "refused"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "claimed")
    assert Case.objects.get(pk=case.pk).claimed_by.username == winner
    assert AuditEntry.objects.filter(action="case.claim").count() == 1


def test_a_claim_idle_longer_than_the_setting_is_released(moderator: Any, admin: Any) -> None:
    services.alert_settings_update(
        actor=admin,
        values={
            **{
                name: getattr(services.alert_settings(), name)
                for name, *_ in services.SETTING_FIELDS
            },
            "claim_idle_minutes": 5,
        },
    )
    case = report("1")
    services.case_claim(actor=moderator, case=case)
    Case.objects.filter(pk=case.pk).update(claim_active_at=timezone.now() - timedelta(minutes=4))
    assert services.claims_expire() == 0

    Case.objects.filter(pk=case.pk).update(claim_active_at=timezone.now() - timedelta(minutes=6))
    assert services.claims_expire() == 1

    case.refresh_from_db()
    assert case.claimed_by is None
    lapsed = AuditEntry.objects.get(action="case.claim_lapsed")
    assert (lapsed.actor_name, lapsed.detail["claimed_by"]) == ("system", "mia-moderator")
    services.case_claim(actor=admin, case=case)  # free again


def test_a_lapsed_claim_can_be_taken_over_before_the_sweep(moderator: Any, admin: Any) -> None:
    case = report("1")
    services.case_claim(actor=moderator, case=case)
    Case.objects.filter(pk=case.pk).update(claim_active_at=timezone.now() - timedelta(hours=1))

    services.case_claim(actor=admin, case=case)

    taken = AuditEntry.objects.filter(action="case.claim").first()
    assert taken.detail["took_over_from"] == "mia-moderator"


def test_release_gives_the_case_back_and_only_the_claimer_may_release(
    moderator: Any,
) -> None:
    other = make_staff("mo-other", "Moderator")
    case = report("1")
    services.case_claim(actor=moderator, case=case)

    with pytest.raises(CaseConflict, match="only they can release it"):
        services.case_release(actor=other, case=case)
    services.case_release(actor=moderator, case=case)

    case.refresh_from_db()
    assert case.claimed_by is None
    assert AuditEntry.objects.filter(action="case.release").count() == 1


# --- resolving


def test_resolving_with_a_kick_removes_the_participant_and_links_the_audit_row(
    moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "troll")
    room = open_room("lobby", participants=1)
    room.sid = livekit_sim.room("lobby")["sid"]
    room.save()
    case = report("1", identity="troll", category="harassment_or_bullying")

    outcome = services.case_act(
        actor=moderator, case=case, action="kick", reason="Harassment or bullying: case"
    )

    assert outcome.resolved
    assert [p["identity"] for p in livekit_sim.room("lobby")["participants"]] == []
    kick = AuditEntry.objects.get(action="participant.kick")
    assert (kick.outcome, kick.identity, kick.reason) == (
        "done",
        "troll",
        "Harassment or bullying: case",
    )
    case.refresh_from_db()
    assert (case.state, case.action_entry_id, case.open_key) == ("resolved", kick.pk, None)
    resolved = AuditEntry.objects.get(action="case.resolve")
    assert resolved.detail["action_audit_id"] == kick.pk


def test_a_failed_action_leaves_the_case_open_with_the_failure_in_the_audit_log(
    moderator: Any, livekit_sim: Any
) -> None:
    open_room("lobby")
    case = report("1", identity="nobody-here")

    outcome = services.case_act(actor=moderator, case=case, action="warn", reason="x", message="m")

    assert not outcome.resolved
    assert Case.objects.get(pk=case.pk).state == "open"
    assert AuditEntry.objects.get(action="participant.warn").outcome == "failed"


def test_the_act_form_prefills_the_reason_from_the_most_severe_category(
    client_for: Any, moderator: Any
) -> None:
    open_room("lobby")
    report("1", identity="x", category="spam_or_scam")
    case = report("2", identity="x", category="hate_speech", reporter="v2")

    page = client_for(moderator).get(f"/queue/cases/{case.pk}/").content.decode()

    assert '<option value="Hate speech" selected>' in page
    assert categories.reason_preset(["spam_or_scam", "hate_speech"]) == "Hate speech"


def test_dismissing_needs_a_reason(moderator: Any, client_for: Any) -> None:
    case = report("1")
    with pytest.raises(Exception, match="Say why"):
        services.case_dismiss(actor=moderator, case=case, reason="  ")
    response = client_for(moderator).post(f"/queue/cases/{case.pk}/dismiss", {"reason": ""})
    assert response.status_code == 400
    assert Case.objects.get(pk=case.pk).state == "open"

    services.case_dismiss(actor=moderator, case=case, reason="a joke between friends")

    case.refresh_from_db()
    assert (case.state, case.close_reason) == ("dismissed", "a joke between friends")
    assert AuditEntry.objects.get(action="case.dismiss").reason == "a joke between friends"


def test_a_closed_case_cannot_be_claimed_or_dismissed_again(moderator: Any) -> None:
    case = report("1")
    services.case_dismiss(actor=moderator, case=case, reason="fine")
    with pytest.raises(CaseConflict, match="already dismissed"):
        services.case_claim(actor=moderator, case=case)


# --- the case page shows the target's live state


def test_the_case_shows_reports_excerpts_evidence_and_the_targets_state(
    client_for: Any, support: Any, moderator: Any
) -> None:
    from monitoring.models import Ban, Participant

    room = open_room("lobby", participants=7)
    Participant.objects.create(
        room=room, sid="PA_1", identity="troll", is_publisher=True, tracks=[{"sid": "TR_1"}]
    )
    Ban.objects.create(
        identity="troll",
        scope="global",
        reason="old",
        created_by_name="x",
        lifted_at=timezone.now(),
    )
    earlier = report("0", identity="troll")
    services.case_dismiss(actor=moderator, case=earlier, reason="first time")
    services.report_receive(
        report_id="1",
        room_name="lobby",
        identity="troll",
        reporter="v1",
        category="hate_speech",
        excerpt="a nasty line",
        evidence_url="https://clips.example.org/9",
    )
    case = Case.objects.get(state="open")

    page = client_for(support).get(f"/queue/cases/{case.pk}/").content.decode()

    assert "a nasty line" in page and "https://clips.example.org/9" in page
    assert "in the room now" in page and "publishing" in page
    assert "Banned before: 1 time" in page
    assert "first time" in page  # the previous case
    assert 'data-testid="case-act"' not in page  # support reads only


# --- roles


QUEUE_READS = ["/queue/", "/queue/figures.csv", "/queue/cases/{case}/"]
QUEUE_WRITES = [
    ("/queue/cases/{case}/claim", {}),
    ("/queue/cases/{case}/release", {}),
    ("/queue/cases/{case}/dismiss", {"reason": "ok"}),
    ("/queue/cases/{case}/act", {"action": "warn-room", "reason": "x", "message": "m"}),
]


@pytest.mark.parametrize("path", QUEUE_READS)
def test_every_staff_role_reads_the_queue_and_others_cannot(
    client: Any, support: Any, moderator: Any, admin: Any, outsider: Any, path: str
) -> None:
    url = path.format(case=report("1").pk)
    for user in (support, moderator, admin):
        client.force_login(user)
        assert client.get(url).status_code == 200, user
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302


@pytest.mark.parametrize(("path", "data"), QUEUE_WRITES)
def test_support_and_outsiders_cannot_work_on_cases(
    client: Any, support: Any, outsider: Any, path: str, data: dict[str, str]
) -> None:
    case = report("1")
    url = path.format(case=case.pk)
    for user in (support, outsider):
        client.force_login(user)
        assert client.post(url, data).status_code == 403, user
    client.logout()
    assert client.post(url, data).status_code == 302
    case.refresh_from_db()
    assert (case.state, case.claimed_by) == ("open", None)
    assert not AuditEntry.objects.filter(action__startswith="case.").exists()


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_moderators_and_admins_claim_release_and_dismiss(
    client: Any, request: Any, role: str
) -> None:
    user = request.getfixturevalue(role)
    client.force_login(user)
    case = report("1")
    assert client.post(f"/queue/cases/{case.pk}/claim").status_code == 302
    assert Case.objects.get(pk=case.pk).claimed_by == user
    assert client.post(f"/queue/cases/{case.pk}/release").status_code == 302
    assert client.post(f"/queue/cases/{case.pk}/dismiss", {"reason": "ok"}).status_code == 302
    assert Case.objects.get(pk=case.pk).state == "dismissed"


def test_a_claim_by_htmx_that_is_refused_answers_409_with_the_reason(
    client: Any, moderator: Any, admin: Any
) -> None:
    case = report("1")
    services.case_claim(actor=moderator, case=case)
    client.force_login(admin)
    response = client.post(f"/queue/cases/{case.pk}/claim", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "mia-moderator has claimed this case" in response.content.decode()


def test_only_admins_edit_the_alert_thresholds_and_each_edit_is_audited(
    client: Any, moderator: Any, admin: Any
) -> None:
    values = {
        name: getattr(services.alert_settings(), name) for name, *_ in services.SETTING_FIELDS
    }
    client.force_login(moderator)
    assert client.get("/queue/alerts/").status_code == 403
    assert client.post("/queue/alerts/", values).status_code == 403

    client.force_login(admin)
    assert client.get("/queue/alerts/").status_code == 200
    bad = client.post("/queue/alerts/", {**values, "join_surge_count": "lots"})
    assert bad.status_code == 400 and "whole number" in bad.content.decode()
    assert client.post("/queue/alerts/", {**values, "join_surge_count": 80}).status_code == 302

    assert services.alert_settings().join_surge_count == 80
    entry = AuditEntry.objects.get(action="alerts.settings")
    assert entry.detail["changed"] == {"join_surge_count": [30, 80]}


# --- staff reports from a room


def test_staff_file_a_report_from_a_participant_row_into_the_queue(
    client_for: Any, support: Any
) -> None:
    room = open_room("lobby")
    client = client_for(support)
    dialog = client.get(f"/rooms/{room.pk}/report/form?identity=troll", HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200 and 'data-testid="report-dialog"' in dialog.content.decode()

    missing = client.post(f"/rooms/{room.pk}/report", {"identity": "troll", "category": "other"})
    assert missing.status_code == 400
    response = client.post(
        f"/rooms/{room.pk}/report",
        {"identity": "troll", "category": "hate_speech", "text": "slurs in chat"},
    )

    assert response.status_code == 302
    filed = Report.objects.get()
    assert (filed.source, filed.reporter, filed.case.identity) == ("staff", "sam-support", "troll")
    assert AuditEntry.objects.get(action="report.file").actor_name == "sam-support"


# --- live updates


@pytest.mark.django_db(transaction=True)
async def test_a_new_report_reaches_open_queue_pages_per_role_with_the_nav_count(
    settings: Any,
) -> None:
    from channels.layers import channel_layers

    from tests.test_consumers import connected_for

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    support = await sync_to_async(make_staff)("sue-support", "Support")
    moderator = await sync_to_async(make_staff)("moe-moderator", "Moderator")
    sockets = [await connected_for(u, "/ws/queue/") for u in (support, moderator)]
    try:
        await sync_to_async(report)("1", identity="troll")
        await sync_to_async(realtime.queue_pushes_flush)()

        for socket, can_claim in zip(sockets, (False, True), strict=True):
            count = await socket.receive_from(timeout=5)
            assert 'id="queue-count"' in count and ">1<" in count
            listing = await socket.receive_from(timeout=5)
            assert 'id="queue-list"' in listing and "troll in lobby" in listing
            assert ('data-testid="claim"' in listing) is can_claim
    finally:
        for socket in sockets:
            await socket.disconnect()
        channel_layers.backends.clear()


# --- response figures


def test_response_figures_give_median_and_p90_per_period_and_moderator_and_export_csv(
    client_for: Any, moderator: Any
) -> None:
    now = timezone.now()
    for i, minutes in enumerate([1, 2, 3, 4, 10]):
        case = report(str(i), room=f"r{i}")
        services.case_dismiss(actor=moderator, case=case, reason="ok")
        Case.objects.filter(pk=case.pk).update(
            first_report_at=now - timedelta(minutes=minutes * 2),
            first_claimed_at=now - timedelta(minutes=minutes),
            closed_at=now,
        )

    figures = selectors.response_figures(now=now)

    week = figures.periods[1]
    assert (week.cases, week.claim_median, week.claim_p90) == (5, 180.0, 600.0)
    assert (week.resolve_median, week.resolve_p90) == (360.0, 1200.0)
    assert [name for name, _ in figures.moderators] == ["mia-moderator"]
    csv = client_for(moderator).get("/queue/figures.csv")
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().strip().splitlines()
    assert lines[0].startswith("case_id,target_room") and len(lines) == 6
    page = client_for(moderator).get("/queue/").content.decode()
    assert "3 min" in page and "10 min" in page


def test_csv_cells_that_spreadsheets_would_run_are_quoted(moderator: Any) -> None:
    case = report("1", room="=HYPERLINK(1)")
    services.case_dismiss(actor=moderator, case=case, reason="-1")
    text = selectors.figures_csv()
    assert "'=HYPERLINK(1)" in text and ",'-1" in text


def test_the_report_dialog_and_the_thresholds_page_refuse_outsiders_and_anonymous_visitors(
    client: Any, outsider: Any
) -> None:
    room = open_room("lobby")
    paths = [
        ("get", f"/rooms/{room.pk}/report/form"),
        ("post", f"/rooms/{room.pk}/report"),
        ("get", "/queue/alerts/"),
        ("post", "/queue/alerts/"),
    ]
    for method, path in paths:
        assert getattr(client, method)(path).status_code == 302, path
    client.force_login(outsider)
    for method, path in paths:
        assert getattr(client, method)(path).status_code == 403, path
    assert not Report.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_the_queue_socket_refuses_anyone_who_is_not_staff(outsider: Any) -> None:
    from tests.test_consumers import opens

    assert await opens(None, "/ws/queue/") == (False, 4403)
    assert (await opens(outsider, "/ws/queue/"))[0] is False
