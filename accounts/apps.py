from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self) -> None:
        from accounts.roles import roles_sync

        # Runs after every app's permissions exist, so roles exist after `migrate`.
        post_migrate.connect(roles_sync, dispatch_uid="accounts.roles_sync")
