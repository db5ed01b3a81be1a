"""The audit log: written with its effect, never edited or deleted, filtered, exported."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from monitoring.models import AuditEntry, AuditLogIsAppendOnly
from monitoring.moderation.audit import audit_record
from monitoring.views.audit import csv_safe


def record(actor: Any = None, **fields: Any) -> AuditEntry:
    fields.setdefault("action", "participant.kick")
    fields.setdefault("outcome", "done")
    with transaction.atomic():
        return audit_record(actor=actor, **fields)


def test_a_row_names_the_actor_and_their_role(moderator: Any) -> None:
    entry = record(moderator, room_name="stage", identity="guest-2", reason="spam")

    assert (entry.actor_name, entry.actor_role, entry.actor_id) == (
        "mia-moderator",
        "Moderator",
        moderator.pk,
    )


def test_a_row_without_an_actor_is_the_system(db: Any) -> None:
    assert record(None, action="ban.enforce").actor_name == "system"
    assert record(None, actor_name="api:token-server").actor_name == "api:token-server"


def test_an_unknown_outcome_is_refused(db: Any) -> None:
    with pytest.raises(ValueError, match="Unknown audit outcome"):
        record(None, outcome="maybe")


def test_the_model_refuses_to_edit_or_delete_a_row(moderator: Any) -> None:
    entry = record(moderator)
    entry.reason = "rewritten"

    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.all().delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE monitoring_auditentry SET reason = 'rewritten' WHERE id = %s",
        "UPDATE monitoring_auditentry SET outcome = 'done', error = '' WHERE id = %s",
        "DELETE FROM monitoring_auditentry WHERE id = %s",
    ],
)
def test_the_database_refuses_to_edit_or_delete_a_row(moderator: Any, sql: str) -> None:
    if sql.startswith("DELETE") and connection.vendor == "sqlite":
        pytest.skip("SQLite test databases are flushed with DELETE: the model layer refuses it")
    entry = record(moderator, outcome="failed", error="LiveKit is down")

    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.pk])

    entry.refresh_from_db()
    assert (entry.reason, entry.outcome, entry.error) == ("", "failed", "LiveKit is down")


def test_removing_a_staff_account_keeps_its_rows_and_their_name(moderator: Any) -> None:
    entry = record(moderator)

    moderator.delete()

    entry.refresh_from_db()
    assert (entry.actor_id, entry.actor_name) == (None, "mia-moderator")


# ---------------------------------------------------------------- the page


@pytest.fixture
def log(moderator: Any, admin: Any) -> None:
    record(moderator, room_name="stage", identity="guest-2", reason="spam")
    record(admin, action="room.end", room_name="lobby", outcome="failed", error="down")
    record(moderator, action="participant.warn", room_name="stage", identity="host-1")


@pytest.mark.parametrize("who", ["support", "moderator", "admin"])
def test_every_staff_role_can_read_the_audit_log(
    request: Any, client_for: Any, log: None, who: str
) -> None:
    response = client_for(request.getfixturevalue(who)).get(reverse("monitoring:audit"))

    assert response.status_code == 200
    assert response.content.decode().count('class="audit-row') == 3


def test_outsiders_are_refused_and_visitors_sent_to_login(
    client: Any, client_for: Any, outsider: Any
) -> None:
    response = client.get(reverse("monitoring:audit"))
    assert response.status_code == 302 and "login" in response.url
    assert client_for(outsider).get(reverse("monitoring:audit")).status_code == 403
    assert client_for(outsider).get(reverse("monitoring:audit-export")).status_code == 403


@pytest.mark.parametrize(
    ("params", "rows"),
    [
        ({"actor": "ada-admin"}, 1),
        ({"action": "participant.kick"}, 1),
        ({"room": "stag"}, 2),
        ({"identity": "host"}, 1),
        ({"outcome": "failed"}, 1),
        ({"since": (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}, 3),
        ({"until": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d")}, 0),
    ],
)
def test_the_page_filters_by_each_field(
    client_for: Any, support: Any, log: None, params: dict[str, str], rows: int
) -> None:
    response = client_for(support).get(reverse("monitoring:audit"), params)

    assert response.status_code == 200
    assert response.content.decode().count('class="audit-row') == rows


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"outcome": "perhaps"}, "must be done or failed"),
        ({"since": "yesterday"}, "not a date or time"),
        ({"since": "2030-01-02", "until": "2030-01-01"}, "ends before it starts"),
        ({"room": "x" * 300}, "too long"),
    ],
)
def test_bad_filters_get_a_clear_message(
    client_for: Any, support: Any, params: dict[str, str], message: str
) -> None:
    response = client_for(support).get(reverse("monitoring:audit"), params)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert client_for(support).get(reverse("monitoring:audit-export"), params).status_code == 400


def test_the_page_is_paginated_on_the_server(client_for: Any, support: Any) -> None:
    for n in range(55):
        record(None, identity=f"viewer-{n}")

    first = client_for(support).get(reverse("monitoring:audit")).content.decode()
    second = client_for(support).get(reverse("monitoring:audit"), {"page": 2}).content.decode()

    assert first.count('class="audit-row') == 50
    assert second.count('class="audit-row') == 5
    assert "Page 2 of 2" in second


def test_the_csv_export_streams_the_filtered_view(client_for: Any, support: Any, log: None) -> None:
    response = client_for(support).get(reverse("monitoring:audit-export"), {"room": "stage"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["time", "actor", "role", "action"]
    assert sorted(row[3] for row in rows[1:]) == ["participant.kick", "participant.warn"]


def test_the_csv_export_cannot_smuggle_a_formula(client_for: Any, support: Any) -> None:
    record(None, identity='=HYPERLINK("http://evil")', reason="+1", error="@cmd")

    response = client_for(support).get(reverse("monitoring:audit-export"))

    [_, row] = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert row[6] == '\'=HYPERLINK("http://evil")'
    assert (row[7], row[9]) == ("'+1", "'@cmd")
    assert csv_safe("-2") == "'-2" and csv_safe("plain") == "plain"


def test_the_audit_page_offers_no_way_to_change_a_row(
    client_for: Any, admin: Any, log: None
) -> None:
    page = client_for(admin).get(reverse("monitoring:audit")).content.decode()
    assert 'method="post"' not in page.split('id="audit-results"')[1]
    assert client_for(admin).post(reverse("monitoring:audit")).status_code == 405


def test_the_pages_export_link_exports_exactly_the_rows_the_filters_show(
    client_for: Any, support: Any, log: None
) -> None:
    client = client_for(support)
    page = client.get(
        reverse("monitoring:audit"), {"room": "stag", "outcome": "done", "identity": "host"}
    ).content.decode()
    shown = page.count('class="audit-row')
    link = re.search(r'data-testid="export" href="([^"]+)"', page)
    assert link is not None and "Export CSV (1 row)" in page

    response = client.get(html.unescape(link.group(1)))

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) - 1 == shown == 1
    assert (rows[1][3], rows[1][6]) == ("participant.warn", "host-1")


def test_the_page_names_actions_in_words_links_rooms_and_says_what_was_done_to_what(
    client_for: Any, support: Any, moderator: Any
) -> None:
    from monitoring.models import Room

    room = Room.objects.create(sid="RM_stage", name="stage", created_at=timezone.now())
    record(
        moderator,
        action="participant.mute",
        room_name="stage",
        room_sid="RM_stage",
        identity="guest-2",
        detail={"scope": "track", "sources": ["CAMERA"]},
    )
    record(moderator, action="ban.enforce", identity="troll", detail={"scope": "global"})

    page = client_for(support).get(reverse("monitoring:audit")).content.decode()

    assert "<strong>Muted</strong> Camera of guest-2" in page
    assert "<strong>Enforced ban</strong> troll, everywhere" in page
    assert f'<a href="{reverse("monitoring:room", args=[room.pk])}">stage</a>' in page
    assert 'class="pill outcome-done"' in page  # the green badge
    assert ">participant.mute<" not in page and ">ban.enforce<" not in page


def test_an_empty_log_says_so_and_a_filter_that_matches_nothing_says_how_to_widen_it(
    client_for: Any, support: Any
) -> None:
    empty = client_for(support).get(reverse("monitoring:audit")).content.decode()
    filtered = client_for(support).get(reverse("monitoring:audit"), {"identity": "nobody"})

    assert "Nothing has been recorded yet." in empty
    assert "No audit entries match these filters." in filtered.content.decode()
