from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_migrate


def _sockets_close_on_sign_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Signing out in one tab ends the live updates of the account's other tabs."""
    from monitoring import realtime

    if user is not None and user.pk is not None:
        realtime.user_sockets_close(user_id=user.pk)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self) -> None:
        from accounts.roles import roles_sync

        # Runs after every app's permissions exist, so roles exist after `migrate`.
        post_migrate.connect(roles_sync, dispatch_uid="accounts.roles_sync")
        user_logged_out.connect(
            _sockets_close_on_sign_out, dispatch_uid="accounts.sockets_close_on_sign_out"
        )
