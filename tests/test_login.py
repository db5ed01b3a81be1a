"""Only active staff sign in, and repeated failures are throttled."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"


def attempt(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_the_login_page_is_the_consoles_own(client: Client, db: Any) -> None:
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b"Staff sign-in" in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_staff_sign_in_and_land_on_the_rooms_page(client: Client, moderator: Any) -> None:
    response = attempt(client, moderator.username, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("monitoring:rooms")


def test_a_non_staff_account_cannot_sign_in(client: Client, outsider: Any) -> None:
    response = attempt(client, outsider.username, PASSWORD)
    assert response.status_code == 200
    assert b"not a staff account" in response.content
    assert "_auth_user_id" not in client.session


def test_an_inactive_account_cannot_sign_in(client: Client, moderator: Any) -> None:
    moderator.is_active = False
    moderator.save()
    response = attempt(client, moderator.username, PASSWORD)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_signing_out_needs_a_post_and_ends_the_session(client: Client, support: Any) -> None:
    client.force_login(support)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("limit", [5])
def test_an_account_is_locked_after_repeated_failures_from_any_address(
    client: Client, moderator: Any, limit: int
) -> None:
    for i in range(limit):
        attempt(client, moderator.username, "wrong", ip=f"10.0.1.{i}")
    # Even the right password, from yet another address, is refused for now.
    response = attempt(client, moderator.username, PASSWORD, ip="10.0.1.200")
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_an_address_is_locked_after_failures_across_accounts(
    client: Client, moderator: Any, support: Any
) -> None:
    for i in range(5):
        attempt(client, f"guess-{i}", "wrong", ip="10.0.2.7")
    assert attempt(client, support.username, PASSWORD, ip="10.0.2.7").status_code == 429
    # The same account from another address still signs in.
    assert attempt(client, support.username, PASSWORD, ip="10.0.2.8").status_code == 302


def test_a_few_failures_do_not_lock_anyone_out(client: Client, moderator: Any) -> None:
    for _ in range(3):
        attempt(client, moderator.username, "wrong")
    assert attempt(client, moderator.username, PASSWORD).status_code == 302
