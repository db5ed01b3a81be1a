"""Shared fixtures: one staff member per role, plus an outsider."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from accounts.roles import ADMIN, MODERATOR, SUPPORT, role_assign

pytest_plugins = ["tests.fixtures.livekit"]

PASSWORD = "correct-horse-battery-staple"


def make_staff(username: str, role: str | None, *, is_staff: bool = True) -> Any:
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, is_staff=is_staff, email=f"{username}@example.org"
    )
    if role:
        role_assign(user=user, role=role)
    return user


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest) -> None:
    """Hash test passwords cheaply, except where a separate server process must verify them."""
    if request.node.get_closest_marker("e2e") is None:
        settings = request.getfixturevalue("settings")
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles(request: pytest.FixtureRequest) -> None:
    """Throttle counters (the Django cache, Redis with REDIS_URL) start empty per test:
    invalid API keys sent by one test must not lock the next one out."""
    from django.core.cache import cache

    if request.node.get_closest_marker("e2e") is not None:
        return  # a browser test's server shares the Redis database: leave it alone
    # A test may point the cache at a Redis that is down.
    with contextlib.suppress(Exception):
        cache.clear()


@pytest.fixture
def support(db: Any) -> Any:
    return make_staff("sam-support", SUPPORT)


@pytest.fixture
def moderator(db: Any) -> Any:
    return make_staff("mia-moderator", MODERATOR)


@pytest.fixture
def admin(db: Any) -> Any:
    return make_staff("ada-admin", ADMIN)


@pytest.fixture
def outsider(db: Any) -> Any:
    """Signed in, but not staff: the console must refuse them everywhere."""
    return make_staff("oscar-outsider", None, is_staff=False)


@pytest.fixture
def client_for(client: Any) -> Any:
    def login(user: Any) -> Any:
        client.force_login(user)
        return client

    return login
