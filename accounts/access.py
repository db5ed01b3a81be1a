"""The one answer to "may this user do X?", for views, services and consumers."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied


class Action(StrEnum):
    VIEW = "accounts.view_console"
    VIEW_BANS = "accounts.view_bans"
    VIEW_AUDIT = "accounts.view_audit"
    END_STREAM = "accounts.end_stream"
    KICK = "accounts.kick"
    MUTE = "accounts.mute"
    REVOKE_PUBLISHING = "accounts.revoke_publishing"
    WARN = "accounts.warn"
    BAN_ROOM = "accounts.ban_room"
    BAN_GLOBAL = "accounts.ban_global"
    UNBAN = "accounts.unban"
    RESTRICT = "accounts.restrict"
    RESTRICT_GLOBAL = "accounts.restrict_global"
    LIFT_RESTRICTION = "accounts.lift_restriction"
    MANAGE_STAFF = "accounts.manage_staff"
    MANAGE_API_KEYS = "accounts.manage_api_keys"


def is_staff(user: Any) -> bool:
    """Signed in, active and flagged as staff: the only people the console serves."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
    )


def can(user: Any, action: Action) -> bool:
    return is_staff(user) and user.has_perm(action.value)


def require(user: Any, action: Action) -> None:
    """Raise ``PermissionDenied`` unless ``user`` may perform ``action``."""
    if not can(user, action):
        raise PermissionDenied(f"Your role does not allow this ({action.name.lower()}).")
