"""Staff accounts per role and their session cookies, created straight in the database.

The web processes of a measurement run with their own ``SECRET_KEY``; sessions are
signed with it here, so a websocket or a form post carrying the cookie is signed in
exactly as after the login page.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test.utils import override_settings

from accounts.roles import ADMIN, MODERATOR, SUPPORT, role_assign

ROLES = (SUPPORT, MODERATOR, ADMIN)
USERNAME_PREFIX = "bench-"
BACKEND = "django.contrib.auth.backends.ModelBackend"


class StaffSessions:
    """One staff member per role, each with a session valid on the measured console."""

    def __init__(self, *, secret_key: str, password: str | None = None) -> None:
        self.secret_key = secret_key
        self.users: dict[str, Any] = {}
        self.sessions: dict[str, str] = {}
        self.password = password
        for role in ROLES:
            user = get_user_model().objects.create_user(
                username=f"{USERNAME_PREFIX}{role.lower()}-{secrets.token_hex(4)}",
                password=password,
                is_staff=True,
            )
            role_assign(user=user, role=role)
            self.users[role] = user
            self.sessions[role] = self.session_for(user)

    def session_for(self, user: Any) -> str:
        """A new session key for ``user``, signed with the web processes' secret key."""
        with override_settings(SECRET_KEY=self.secret_key):
            store = SessionStore()
            store[SESSION_KEY] = str(user.pk)
            store[BACKEND_SESSION_KEY] = BACKEND
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.create()
            return str(store.session_key)

    def remove(self) -> None:
        Session.objects.filter(session_key__in=list(self.sessions.values())).delete()
        get_user_model().objects.filter(pk__in=[u.pk for u in self.users.values()]).delete()


def leftovers_remove() -> None:
    """Accounts an interrupted earlier run left behind."""
    get_user_model().objects.filter(username__startswith=USERNAME_PREFIX).delete()
