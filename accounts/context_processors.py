from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.access import Action, can
from accounts.roles import role_of


def staff(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "staff_role": role_of(user) if user is not None else None,
        "perms_console": {action.name.lower(): can(user, action) for action in Action},
    }
