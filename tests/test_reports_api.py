"""POST /api/v1/reports: the platform sends viewers' reports; they group into cases."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from monitoring.models import ApiKey, AuditEntry, Case, Report
from monitoring.moderation.api_keys import api_key_create, api_key_revoke
from monitoring.queue import categories

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/reports"


@pytest.fixture
def key(admin: Any) -> Any:
    return api_key_create(actor=admin, name="platform")


@pytest.fixture
def api(key: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")


def send(api: Client, **fields: Any) -> Any:
    body = {"report_id": "r-1", "room": "lobby", "reporter": "viewer-9", "category": "spam_or_scam"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    return api.post(REPORTS, json.dumps(body), content_type="application/json")


def error_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


def test_a_report_is_stored_in_a_new_case_and_answered_with_201(api: Client) -> None:
    response = send(
        api,
        identity="troll-1",
        text="keeps posting links",
        excerpt="buy followers at ...",
        evidence_url="https://clips.example.org/1",
        at="2026-01-31T12:00:00Z",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["report"]["report_id"] == "r-1"
    assert body["report"]["identity"] == "troll-1"
    assert body["report"]["at"] == "2026-01-31T12:00:00Z"
    case = Case.objects.get()
    assert body["case"] == {"id": case.pk, "state": "open", "reports": 1, "reporters": 1}
    assert (case.room_name, case.identity) == ("lobby", "troll-1")
    assert Report.objects.get().api_key.name == "platform"


def test_the_same_report_id_twice_stores_one_report_and_answers_the_same(api: Client) -> None:
    first = send(api, text="first")
    again = send(api, text="a retry with other text")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["report"] == first.json()["report"]
    assert Report.objects.count() == 1
    assert Case.objects.get().report_count == 1


def test_reports_about_the_same_target_join_one_case_and_count_distinct_reporters(
    api: Client,
) -> None:
    send(api, report_id="a", identity="troll", reporter="v1", category="harassment_or_bullying")
    send(api, report_id="b", identity="troll", reporter="v2", category="hate_speech")
    send(api, report_id="c", identity="troll", reporter="v1", category="hate_speech")
    send(api, report_id="d", reporter="v3")  # the room itself: another target
    send(api, report_id="e", identity="troll", room="stage", reporter="v4")  # another room

    troll = Case.objects.get(room_name="lobby", identity="troll")
    assert (troll.report_count, troll.reporter_count) == (3, 2)
    assert troll.categories == ["harassment_or_bullying", "hate_speech"]
    assert troll.severity == categories.severity("hate_speech")
    assert Case.objects.count() == 3


def test_a_report_after_the_case_closed_opens_a_new_case(api: Client, moderator: Any) -> None:
    from monitoring.queue import services

    send(api, report_id="a")
    case = Case.objects.get()
    services.case_dismiss(actor=moderator, case=case, reason="not spam")

    send(api, report_id="b")

    assert Case.objects.count() == 2
    assert Case.objects.filter(state="open").get().report_count == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"report_id": ""}, "report_id"),
        ({"room": None}, "room"),
        ({"reporter": "  "}, "reporter"),
        ({"category": "rude"}, "category"),
        ({"identity": 42}, "identity"),
        ({"evidence_url": "javascript:alert(1)"}, "evidence_url"),
        ({"at": "yesterday"}, "at"),
        ({"at": "2026-01-31T12:00:00"}, "at"),
        ({"text": "x" * 4001}, "text"),
    ],
)
def test_invalid_fields_are_refused_with_422_naming_the_field_and_store_nothing(
    api: Client, fields: dict[str, Any], field: str
) -> None:
    response = send(api, **fields)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert error["field"] == field
    assert not Report.objects.exists() and not Case.objects.exists()


def test_unknown_fields_and_query_parameters_are_refused(api: Client) -> None:
    unknown_field = send(api, severity="high")
    assert unknown_field.status_code == 422 and "severity" in error_of(unknown_field)["message"]
    body = json.dumps({"report_id": "r", "room": "x", "reporter": "v", "category": "other"})
    with_query = api.post(REPORTS + "?room=lobby", body, content_type="application/json")
    assert with_query.status_code == 400 and error_of(with_query)["code"] == "bad_parameter"
    assert not Report.objects.exists()


def test_bodies_that_are_not_json_objects_are_refused(api: Client) -> None:
    assert error_of(api.post(REPORTS, "x=1", content_type="text/plain"))["code"] == (
        "unsupported_media_type"
    )
    assert error_of(api.post(REPORTS, "{", content_type="application/json"))["code"] == (
        "malformed_json"
    )
    assert error_of(api.post(REPORTS, "[]", content_type="application/json"))["code"] == (
        "malformed_json"
    )


def test_the_endpoint_needs_a_valid_unrevoked_key_and_only_takes_post(
    api: Client, key: Any, admin: Any
) -> None:
    assert Client().post(REPORTS, "{}", content_type="application/json").status_code == 401
    assert api.get(REPORTS).status_code == 405
    api_key_revoke(actor=admin, api_key=key.api_key)
    refused = send(api)
    assert refused.status_code == 401 and error_of(refused)["code"] == "unauthenticated"
    assert not Report.objects.exists()


def test_every_action_preset_and_other_are_categories_and_the_openapi_lists_them() -> None:
    from pathlib import Path

    import yaml

    from monitoring.moderation.reasons import REASON_PRESETS

    assert [categories.label(c) for c in categories.REPORTABLE[:-1]] == list(REASON_PRESETS)
    assert categories.REPORTABLE[-1] == "other"
    spec = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml").read_text()
    )
    enum = spec["components"]["schemas"]["ReportCreate"]["properties"]["category"]["enum"]
    assert enum == list(categories.REPORTABLE)


def test_answers_match_the_documented_schemas(api: Client) -> None:
    from openapi_schema_validator import OAS31Validator

    from tests.test_ban_api import openapi

    spec = openapi()
    operation = spec["paths"]["/reports"]["post"]

    def schema(status: str) -> Any:
        ref = operation["responses"][status]["$ref"].rsplit("/", 1)[1]
        content = spec["components"]["responses"][ref]["content"]["application/json"]
        return OAS31Validator({**content["schema"], "components": spec["components"]})

    created = send(api, identity="troll")
    schema("201").validate(created.json())
    schema("200").validate(send(api, identity="troll").json())
    schema("422").validate(send(api, report_id="r-2", category="nope").json())
    schema("401").validate(Client().post(REPORTS).json())


# --- API keys from the command line


def test_apikey_create_prints_the_key_once_and_audits_it_like_the_page(admin: Any) -> None:
    admin.is_superuser = True
    admin.save()
    out, err = StringIO(), StringIO()

    call_command("apikey", "create", "deploy-bot", stdout=out, stderr=err)

    key = out.getvalue().strip()
    assert key.startswith("rwk_") and "\n" not in key
    stored = ApiKey.objects.get(name="deploy-bot")
    assert key not in stored.key_hash
    entry = AuditEntry.objects.get(action="api_key.create")
    assert (entry.actor_name, entry.detail["name"]) == ("ada-admin", "deploy-bot")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        REPORTS,
        json.dumps({"report_id": "r", "room": "x", "reporter": "v", "category": "other"}),
        content_type="application/json",
    )
    assert response.status_code == 201


def test_apikey_revoke_revokes_by_name_and_audits_it(admin: Any) -> None:
    made = api_key_create(actor=admin, name="deploy-bot")

    call_command("apikey", "revoke", "deploy-bot", "--as", "ada-admin", stdout=StringIO())

    made.api_key.refresh_from_db()
    assert made.api_key.revoked_at is not None
    assert AuditEntry.objects.filter(action="api_key.revoke", actor_name="ada-admin").exists()
    with pytest.raises(CommandError, match="no active API key"):
        call_command("apikey", "revoke", "deploy-bot", "--as", "ada-admin")


def test_apikey_refuses_an_account_that_may_not_manage_keys(moderator: Any) -> None:
    with pytest.raises(CommandError, match="may not manage API keys"):
        call_command("apikey", "create", "x", "--as", "mia-moderator", stdout=StringIO())
    assert not ApiKey.objects.exists()
