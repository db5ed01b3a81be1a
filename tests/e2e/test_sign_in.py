"""Signing in through the real login page in Chromium shows the console shell."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def test_a_moderator_signs_in_and_sees_the_shell_with_their_role(
    page: Any, console: str, moderator: Any
) -> None:
    page.goto(f"{console}/")
    assert "/accounts/login/" in page.url  # anonymous visitors are sent to sign in
    page.fill("input[name=username]", moderator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    role = page.wait_for_selector("[data-testid=role]", timeout=10_000)
    assert role.inner_text() == "Moderator"
    assert moderator.username in page.inner_text("header")
    nav = page.inner_text("nav")
    assert "Rooms" in nav and "Audit log" in nav
    assert "Staff" not in nav  # staff management is for admins only
    # htmx came from our own static files and is running.
    assert page.evaluate("() => typeof window.htmx") == "object"


def test_a_wrong_password_shows_an_error_and_stays_signed_out(
    page: Any, console: str, support: Any
) -> None:
    page.goto(f"{console}/accounts/login/")
    page.fill("input[name=username]", support.username)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    alert = page.wait_for_selector("[role=alert]", timeout=10_000)
    assert "correct username and password" in alert.inner_text()
    assert page.query_selector("[data-testid=role]") is None
