"""API keys: admins create them (shown once, stored hashed) and revoke them."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from monitoring.models import ApiKey, AuditEntry
from monitoring.moderation.api_keys import (
    ApiKeyInvalid,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
)

pytestmark = pytest.mark.django_db


def test_a_new_key_is_stored_only_as_a_hash(admin: Any) -> None:
    created = api_key_create(actor=admin, name="token-server")
    row = ApiKey.objects.get()
    assert created.plaintext.startswith(f"rwk_{row.prefix}_")
    assert created.plaintext not in {row.key_hash, row.prefix, row.name}
    assert row.key_hash == hashlib.sha256(created.plaintext.encode()).hexdigest()
    entry = AuditEntry.objects.get(action="api_key.create")
    assert entry.actor == admin and entry.outcome == "done"
    assert created.plaintext not in str(entry.detail)


def test_the_key_authenticates_until_it_is_revoked(admin: Any) -> None:
    created = api_key_create(actor=admin, name="token-server")
    assert api_key_authenticate(authorization=f"Bearer {created.plaintext}") == created.api_key
    api_key_revoke(actor=admin, api_key=created.api_key)
    with pytest.raises(ApiKeyInvalid, match="revoked"):
        api_key_authenticate(authorization=f"Bearer {created.plaintext}")
    assert AuditEntry.objects.filter(action="api_key.revoke", outcome="done").count() == 1


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", "Bearer rwk_", "Bearer not-a-key", "Bearer rwk_abc_def"],
)
def test_it_refuses_missing_and_malformed_keys(admin: Any, header: str | None) -> None:
    api_key_create(actor=admin, name="token-server")
    with pytest.raises(ApiKeyInvalid):
        api_key_authenticate(authorization=header)


def test_a_key_with_a_known_prefix_but_wrong_secret_is_refused(admin: Any) -> None:
    created = api_key_create(actor=admin, name="token-server")
    with pytest.raises(ApiKeyInvalid, match="not valid"):
        api_key_authenticate(authorization=f"Bearer {created.plaintext[:-3]}xyz")


@pytest.mark.parametrize("role", ["support", "moderator", "outsider"])
def test_only_admins_may_create_keys(role: str, request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        api_key_create(actor=user, name="token-server")
    assert not ApiKey.objects.exists()


def test_the_admin_page_shows_a_new_key_once(admin: Any, client_for: Any) -> None:
    client = client_for(admin)
    url = reverse("monitoring:api-keys")
    response = client.post(url, {"name": "token-server"})
    assert response.status_code == 302
    assert response["Location"] == url
    shown = client.get(url)
    assert shown.status_code == 200
    assert shown["Cache-Control"] == "no-store"
    key = shown.context["new_key"]
    assert key.startswith("rwk_")
    assert key in shown.content.decode()
    again = client.get(url)
    assert again.status_code == 200
    assert key not in again.content.decode()
    assert "token-server" in again.content.decode()


def test_reloading_after_creating_a_key_creates_no_second_key(admin: Any, client_for: Any) -> None:
    client = client_for(admin)
    url = reverse("monitoring:api-keys")
    client.post(url, {"name": "token-server"}, follow=True)
    reloaded = client.get(url)
    assert reloaded.status_code == 200
    assert reloaded.context["new_key"] == ""
    assert ApiKey.objects.count() == 1
    assert AuditEntry.objects.filter(action="api_key.create").count() == 1


def test_the_new_key_is_not_kept_in_the_session_once_shown(admin: Any, client_for: Any) -> None:
    client = client_for(admin)
    client.post(reverse("monitoring:api-keys"), {"name": "token-server"}, follow=True)
    assert not any(str(value).startswith("rwk_") for value in client.session.values())


def test_a_key_without_a_name_is_refused_with_a_message(admin: Any, client_for: Any) -> None:
    response = client_for(admin).post(reverse("monitoring:api-keys"), {"name": "  "})
    assert response.status_code == 400
    assert "Give the key a name" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_admin_page_revokes_a_key(admin: Any, client_for: Any) -> None:
    created = api_key_create(actor=admin, name="token-server")
    client = client_for(admin)
    url = reverse("monitoring:api-key-revoke", args=[created.api_key.pk])
    response = client.post(url)
    assert response.status_code == 302
    created.api_key.refresh_from_db()
    assert created.api_key.revoked_at is not None
    again = client.post(url)
    assert again.status_code == 409
    assert "already revoked" in again.content.decode()
    assert AuditEntry.objects.filter(action="api_key.revoke").count() == 1


@pytest.mark.parametrize("role", ["support", "moderator", "outsider"])
def test_the_keys_page_is_admin_only(
    role: str, request: pytest.FixtureRequest, client_for: Any
) -> None:
    client = client_for(request.getfixturevalue(role))
    assert client.get(reverse("monitoring:api-keys")).status_code == 403
    assert client.post(reverse("monitoring:api-keys"), {"name": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_anonymous_visitors_are_sent_to_sign_in(db: Any) -> None:
    response = Client().get(reverse("monitoring:api-keys"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_creating_a_key_needs_the_csrf_token(admin: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post(reverse("monitoring:api-keys"), {"name": "token-server"})
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
