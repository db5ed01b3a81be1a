from __future__ import annotations

from django.db import models


class Capability(models.Model):
    """Anchors the console's own permissions; it has no table and no rows.

    Roles (groups, see ``accounts.roles``) grant these permissions, and
    ``accounts.access.can`` is the one place that asks for them.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "See rooms, participants and their history"),
            ("view_bans", "See bans"),
            ("view_audit", "See the audit log"),
            ("end_stream", "End a stream"),
            ("kick", "Kick a participant"),
            ("mute", "Mute a participant's tracks"),
            ("revoke_publishing", "Revoke or restore publishing"),
            ("warn", "Send a moderator warning"),
            ("ban_room", "Ban an identity from one room"),
            ("ban_global", "Ban an identity from every room"),
            ("unban", "Lift a ban"),
            ("restrict", "Restrict an identity in one room for a time"),
            ("restrict_global", "Restrict an identity in every room"),
            ("lift_restriction", "Lift a restriction early"),
            ("manage_staff", "Manage staff accounts"),
            ("manage_api_keys", "Create and revoke API keys"),
        ]

    def __str__(self) -> str:
        return "capability"
