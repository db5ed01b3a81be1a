"""Settings come from the environment and refuse bad values with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_origins,
    env_timezone,
    env_url,
)

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = (
    "import config.settings as s; "
    "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"
)
PRINT_SECURITY = (
    "import config.settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, "
    "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.ALLOWED_HOSTS)"
)


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly these variables set."""
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            PRINT_SETTINGS,
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


_SETTINGS_VARS = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "LIVEKIT_TIMEOUT_SECONDS",
    "LOG_LEVEL",
    "TIME_ZONE",
    "CSRF_TRUSTED_ORIGINS",
}
STRONG_KEY = "k" * 50


def test_booleans_accept_the_usual_spellings() -> None:
    assert env_bool("X", False, environ={"X": "yes"}) is True
    assert env_bool("X", True, environ={"X": "OFF"}) is False
    assert env_bool("X", True, environ={}) is True


def test_a_bad_boolean_is_refused_by_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_a_bad_number_is_refused_by_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="LIVEKIT_TIMEOUT_SECONDS='ten'"):
        env_int("LIVEKIT_TIMEOUT_SECONDS", 10, environ={"LIVEKIT_TIMEOUT_SECONDS": "ten"})
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 1"):
        env_int("LIVEKIT_TIMEOUT_SECONDS", 10, minimum=1, environ={"LIVEKIT_TIMEOUT_SECONDS": "0"})


def test_lists_are_split_on_commas() -> None:
    assert env_list("H", [], environ={"H": "a.example, b.example ,"}) == ["a.example", "b.example"]


def test_a_url_without_the_right_scheme_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="LIVEKIT_URL='localhost:7880'"):
        env_url(
            "LIVEKIT_URL", "", schemes=("http", "https"), environ={"LIVEKIT_URL": "localhost:7880"}
        )


def test_no_database_url_means_a_sqlite_file_with_its_own_test_file() -> None:
    db = env_database("DATABASE_URL", "/srv/db.sqlite3", environ={})
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["TEST"]["NAME"] == "/srv/db-test.sqlite3"


def test_a_postgres_url_is_parsed_with_an_explicit_test_name() -> None:
    db = env_database("DATABASE_URL", "x", environ={"DATABASE_URL": "postgres://u:p@db:5432/rw"})
    assert (db["ENGINE"], db["HOST"], db["NAME"], db["TEST"]["NAME"]) == (
        "django.db.backends.postgresql",
        "db",
        "rw",
        "test_rw",
    )


def test_an_unsupported_database_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="must point at PostgreSQL"):
        env_database("DATABASE_URL", "x", environ={"DATABASE_URL": "mysql://u@h/db"})


def test_with_nothing_set_the_console_runs_as_the_demo() -> None:
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
    ]


def test_redis_url_selects_the_redis_channel_layer() -> None:
    result = load_settings(REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[2] == "channels_redis.pubsub.RedisPubSubChannelLayer"


def test_production_refuses_the_development_secret_key() -> None:
    result = load_settings(DEBUG="false", LIVEKIT_API_SECRET="s" * 40)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_development_livekit_secret() -> None:
    result = load_settings(DEBUG="false", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="rw.example")
    assert result.returncode != 0
    assert "LIVEKIT_API_SECRET must be set" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts() -> None:
    result = load_settings(DEBUG="false", SECRET_KEY=STRONG_KEY, LIVEKIT_API_SECRET="s" * 40)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list the console's host names" in result.stderr


def test_production_settings_are_secure_by_default() -> None:
    env = {
        "DEBUG": "false",
        "SECRET_KEY": STRONG_KEY,
        "LIVEKIT_API_SECRET": "s" * 40,
        "ALLOWED_HOSTS": "console.example.com",
    }
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PRINT_SECURITY,
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "31536000", "['console.example.com']"]


def test_a_bad_value_stops_start_up_with_its_name() -> None:
    result = load_settings(LIVEKIT_TIMEOUT_SECONDS="soon")
    assert result.returncode != 0
    assert "LIVEKIT_TIMEOUT_SECONDS='soon' is not a whole number" in result.stderr


def test_a_log_level_must_be_one_python_knows() -> None:
    assert (
        env_choice("LOG_LEVEL", "INFO", choices=("DEBUG", "INFO"), environ={"LOG_LEVEL": "debug"})
        == "DEBUG"
    )
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL='verbose' is not one of DEBUG, INFO"):
        env_choice("LOG_LEVEL", "INFO", choices=("DEBUG", "INFO"), environ={"LOG_LEVEL": "verbose"})


def test_trusted_origins_need_a_scheme_and_nothing_after_the_host() -> None:
    good = {"CSRF_TRUSTED_ORIGINS": "https://console.example.com, http://127.0.0.1:8000"}
    assert env_origins("CSRF_TRUSTED_ORIGINS", [], environ=good) == [
        "https://console.example.com",
        "http://127.0.0.1:8000",
    ]
    for bad in ("console.example.com", "https://console.example.com/admin", "ftp://x.example"):
        with pytest.raises(ImproperlyConfigured, match=f"entry {bad!r} is not an origin"):
            env_origins("CSRF_TRUSTED_ORIGINS", [], environ={"CSRF_TRUSTED_ORIGINS": bad})


def test_an_unknown_time_zone_is_refused_by_name() -> None:
    assert env_timezone("TIME_ZONE", "UTC", environ={"TIME_ZONE": "Europe/Paris"}) == "Europe/Paris"
    with pytest.raises(ImproperlyConfigured, match="TIME_ZONE='Mars/Olympus' is not a time zone"):
        env_timezone("TIME_ZONE", "UTC", environ={"TIME_ZONE": "Mars/Olympus"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_LEVEL", "loud", "LOG_LEVEL='loud' is not one of"),
        ("CSRF_TRUSTED_ORIGINS", "console.example.com", "is not an origin"),
        ("TIME_ZONE", "Nowhere", "TIME_ZONE='Nowhere' is not a time zone"),
        ("LIVEKIT_URL", "127.0.0.1:7880", "LIVEKIT_URL='127.0.0.1:7880' is not a URL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379' is not a URL"),
        ("DATABASE_URL", "mysql://u@h/db", "DATABASE_URL must point at PostgreSQL"),
    ],
)
def test_each_bad_value_stops_start_up_with_a_message_naming_it(
    variable: str, value: str, message: str
) -> None:
    result = load_settings(**{variable: value})
    assert result.returncode != 0
    assert message in result.stderr
