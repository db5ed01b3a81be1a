"""``manage.py apikey create NAME`` / ``apikey revoke NAME``: API keys for deployment scripts.

Uses the same services as the API keys page, so each change is audited the same
way, in the name of the admin account given with ``--as`` (default: the only active
superuser, when there is exactly one). The new key is printed once, alone on stdout.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.models import ApiKey
from monitoring.moderation.api_keys import api_key_create, api_key_revoke


class Command(BaseCommand):
    help = "Create an API key (printed once) or revoke one by name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("verb", choices=["create", "revoke"])
        parser.add_argument("name", help="The key's name, e.g. the service that uses it.")
        parser.add_argument(
            "--as",
            dest="username",
            default="",
            help="The admin account the audit log records (default: the only superuser).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self._actor(options["username"])
        name = options["name"].strip()
        try:
            if options["verb"] == "create":
                new = api_key_create(actor=actor, name=name)
                self.stderr.write(
                    f"Created API key {new.api_key.name!r} ({new.api_key.prefix}); "
                    "it is shown this once:"
                )
                self.stdout.write(new.plaintext)
                return
            keys = list(ApiKey.objects.filter(name=name, revoked_at__isnull=True))
            if not keys:
                raise CommandError(f"There is no active API key named {name!r}.")
            for key in keys:
                api_key_revoke(actor=actor, api_key=key)
                self.stdout.write(f"Revoked API key {key.name!r} ({key.prefix}).")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except PermissionDenied as exc:
            raise CommandError(f"{actor.get_username()} may not manage API keys: {exc}") from None

    def _actor(self, username: str) -> Any:
        users = get_user_model().objects.filter(is_active=True)
        if username:
            actor = users.filter(username=username).first()
            if actor is None:
                raise CommandError(f"There is no active account {username!r}.")
            return actor
        superusers = list(users.filter(is_superuser=True)[:2])
        if len(superusers) != 1:
            raise CommandError("Name the admin account to record in the audit log: --as USERNAME.")
        return superusers[0]
