"""Two consoles sharing one Redis database stay apart: the channel layer's prefix is
ROOMWATCH_CHANNEL_PREFIX, by default unique per database the console uses."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_channel_prefix
from monitoring import realtime

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
LAYERS = ["channels_redis.pubsub.RedisPubSubChannelLayer", "channels_redis.core.RedisChannelLayer"]


def console_layer(backend: str, prefix: str) -> Any:
    """The channel layer one console builds from its settings."""
    from django.utils.module_loading import import_string

    return import_string(backend)(hosts=[REDIS_URL], prefix=prefix)


def database(name: str, host: str = "db.internal") -> dict[str, Any]:
    return {"ENGINE": "django.db.backends.postgresql", "HOST": host, "PORT": 5432, "NAME": name}


async def received(layer: Any, channel: str, timeout: float = 0.5) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        return None


@pytest.mark.parametrize("backend", LAYERS)
async def test_two_consoles_on_one_redis_database_do_not_see_each_others_pushes(
    backend: str,
) -> None:
    production = console_layer(backend, env_channel_prefix("X", database("prod"), environ={}))
    staging = console_layer(backend, env_channel_prefix("X", database("staging"), environ={}))
    group = realtime.role_group(realtime.ROOMS_GROUP, "moderator")
    production_page = await production.new_channel()
    staging_page = await staging.new_channel()
    await production.group_add(group, production_page)
    await staging.group_add(group, staging_page)
    try:
        await staging.group_send(group, {"type": "fragment.push", "html": "staging room"})
        await production.group_send(group, {"type": "fragment.push", "html": "production room"})

        assert (await received(staging, staging_page))["html"] == "staging room"
        assert (await received(production, production_page))["html"] == "production room"
        # Nothing else arrived on either side (a waiting receive ends the subscription,
        # so these come last).
        assert await received(staging, staging_page) is None
        assert await received(production, production_page) is None
    finally:
        await production.group_discard(group, production_page)
        await staging.group_discard(group, staging_page)
        await production.flush()
        await staging.flush()


def test_the_default_prefix_differs_per_database() -> None:
    prod = env_channel_prefix("ROOMWATCH_CHANNEL_PREFIX", database("prod"), environ={})
    staging = env_channel_prefix("ROOMWATCH_CHANNEL_PREFIX", database("staging"), environ={})
    other_host = env_channel_prefix(
        "ROOMWATCH_CHANNEL_PREFIX", database("prod", host="db2.internal"), environ={}
    )

    assert len({prod, staging, other_host}) == 3
    assert prod == env_channel_prefix("ROOMWATCH_CHANNEL_PREFIX", database("prod"), environ={})
    assert prod.startswith("roomwatch-")


def test_the_prefix_can_be_set() -> None:
    environ = {"ROOMWATCH_CHANNEL_PREFIX": "staging-eu"}

    assert env_channel_prefix("ROOMWATCH_CHANNEL_PREFIX", database("x"), environ=environ) == (
        "staging-eu"
    )


@pytest.mark.parametrize("bad", ["has space", "x" * 41, "semi;colon"])
def test_a_bad_prefix_stops_the_start(bad: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="ROOMWATCH_CHANNEL_PREFIX"):
        env_channel_prefix(
            "ROOMWATCH_CHANNEL_PREFIX", database("x"), environ={"ROOMWATCH_CHANNEL_PREFIX": bad}
        )


def test_the_settings_give_the_prefix_to_the_redis_layer_and_the_cache() -> None:
    import subprocess
    import sys

    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; "
        "from django.conf import settings as s; "
        "print(s.CHANNEL_LAYERS['default']['CONFIG']['prefix'], s.CACHES['default']['KEY_PREFIX'])"
    )
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": "postgres://u@db.internal:5432/staging",
        "ROOMWATCH_CHANNEL_PREFIX": "",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = env_channel_prefix(
        "ROOMWATCH_CHANNEL_PREFIX",
        {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "db.internal",
            "PORT": 5432,
            "NAME": "staging",
        },
        environ={},
    )
    assert out == [expected, expected]
