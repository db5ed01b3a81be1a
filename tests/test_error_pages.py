"""Not found, not allowed and server errors are shown in the console's own look."""

from __future__ import annotations

from typing import Any

from django.test import Client, RequestFactory
from django.views.defaults import server_error


def test_a_missing_page_is_a_404_inside_the_console_shell(client: Client, support: Any) -> None:
    client.force_login(support)
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "There is nothing at this address." in html
    assert 'data-testid="role">Support<' in html
    assert "css/roomwatch.css" in html


def test_a_forbidden_page_says_the_role_does_not_allow_it(client: Client, support: Any) -> None:
    client.force_login(support)
    response = client.get("/accounts/staff/")
    html = response.content.decode()
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in html
    assert "Your role does not allow this" in html
    assert 'data-testid="role">Support<' in html


def test_a_server_error_is_a_plain_500_page_in_the_console_look(db: Any) -> None:
    request = RequestFactory().get("/")
    response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in html
    assert "css/roomwatch.css" in html
    assert 'href="/"' in html
