"""Who may open which page: anonymous, outsiders and each staff role."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.access import Action, can
from accounts.roles import ADMIN, MODERATOR, ROLE_ACTIONS, SUPPORT, role_of


def test_roles_exist_after_migrate_with_their_permissions(db: Any) -> None:
    from django.contrib.auth.models import Group

    groups = {
        g.name: {f"accounts.{p.codename}" for p in g.permissions.all()} for g in Group.objects.all()
    }
    assert groups[SUPPORT] == {a.value for a in ROLE_ACTIONS[SUPPORT]}
    assert groups[MODERATOR] == {a.value for a in ROLE_ACTIONS[MODERATOR]}
    assert groups[ADMIN] == {a.value for a in Action}


def test_support_is_read_only(support: Any) -> None:
    assert can(support, Action.VIEW) and can(support, Action.VIEW_AUDIT)
    assert not any(can(support, a) for a in (Action.KICK, Action.BAN_ROOM, Action.END_STREAM))


def test_moderators_act_in_rooms_but_cannot_ban_globally(moderator: Any) -> None:
    assert can(moderator, Action.KICK) and can(moderator, Action.BAN_ROOM)
    assert not can(moderator, Action.BAN_GLOBAL)
    assert not can(moderator, Action.UNBAN)
    assert not can(moderator, Action.MANAGE_STAFF)


def test_admins_may_do_everything(admin: Any) -> None:
    assert all(can(admin, a) for a in Action)


def test_a_deactivated_admin_may_do_nothing(admin: Any) -> None:
    admin.is_active = False
    admin.save()
    assert not any(can(admin, a) for a in Action)


def test_outsiders_with_a_role_but_no_staff_flag_may_do_nothing(outsider: Any) -> None:
    from accounts.roles import role_assign

    role_assign(user=outsider, role=ADMIN)
    assert not any(can(outsider, a) for a in Action)


def test_the_role_shown_is_the_highest_held(support: Any) -> None:
    from django.contrib.auth.models import Group

    support.groups.add(Group.objects.get(name=MODERATOR))
    assert role_of(support) == MODERATOR


PAGES = {
    # url: roles allowed
    "/": {SUPPORT, MODERATOR, ADMIN},
    "/accounts/staff/": {ADMIN},
}


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, db: Any, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_signed_in_outsiders_are_refused(client: Client, outsider: Any, url: str) -> None:
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("who", ["support", "moderator", "admin"])
def test_each_role_reaches_exactly_its_pages(
    client: Client, request: pytest.FixtureRequest, url: str, who: str
) -> None:
    user = request.getfixturevalue(who)
    client.force_login(user)
    expected = 200 if role_of(user) in PAGES[url] else 403
    assert client.get(url).status_code == expected


def test_the_shell_shows_the_user_and_role_and_admin_navigation(client: Client, admin: Any) -> None:
    client.force_login(admin)
    html = client.get("/").content.decode()
    assert admin.username in html
    assert 'data-testid="role">Admin<' in html
    assert 'href="/accounts/staff/"' in html
    assert "/static/django_htmx/htmx-2" in html  # served by us, not a CDN
    assert "X-CSRFToken" in html


def test_the_shell_hides_staff_management_from_moderators(client: Client, moderator: Any) -> None:
    client.force_login(moderator)
    html = client.get("/").content.decode()
    assert 'data-testid="role">Moderator<' in html
    assert "/accounts/staff/" not in html


def test_admins_create_staff_with_a_role(client: Client, admin: Any) -> None:
    from django.contrib.auth import get_user_model

    client.force_login(admin)
    response = client.post(
        "/accounts/staff/",
        {
            "username": "nina",
            "email": "",
            "role": MODERATOR,
            "password": "a-long-unusual-passphrase",
        },
    )
    assert response.status_code == 302
    nina = get_user_model().objects.get(username="nina")
    assert nina.is_staff and role_of(nina) == MODERATOR


def test_a_weak_staff_password_is_refused_with_a_message(client: Client, admin: Any) -> None:
    client.force_login(admin)
    response = client.post(
        "/accounts/staff/", {"username": "nina", "role": SUPPORT, "password": "password"}
    )
    assert response.status_code == 400
    assert b"too common" in response.content


def test_an_admin_cannot_demote_themselves(client: Client, admin: Any) -> None:
    client.force_login(admin)
    client.post(f"/accounts/staff/{admin.pk}/", {"role": SUPPORT, "is_active": "on"})
    admin.refresh_from_db()
    assert role_of(admin) == ADMIN


def test_admins_change_a_role_and_deactivate(client: Client, admin: Any, moderator: Any) -> None:
    client.force_login(admin)
    client.post(f"/accounts/staff/{moderator.pk}/", {"role": SUPPORT})
    moderator.refresh_from_db()
    assert role_of(moderator) == SUPPORT
    assert moderator.is_active is False
