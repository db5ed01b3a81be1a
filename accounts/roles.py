"""The three staff roles, as groups holding the console's permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

from accounts.access import Action

SUPPORT = "Support"
MODERATOR = "Moderator"
ADMIN = "Admin"

_SUPPORT = {Action.VIEW, Action.VIEW_BANS, Action.VIEW_AUDIT}
_MODERATOR = _SUPPORT | {
    Action.END_STREAM,
    Action.KICK,
    Action.MUTE,
    Action.REVOKE_PUBLISHING,
    Action.WARN,
    Action.BAN_ROOM,
    Action.RESTRICT,
}
_ADMIN = _MODERATOR | {
    Action.BAN_GLOBAL,
    Action.UNBAN,
    Action.RESTRICT_GLOBAL,
    Action.LIFT_RESTRICTION,
    Action.MANAGE_STAFF,
    Action.MANAGE_API_KEYS,
}

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    SUPPORT: frozenset(_SUPPORT),
    MODERATOR: frozenset(_MODERATOR),
    ADMIN: frozenset(_ADMIN),
}
# Highest first: a user in several groups is shown by the highest.
ROLE_NAMES = (ADMIN, MODERATOR, SUPPORT)


def roles_sync(**_: Any) -> None:
    """Create the role groups and set exactly their permissions (idempotent)."""
    codenames = {action.value.split(".", 1)[1] for action in Action}
    permissions = {
        p.codename: p
        for p in Permission.objects.filter(
            content_type__app_label="accounts", codename__in=codenames
        )
    }
    if len(permissions) != len(codenames):
        return  # permissions are created after this app's migrations; called again then
    for name, actions in ROLE_ACTIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([permissions[a.value.split(".", 1)[1]] for a in actions])


def role_of(user: Any) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return ADMIN
    names = {g.name for g in user.groups.all()}
    return next((name for name in ROLE_NAMES if name in names), None)


def role_assign(*, user: Any, role: str) -> None:
    if role not in ROLE_ACTIONS:
        raise ValueError(f"Unknown role {role!r}")
    user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES))
    user.groups.add(Group.objects.get(name=role))
