"""Admins manage staff accounts; every change is refused clearly or audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

from accounts.roles import ADMIN, MODERATOR, SUPPORT, role_assign, role_of
from monitoring.models import AuditEntry
from tests.conftest import PASSWORD


def test_creating_a_staff_account_writes_one_audit_row(client: Client, admin: Any) -> None:
    client.force_login(admin)
    response = client.post(
        "/accounts/staff/",
        {"username": "nina", "role": MODERATOR, "password": "a-long-unusual-passphrase"},
    )
    assert response.status_code == 302
    nina = get_user_model().objects.get(username="nina")
    (entry,) = AuditEntry.objects.filter(action="staff.create")
    assert (entry.actor, entry.actor_role, entry.outcome) == (admin, ADMIN, "done")
    assert entry.detail == {"user_id": nina.pk, "username": "nina", "role": MODERATOR}


def test_a_refused_account_writes_no_audit_row_and_creates_nobody(
    client: Client, admin: Any
) -> None:
    client.force_login(admin)
    response = client.post(
        "/accounts/staff/",
        {"username": "nina smith!", "role": SUPPORT, "password": "a-long-unusual-passphrase"},
    )
    assert response.status_code == 400
    assert b"Enter a valid username" in response.content
    assert not get_user_model().objects.filter(username="nina smith!").exists()
    assert not AuditEntry.objects.exists()


def test_a_taken_username_is_refused_whatever_its_case(
    client: Client, admin: Any, moderator: Any
) -> None:
    client.force_login(admin)
    response = client.post(
        "/accounts/staff/",
        {
            "username": moderator.username.upper(),
            "role": SUPPORT,
            "password": "a-long-unusual-passphrase",
        },
    )
    assert response.status_code == 400
    assert b"already exists" in response.content


def test_changing_a_role_is_audited_with_before_and_after(
    client: Client, admin: Any, moderator: Any
) -> None:
    client.force_login(admin)
    response = client.post(
        f"/accounts/staff/{moderator.pk}/", {"role": SUPPORT, "is_active": "on"}, follow=True
    )
    moderator.refresh_from_db()
    assert role_of(moderator) == SUPPORT and moderator.is_active
    assert f"{moderator.username}: Support, active." in response.content.decode()
    (entry,) = AuditEntry.objects.filter(action="staff.update")
    assert entry.actor == admin
    assert entry.detail["role"] == {"from": MODERATOR, "to": SUPPORT}
    assert entry.detail["active"] == {"from": True, "to": True}


def test_a_deactivated_account_can_no_longer_use_the_console(
    client: Client, admin: Any, moderator: Any
) -> None:
    theirs = Client()
    theirs.force_login(moderator)
    assert theirs.get("/").status_code == 200
    client.force_login(admin)
    client.post(f"/accounts/staff/{moderator.pk}/", {"role": MODERATOR})
    moderator.refresh_from_db()
    assert moderator.is_active is False
    (entry,) = AuditEntry.objects.filter(action="staff.update")
    assert entry.detail["active"] == {"from": True, "to": False}
    assert theirs.get("/").status_code == 302, "the open session no longer counts"
    signing_in = Client().post(
        "/accounts/login/", {"username": moderator.username, "password": PASSWORD}
    )
    assert signing_in.status_code == 200, "the login page is shown again, with an error"


def test_saving_without_a_change_writes_no_audit_row(
    client: Client, admin: Any, moderator: Any
) -> None:
    client.force_login(admin)
    client.post(f"/accounts/staff/{moderator.pk}/", {"role": MODERATOR, "is_active": "on"})
    assert not AuditEntry.objects.exists()


def test_a_refused_change_says_why_and_changes_nothing(client: Client, admin: Any) -> None:
    client.force_login(admin)
    response = client.post(
        f"/accounts/staff/{admin.pk}/", {"role": SUPPORT, "is_active": "on"}, follow=True
    )
    assert "You cannot demote or deactivate your own account." in response.content.decode()
    admin.refresh_from_db()
    assert role_of(admin) == ADMIN
    assert not AuditEntry.objects.exists()


def test_the_last_admin_cannot_be_demoted_but_a_superuser_counts_as_an_admin(
    client: Client, admin: Any
) -> None:
    other = get_user_model().objects.create_user(username="ada", password=PASSWORD, is_staff=True)
    role_assign(user=other, role=ADMIN)
    client.force_login(other)
    client.post(f"/accounts/staff/{admin.pk}/", {"role": SUPPORT, "is_active": "on"})
    admin.refresh_from_db()
    assert role_of(admin) == SUPPORT, "another active admin remains"
    response = client.get("/accounts/staff/")
    assert response.status_code == 200

    root = get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    client.force_login(root)
    client.post(f"/accounts/staff/{other.pk}/", {"role": MODERATOR, "is_active": "on"})
    other.refresh_from_db()
    assert role_of(other) == MODERATOR, "the superuser is an active admin"


def test_a_superusers_role_cannot_be_lowered_from_the_page(client: Client, admin: Any) -> None:
    root = get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    client.force_login(admin)
    response = client.post(
        f"/accounts/staff/{root.pk}/", {"role": SUPPORT, "is_active": "on"}, follow=True
    )
    assert "root is a superuser and stays an admin" in response.content.decode()
    assert role_of(root) == ADMIN
    assert not AuditEntry.objects.exists()


def test_an_unknown_role_is_refused(client: Client, admin: Any, moderator: Any) -> None:
    client.force_login(admin)
    response = client.post(
        f"/accounts/staff/{moderator.pk}/", {"role": "Owner", "is_active": "on"}, follow=True
    )
    assert "Choose a valid role." in response.content.decode()
    assert role_of(moderator) == MODERATOR


def test_moderators_cannot_change_staff(client: Client, moderator: Any, support: Any) -> None:
    client.force_login(moderator)
    response = client.post(f"/accounts/staff/{support.pk}/", {"role": ADMIN, "is_active": "on"})
    assert response.status_code == 403
    assert role_of(support) == SUPPORT
