"""TRUSTED_PROXY_COUNT: behind N proxies the per-address sign-in lock reads the client
from X-Forwarded-For (the N-th address from the right); with none it ignores the header."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from config.proxy import address_from
from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"
PROXY = "10.9.9.9"


def attempt(client: Client, username: str, password: str, **meta: str) -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, **meta)


def test_behind_one_proxy_a_sprayer_is_locked_whatever_it_puts_in_the_header(
    client: Client, support: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(settings.AXES_FAILURE_LIMIT):
        # The attacker writes a new address each time; the proxy appends the real one.
        attempt(
            client,
            f"guess-{i}",
            "wrong",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"198.18.0.{i}, 203.0.113.7",
        )

    locked = attempt(
        client,
        support.username,
        PASSWORD,
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.18.0.99, 203.0.113.7",
    )
    assert locked.status_code == 429


def test_behind_one_proxy_other_clients_of_the_proxy_still_sign_in(
    client: Client, support: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(
            client, f"guess-{i}", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7"
        )

    other = attempt(
        client, support.username, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.2"
    )
    assert other.status_code == 302


def test_with_no_trusted_proxy_the_header_is_ignored(
    client: Client, support: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(
            client,
            f"guess-{i}",
            "wrong",
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"198.18.0.{i}",
        )

    locked = attempt(
        client,
        support.username,
        PASSWORD,
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="198.51.100.2",
    )
    assert locked.status_code == 429


@pytest.mark.parametrize(
    ("forwarded_for", "remote_addr", "proxies", "client"),
    [
        ("198.18.0.1, 203.0.113.7", PROXY, 1, "203.0.113.7"),
        ("198.18.0.1, 203.0.113.7, 10.0.0.2", PROXY, 2, "203.0.113.7"),
        ("203.0.113.7", PROXY, 0, PROXY),
        ("", "203.0.113.7", 0, "203.0.113.7"),
        # Fewer hops than proxies: not through all of them; the connection is what we know.
        ("", PROXY, 1, PROXY),
        ("not-an-address", PROXY, 1, PROXY),
        ("2001:db8::7", PROXY, 1, "2001:db8::7"),
        ("[2001:db8::7]:4711", PROXY, 1, "2001:db8::7"),
        ("203.0.113.7:4711", PROXY, 1, "203.0.113.7"),
    ],
)
def test_the_client_is_the_nth_address_from_the_right(
    forwarded_for: str, remote_addr: str, proxies: int, client: str
) -> None:
    assert (
        address_from(forwarded_for=forwarded_for, remote_addr=remote_addr, trusted_proxies=proxies)
        == client
    )
