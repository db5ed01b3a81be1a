"""Typed readers for environment variables.

Each reader fails loudly with ``ImproperlyConfigured`` naming the variable and the
value it could not use, so a typo in production stops the process at start-up
instead of quietly running with a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# The demo runs the console, the reconciler and webhooks against one SQLite file:
# take the write lock when a transaction starts and wait for it, instead of failing
# with "database is locked" halfway through.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL;",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of true/false, yes/no, on/off, 1/0."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str,
    default: str,
    *,
    choices: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> str:
    """One of ``choices``, compared without regard to case; returns the listed spelling."""
    value = env_str(name, default, environ=environ)
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}.")


def env_origins(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Comma-separated origins, each ``http(s)://host[:port]`` with nothing after it."""
    from urllib.parse import urlsplit

    origins = env_list(name, default, environ=environ)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ImproperlyConfigured(
                f"{name} entry {origin!r} is not an origin such as https://console.example.com."
            )
    return origins


def env_timezone(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = env_str(name, default, environ=environ)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a time zone name such as UTC or Europe/Paris."
        ) from None
    return value


def env_url(
    name: str,
    default: str,
    *,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> str:
    from urllib.parse import urlsplit

    value = env_str(name, default, environ=environ)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ImproperlyConfigured(f"{name}={value!r} is not a URL starting with {allowed}.")
    return value


def env_database(
    name: str, default_sqlite_path: str, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Parse ``DATABASE_URL``: SQLite file when unset, PostgreSQL (or SQLite) when set."""
    import dj_database_url

    value = _raw(name, environ)
    if value is None:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": default_sqlite_path,
            "TEST": {"NAME": default_sqlite_path.replace(".sqlite3", "-test.sqlite3")},
            "OPTIONS": SQLITE_OPTIONS,
        }
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(value))
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"{name} could not be parsed: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        raise ImproperlyConfigured(
            f"{name} must point at PostgreSQL (postgres://...) or SQLite (sqlite:///...)."
        )
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database.")
    if engine == "django.db.backends.postgresql":
        # An explicit test name: forked live servers otherwise prefix "test_" twice.
        config["TEST"] = {"NAME": f"test_{config['NAME']}"}
    else:
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        if config["NAME"] != ":memory:":
            # A file, so that a server started by a browser test can share it.
            test_name = str(config["NAME"]).removesuffix(".sqlite3") + "-test.sqlite3"
            config["TEST"] = {"NAME": test_name}
    return config


def env_channel_prefix(
    name: str, database: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> str:
    """The channel layer's prefix: set, or derived from the database the console uses, so
    two installations sharing one Redis database never see each other's messages."""
    import hashlib

    value = _raw(name, environ)
    if value is not None:
        if len(value) > 40 or not all(c.isalnum() or c in "-_." for c in value):
            raise ImproperlyConfigured(
                f"{name}={value!r} must be at most 40 letters, digits, '-', '_' or '.'."
            )
        return value
    where = "|".join(str(database.get(key) or "") for key in ("ENGINE", "HOST", "PORT", "NAME"))
    return "roomwatch-" + hashlib.sha256(where.encode()).hexdigest()[:12]


def env_networks(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Comma-separated addresses or networks (``10.0.0.0/8``, ``127.0.0.1``)."""
    import ipaddress

    networks = env_list(name, default, environ=environ)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} entry {network!r} is not an address or network such as 10.0.0.0/8."
            ) from None
    return networks


def csp_websocket_sources(origins: list[str], livekit_public_url: str) -> list[str]:
    """connect-src entries: the ws(s):// twin of each trusted origin (older browsers do
    not let 'self' cover websockets) and LiveKit's public URL, as ws(s) and http(s)
    (the LiveKit client also validates the connection over HTTP)."""
    from urllib.parse import urlsplit

    sources: list[str] = []
    for origin in origins:
        parts = urlsplit(origin)
        sources.append(f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}")
    parts = urlsplit(livekit_public_url)
    secure = parts.scheme in ("https", "wss")
    sources += [f"{'wss' if secure else 'ws'}://{parts.netloc}"]
    sources += [f"{'https' if secure else 'http'}://{parts.netloc}"]
    return list(dict.fromkeys(sources))
