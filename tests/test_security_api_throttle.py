"""Invalid API keys are throttled per client address: 429 with Retry-After, and the
lock-out is written to the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from monitoring.api.throttle import LOCKOUT_ACTION
from monitoring.models import AuditEntry
from monitoring.moderation.api_keys import api_key_create

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/bans/check?identity=viewer-1"
BAD = "Bearer rwk_000000000000_not-a-real-secret"


@pytest.fixture
def limit(settings: Any) -> int:
    settings.API_KEY_FAILURE_LIMIT = 5
    settings.API_KEY_COOLOFF_SECONDS = 120
    return 5


def try_key(authorization: str, address: str = "203.0.113.7") -> Any:
    return Client().get(CHECK, HTTP_AUTHORIZATION=authorization, REMOTE_ADDR=address)


def test_invalid_keys_from_one_address_are_refused_with_429_after_the_limit(limit: int) -> None:
    answers = [try_key(BAD).status_code for _ in range(limit + 3)]

    assert answers == [401] * (limit - 1) + [429] * 4


def test_the_429_says_when_to_come_back(limit: int) -> None:
    for _ in range(limit):
        try_key(BAD)

    response = try_key(BAD)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 120
    assert response.json()["error"]["code"] == "too_many_attempts"


def test_a_locked_address_is_refused_even_with_a_valid_key(limit: int, admin: Any) -> None:
    key = api_key_create(actor=admin, name="token-server")
    for _ in range(limit):
        try_key(BAD)

    assert try_key(f"Bearer {key.plaintext}").status_code == 429


def test_other_addresses_are_not_affected(limit: int, admin: Any) -> None:
    key = api_key_create(actor=admin, name="token-server")
    for _ in range(limit):
        try_key(BAD)

    assert try_key(BAD, address="198.51.100.2").status_code == 401
    assert try_key(f"Bearer {key.plaintext}", address="198.51.100.2").status_code == 200


def test_valid_keys_are_never_counted(limit: int, admin: Any) -> None:
    key = api_key_create(actor=admin, name="token-server")

    answers = {try_key(f"Bearer {key.plaintext}").status_code for _ in range(limit * 2)}

    assert answers == {200}


def test_the_lock_out_is_audited_once(limit: int) -> None:
    for _ in range(limit + 3):
        try_key(BAD)

    entry = AuditEntry.objects.get(action=LOCKOUT_ACTION)
    assert entry.outcome == "failed"
    assert entry.detail["address"] == "203.0.113.7"
    assert entry.detail["failures"] == limit


def test_behind_a_trusted_proxy_the_forwarded_client_is_throttled(
    limit: int, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1

    def through_proxy(client_address: str) -> int:
        return (
            Client()
            .get(
                CHECK,
                HTTP_AUTHORIZATION=BAD,
                REMOTE_ADDR="10.9.9.9",
                HTTP_X_FORWARDED_FOR=client_address,
            )
            .status_code
        )

    for _ in range(limit):
        through_proxy("203.0.113.7")

    assert through_proxy("203.0.113.7") == 429
    assert through_proxy("198.51.100.2") == 401


def test_the_lock_ends_after_the_cool_off(limit: int, settings: Any) -> None:
    import time

    settings.API_KEY_COOLOFF_SECONDS = 1
    for _ in range(limit):
        try_key(BAD)
    assert try_key(BAD).status_code == 429

    time.sleep(1.3)

    assert try_key(BAD).status_code == 401
