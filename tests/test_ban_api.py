"""The ban API for the platform's token server: /api/v1/bans..., authenticated by API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from monitoring.models import AuditEntry, Ban
from monitoring.moderation.api_keys import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/bans/check"
BANS = "/api/v1/bans"


@pytest.fixture
def key(admin: Any) -> Any:
    return api_key_create(actor=admin, name="token-server")


@pytest.fixture
def api(key: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")


@pytest.fixture
def livekit_down(settings: Any) -> None:
    settings.LIVEKIT_URL = "http://127.0.0.1:9"
    settings.LIVEKIT_TIMEOUT_SECONDS = 2


def ban(identity: str, *, room: str = "", **fields: Any) -> Ban:
    return Ban.objects.create(
        identity=identity,
        scope="room" if room else "global",
        room_name=room,
        reason=fields.pop("reason", "spam"),
        created_by_name="ada-admin",
        **fields,
    )


def error_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


# --- authentication


def test_a_request_without_a_key_gets_401_in_json(db: Any) -> None:
    response = Client().get(CHECK, {"identity": "viewer-1"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "unauthenticated"


def test_a_request_with_an_unknown_key_gets_401(key: Any) -> None:
    response = Client(HTTP_AUTHORIZATION="Bearer rwk_000000000000_nope").get(
        CHECK, {"identity": "viewer-1"}
    )
    assert response.status_code == 401
    assert "not valid" in error_of(response)["message"]


def test_a_revoked_key_gets_401(admin: Any, key: Any, api: Client) -> None:
    assert api.get(CHECK, {"identity": "viewer-1"}).status_code == 200
    api_key_revoke(actor=admin, api_key=key.api_key)
    response = api.get(CHECK, {"identity": "viewer-1"})
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_a_used_key_records_when_it_was_last_used(key: Any, api: Client) -> None:
    api.get(CHECK, {"identity": "viewer-1"})
    key.api_key.refresh_from_db()
    assert key.api_key.last_used_at is not None


# --- the check


def test_an_identity_without_bans_may_join(api: Client) -> None:
    response = api.get(CHECK, {"identity": "viewer-1", "room": "lobby"})
    assert response.status_code == 200
    assert response.json() == {"banned": False, "ban": None, "reason": None}


def test_a_room_ban_refuses_that_room_only(api: Client) -> None:
    made = ban("viewer-1", room="lobby", reason="spamming links")
    refused = api.get(CHECK, {"identity": "viewer-1", "room": "lobby"}).json()
    assert refused["banned"] is True
    assert refused["reason"] == "spamming links"
    assert refused["ban"]["id"] == made.pk and refused["ban"]["scope"] == "room"
    assert api.get(CHECK, {"identity": "viewer-1", "room": "stage"}).json()["banned"] is False


def test_a_global_ban_refuses_every_room_and_wins_over_a_room_ban(api: Client) -> None:
    ban("viewer-1", room="lobby")
    everywhere = ban("viewer-1", reason="threats")
    for room in ("lobby", "stage", ""):
        body = api.get(CHECK, {"identity": "viewer-1", "room": room}).json()
        assert body["banned"] is True
        assert body["ban"]["id"] == everywhere.pk


def test_expired_and_lifted_bans_no_longer_refuse(api: Client) -> None:
    now = timezone.now()
    ban("viewer-1", room="lobby", expires_at=now - timedelta(seconds=1))
    ban("viewer-1", lifted_at=now, lift_reason="appeal granted")
    body = api.get(CHECK, {"identity": "viewer-1", "room": "lobby"}).json()
    assert body["banned"] is False


def test_a_ban_expiring_later_still_refuses(api: Client) -> None:
    ban("viewer-1", room="lobby", expires_at=timezone.now() + timedelta(minutes=10))
    assert api.get(CHECK, {"identity": "viewer-1", "room": "lobby"}).json()["banned"] is True


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "'identity' parameter is required"),
        ({"identity": "  "}, "'identity' parameter is required"),
        ({"identity": "x" * 257}, "at most 256"),
        ({"identity": ["a", "b"]}, "at most once"),
    ],
)
def test_bad_check_parameters_get_400(api: Client, params: dict[str, Any], message: str) -> None:
    response = api.get(CHECK, params)
    assert response.status_code == 400
    assert message in error_of(response)["message"]


def test_the_check_only_answers_get(api: Client) -> None:
    response = api.post(CHECK, {}, content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert error_of(response)["code"] == "method_not_allowed"


def test_unknown_api_paths_answer_404_in_json(api: Client) -> None:
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


# --- listing


def test_the_list_shows_active_bans_by_default_with_filters_and_pages(api: Client) -> None:
    for n in range(5):
        ban(f"viewer-{n}", room="lobby")
    ban("viewer-9")
    ban("viewer-8", lifted_at=timezone.now())
    page = api.get(BANS, {"page_size": 2}).json()
    assert page["total"] == 6 and len(page["items"]) == 2 and page["has_next"] is True
    last = api.get(BANS, {"page_size": 2, "page": 3}).json()
    assert len(last["items"]) == 2 and last["has_next"] is False
    assert api.get(BANS, {"scope": "global"}).json()["total"] == 1
    assert api.get(BANS, {"state": "lifted"}).json()["items"][0]["identity"] == "viewer-8"
    assert api.get(BANS, {"identity": "viewer-3"}).json()["total"] == 1
    assert api.get(BANS, {"room": "lobby", "state": "all"}).json()["total"] == 5


@pytest.mark.parametrize(
    "params",
    [
        {"scope": "planet"},
        {"state": "sleepy"},
        {"page": "0"},
        {"page_size": "500"},
        {"page": "two"},
    ],
)
def test_bad_list_parameters_get_400(api: Client, params: dict[str, str]) -> None:
    response = api.get(BANS, params)
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_parameter"


# --- creating


def test_creating_needs_a_json_body(api: Client) -> None:
    response = api.post(BANS, {"identity": "viewer-1"})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert not Ban.objects.exists()


def test_malformed_json_gets_400(api: Client) -> None:
    response = api.post(BANS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"
    assert api.post(BANS, "[1]", content_type="application/json").status_code == 400


@pytest.mark.parametrize(
    "body, message",
    [
        ({"scope": "room", "room": "lobby", "reason": "spam"}, "Identity is required"),
        ({"identity": "v", "scope": "room", "reason": "spam"}, "Room is required"),
        ({"identity": "v", "scope": "galaxy", "reason": "spam"}, "'scope' must be"),
        ({"identity": "v", "scope": "global", "room": "lobby", "reason": "x"}, "omit 'room'"),
        ({"identity": "v", "scope": "global"}, "Reason is required"),
        ({"identity": 7, "scope": "global", "reason": "x"}, "must be a string"),
        ({"identity": "v", "scope": "global", "reason": "x", "expires_at": "tomorrow"}, "ISO 8601"),
        (
            {
                "identity": "v",
                "scope": "global",
                "reason": "x",
                "expires_at": "2001-01-01T00:00:00Z",
            },
            "in the future",
        ),
        (
            {"identity": "v", "scope": "global", "reason": "x", "duration_seconds": -5},
            "positive whole number",
        ),
        (
            {
                "identity": "v",
                "scope": "global",
                "reason": "x",
                "duration_seconds": 60,
                "expires_at": "2099-01-01T00:00:00Z",
            },
            "not both",
        ),
        ({"identity": "v", "scope": "global", "reason": "x", "colour": "red"}, "Unknown field"),
    ],
)
def test_invalid_bans_get_422_and_nothing_is_stored(
    api: Client, body: dict[str, Any], message: str
) -> None:
    response = api.post(BANS, body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert message in error_of(response)["message"]
    assert not Ban.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="ban.").exists()


def test_a_ban_made_while_livekit_is_down_is_kept_and_the_failure_reported(
    api: Client, livekit_down: None
) -> None:
    response = api.post(
        BANS,
        {"identity": "viewer-1", "scope": "global", "reason": "raid", "duration_seconds": 3600},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ban"]["identity"] == "viewer-1" and body["ban"]["state"] == "active"
    assert body["ban"]["created_by"] == "api:token-server"
    assert [e["outcome"] for e in body["enforcement"]] == ["failed"]
    assert "LiveKit cannot be reached" in body["enforcement"][0]["error"]
    created = AuditEntry.objects.get(action="ban.create")
    assert created.actor_name == "api:token-server"
    failed = AuditEntry.objects.get(action="ban.enforce")
    assert failed.outcome == "failed" and "LiveKit cannot be reached" in failed.error


def test_the_same_ban_twice_gets_409_with_the_existing_ban(api: Client, livekit_down: None) -> None:
    existing = ban("viewer-1", room="lobby")
    response = api.post(
        BANS,
        {"identity": "viewer-1", "scope": "room", "room": "lobby", "reason": "again"},
        content_type="application/json",
    )
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "already_banned"
    assert error["ban"]["id"] == existing.pk
    assert Ban.objects.count() == 1


# --- lifting


def test_a_ban_is_lifted_with_a_reason_through_either_route(api: Client) -> None:
    first, second = ban("viewer-1", room="lobby"), ban("viewer-2", room="lobby")
    response = api.post(
        f"{BANS}/{first.pk}/revoke", {"reason": "appeal granted"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["ban"]["state"] == "lifted"
    assert response.json()["ban"]["lift_reason"] == "appeal granted"
    deleted = api.delete(f"{BANS}/{second.pk}?reason=mistaken+identity")
    assert deleted.status_code == 200
    assert deleted.json()["ban"]["lifted_by"] == "api:token-server"
    lifts = AuditEntry.objects.filter(action="ban.lift")
    assert {e.reason for e in lifts} == {"appeal granted", "mistaken identity"}
    assert api.get(CHECK, {"identity": "viewer-1", "room": "lobby"}).json()["banned"] is False


def test_lifting_without_a_reason_gets_422(api: Client) -> None:
    made = ban("viewer-1")
    response = api.post(f"{BANS}/{made.pk}/revoke", {}, content_type="application/json")
    assert response.status_code == 422
    made.refresh_from_db()
    assert made.lifted_at is None


def test_lifting_twice_gets_409(api: Client) -> None:
    made = ban("viewer-1")
    url = f"{BANS}/{made.pk}/revoke"
    assert api.post(url, {"reason": "ok"}, content_type="application/json").status_code == 200
    again = api.post(url, {"reason": "ok"}, content_type="application/json")
    assert again.status_code == 409 and error_of(again)["code"] == "not_active"
    assert AuditEntry.objects.filter(action="ban.lift").count() == 1


def test_an_unknown_ban_gets_404(api: Client) -> None:
    response = api.post(f"{BANS}/999999/revoke", {"reason": "x"}, content_type="application/json")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert api.get(f"{BANS}/999999").status_code == 404


def test_one_ban_can_be_read_by_id(api: Client) -> None:
    made = ban("viewer-1", room="lobby")
    response = api.get(f"{BANS}/{made.pk}")
    assert response.status_code == 200
    assert response.json()["ban"]["room"] == "lobby"
    assert api.put(f"{BANS}/{made.pk}").status_code == 405


def test_a_ban_made_through_the_api_removes_the_identity_in_livekit(
    api: Client, livekit_sim: Any
) -> None:
    livekit_sim.join("lobby", "viewer-1")
    livekit_sim.join("lobby", "host")
    response = api.post(
        BANS,
        {"identity": "viewer-1", "scope": "room", "room": "lobby", "reason": "spam"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["enforcement"] == [{"room": "lobby", "outcome": "done", "error": None}]
    lobby = next(r for r in livekit_sim.state()["rooms"] if r["name"] == "lobby")
    assert [p["identity"] for p in lobby["participants"]] == ["host"]
    check = api.get(CHECK, {"identity": "viewer-1", "room": "lobby"}).json()
    assert check["banned"] is True and check["reason"] == "spam"


def test_the_openapi_description_covers_every_endpoint() -> None:
    from pathlib import Path

    from django.urls import resolve

    text = (Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml").read_text()
    assert text.startswith("openapi: 3.1")
    documented = [
        line.strip().rstrip(":") for line in text.splitlines() if line.startswith("  /bans")
    ]
    assert documented == ["/bans/check", "/bans", "/bans/{id}", "/bans/{id}/revoke"]
    for path in documented:
        match = resolve("/api/v1" + path.replace("{id}", "1"))
        assert match.url_name != "not-found", path


# --- unknown parameters and the description matching the implementation


def test_a_misspelt_room_parameter_is_refused_rather_than_answered_wrongly(api: Client) -> None:
    ban("viewer-1", room="lobby")

    response = api.get(CHECK, {"identity": "viewer-1", "rooom": "lobby"})

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_parameter"
    assert error["message"] == ("Unknown parameter(s): rooom. This endpoint takes identity, room.")
    assert api.get(CHECK, {"identity": "viewer-1", "room": "lobby"}).json()["banned"] is True


def test_unknown_list_and_lift_parameters_are_refused_and_change_nothing(api: Client) -> None:
    made = ban("viewer-1")

    listed = api.get(BANS, {"identity": "viewer-1", "sort": "newest"})
    assert listed.status_code == 400 and "sort" in error_of(listed)["message"]
    read = api.get(f"{BANS}/{made.pk}", {"verbose": "1"})
    assert read.status_code == 400 and "no query parameters" in error_of(read)["message"]
    lifted = api.delete(f"{BANS}/{made.pk}?reason=appeal&force=1")
    assert lifted.status_code == 400 and "force" in error_of(lifted)["message"]

    made.refresh_from_db()
    assert made.lifted_at is None
    assert not AuditEntry.objects.filter(action="ban.lift").exists()


def openapi() -> dict[str, Any]:
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
    return yaml.safe_load(path.read_text())


def test_the_openapi_description_is_a_valid_openapi_3_1_document() -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    spec = openapi()
    assert spec["openapi"].startswith("3.1")
    try:
        validate(spec)
    except OpenAPIValidationError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"docs/openapi.yaml is not valid OpenAPI: {exc}")


def test_every_documented_operation_is_served_and_every_api_route_is_documented(
    api: Client,
) -> None:
    from django.urls import resolve

    from monitoring.api import urls

    spec = openapi()
    made = ban("viewer-1")
    documented = {path for path in spec["paths"]}
    routed = {
        "/" + str(p.pattern).replace("<int:ban_id>", "{id}")
        for p in urls.urlpatterns
        if p.name != "not-found"
    }
    assert documented == routed

    for path, item in spec["paths"].items():
        url = "/api/v1" + path.replace("{id}", str(made.pk))
        assert resolve(url).url_name != "not-found", path
        for method in set(item) & {"get", "post", "delete", "put", "patch"}:
            response = getattr(api, method)(url)
            assert response.status_code != 405, f"{method.upper()} {path} is not served"
            assert str(response.status_code) in item[method]["responses"], (
                f"{method.upper()} {path} answered {response.status_code}, which is not documented"
            )
        served = {"get", "post", "delete", "put", "patch"} - set(item)
        for method in served:
            assert getattr(api, method)(url).status_code == 405, f"{method} {path} undocumented"


def schema_of(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    from openapi_schema_validator import OAS31Validator

    return OAS31Validator({**schema, "components": spec["components"]})


def test_real_answers_match_the_documented_schemas(api: Client, livekit_sim: Any) -> None:
    spec = openapi()
    paths = spec["paths"]

    def body(path: str, method: str, status: str) -> dict[str, Any]:
        response = paths[path][method]["responses"][status]
        if "$ref" in response:
            response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return response["content"]["application/json"]["schema"]

    livekit_sim.join("lobby", "viewer-1")
    created = api.post(
        BANS,
        {"identity": "viewer-1", "scope": "room", "room": "lobby", "reason": "spam"},
        content_type="application/json",
    )
    schema_of(spec, body("/bans", "post", "201")).validate(created.json())
    ban_id = created.json()["ban"]["id"]

    answers = [
        ("/bans/check", "get", "200", api.get(CHECK, {"identity": "viewer-1", "room": "lobby"})),
        ("/bans/check", "get", "200", api.get(CHECK, {"identity": "nobody"})),
        ("/bans/check", "get", "400", api.get(CHECK, {"identity": "x", "rooom": "y"})),
        ("/bans/check", "get", "401", Client().get(CHECK, {"identity": "x"})),
        ("/bans", "get", "200", api.get(BANS, {"state": "all"})),
        ("/bans/{id}", "get", "200", api.get(f"{BANS}/{ban_id}")),
        ("/bans/{id}", "get", "404", api.get(f"{BANS}/999999")),
        (
            "/bans/{id}/revoke",
            "post",
            "200",
            api.post(f"{BANS}/{ban_id}/revoke", {"reason": "ok"}, content_type="application/json"),
        ),
        ("/bans/{id}", "delete", "409", api.delete(f"{BANS}/{ban_id}?reason=again")),
    ]
    for path, method, status, response in answers:
        assert str(response.status_code) == status, (path, method, response.content)
        schema_of(spec, body(path, method, status)).validate(response.json())

    again = {"identity": "viewer-2", "scope": "global", "reason": "spam"}
    api.post(BANS, again, content_type="application/json")
    conflict = api.post(BANS, again, content_type="application/json")
    assert conflict.status_code == 409
    schema_of(spec, body("/bans", "post", "409")).validate(conflict.json())
    assert conflict.json()["error"]["ban"]["identity"] == "viewer-2"
