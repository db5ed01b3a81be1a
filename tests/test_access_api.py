"""The access check for the platform's token server: refuse a token, or issue it
without the grants a restriction forbids (/api/v1/access/check)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client
from django.utils import timezone

from monitoring.models import Ban, Restriction
from monitoring.moderation.api_keys import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/access/check"


@pytest.fixture
def key(admin: Any) -> Any:
    return api_key_create(actor=admin, name="token-server")


@pytest.fixture
def api(key: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")


def restrict(identity: str, kind: str, *, room: str = "", **fields: Any) -> Restriction:
    return Restriction.objects.create(
        identity=identity,
        kind=kind,
        scope="room" if room else "global",
        room_name=room,
        reason=fields.pop("reason", "shouting"),
        created_by_name="mia-moderator",
        **fields,
    )


def check(api: Client, **params: str) -> dict[str, Any]:
    response = api.get(CHECK, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_an_unrestricted_identity_gets_every_grant(api: Client) -> None:
    answer = check(api, identity="viewer-1", room="lobby")
    assert answer == {
        "refuse": False,
        "reason": None,
        "ban": None,
        "restrictions": [],
        "leave_out": {"can_publish": False, "can_publish_data": False, "can_publish_sources": []},
    }


def test_a_silenced_identity_gets_a_token_without_the_microphone(api: Client) -> None:
    restrict("viewer-1", "silence", room="lobby")

    answer = check(api, identity="viewer-1", room="lobby")

    assert answer["refuse"] is False
    assert answer["leave_out"] == {
        "can_publish": False,
        "can_publish_data": False,
        "can_publish_sources": ["microphone"],
    }
    assert [r["kind"] for r in answer["restrictions"]] == ["silence"]
    assert check(api, identity="viewer-1", room="stage")["leave_out"]["can_publish_sources"] == []


def test_no_chat_and_no_video_together_leave_out_data_and_every_video_source(api: Client) -> None:
    restrict("viewer-1", "no_data")
    restrict("viewer-1", "no_video", room="lobby")

    out = check(api, identity="viewer-1", room="lobby")["leave_out"]

    assert out == {
        "can_publish": False,
        "can_publish_data": True,
        "can_publish_sources": ["camera", "screen_share", "screen_share_audio"],
    }


def test_no_publishing_leaves_out_publishing_itself(api: Client) -> None:
    restrict("viewer-1", "no_publish", room="lobby")
    out = check(api, identity="viewer-1", room="lobby")["leave_out"]
    assert out["can_publish"] is True and out["can_publish_sources"] == []


def test_a_banned_identity_is_refused_with_the_bans_reason_and_its_rejoin_count(
    api: Client,
) -> None:
    Ban.objects.create(
        identity="viewer-1",
        scope="global",
        reason="raiding",
        created_by_name="ada-admin",
        rejoin_count=3,
        last_rejoin_at=timezone.now(),
    )

    answer = check(api, identity="viewer-1", room="lobby")

    assert answer["refuse"] is True and answer["reason"] == "raiding"
    assert answer["ban"]["rejoin_count"] == 3 and answer["ban"]["last_rejoin_at"]


def test_expired_and_lifted_restrictions_leave_nothing_out(api: Client) -> None:
    restrict("viewer-1", "silence", room="lobby", expires_at=timezone.now() - timedelta(seconds=1))
    restrict("viewer-1", "no_data", room="lobby", lifted_at=timezone.now())
    answer = check(api, identity="viewer-1", room="lobby")
    assert answer["restrictions"] == []
    assert answer["leave_out"]["can_publish_data"] is False


def test_parameters_are_strict(api: Client) -> None:
    misspelt = api.get(CHECK, {"identity": "viewer-1", "rooom": "lobby"})
    assert misspelt.status_code == 400 and misspelt.json()["error"]["code"] == "bad_parameter"
    no_room = api.get(CHECK, {"identity": "viewer-1"})
    assert no_room.status_code == 400 and no_room.json()["error"]["code"] == "missing_parameter"
    no_identity = api.get(CHECK, {"room": "lobby"})
    assert no_identity.status_code == 400
    twice = api.get(CHECK + "?identity=a&identity=b&room=lobby")
    assert twice.status_code == 400
    assert api.post(CHECK, {"identity": "a", "room": "b"}).status_code == 405


def test_it_needs_a_valid_unrevoked_api_key(key: Any, admin: Any) -> None:
    assert Client().get(CHECK, {"identity": "a", "room": "b"}).status_code == 401
    api_key_revoke(actor=admin, api_key=key.api_key)
    revoked = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    assert revoked.get(CHECK, {"identity": "a", "room": "b"}).status_code == 401


def test_the_answer_matches_its_openapi_schema(api: Client) -> None:
    from openapi_schema_validator import OAS31Validator

    spec = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml").read_text()
    )
    schema = spec["paths"]["/access/check"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    restrict("viewer-1", "silence", room="lobby", expires_at=timezone.now() + timedelta(minutes=5))
    Ban.objects.create(identity="viewer-2", scope="global", reason="x", created_by_name="a")
    validator = OAS31Validator({**schema, "components": spec["components"]})
    for identity in ("viewer-1", "viewer-2", "viewer-3"):
        validator.validate(check(api, identity=identity, room="lobby"))
