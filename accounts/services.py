"""Writes to staff accounts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.roles import ADMIN, role_assign, role_of


@transaction.atomic
def staff_create(*, username: str, email: str, password: str, role: str) -> Any:
    user = get_user_model().objects.create_user(
        username=username, email=email, password=password, is_staff=True
    )
    role_assign(user=user, role=role)
    return user


@transaction.atomic
def staff_update(*, actor: Any, user: Any, role: str, is_active: bool) -> Any:
    if user.pk == actor.pk and (not is_active or role != ADMIN):
        raise ValidationError("You cannot demote or deactivate your own account.")
    if role_of(user) == ADMIN and (role != ADMIN or not is_active):
        others = (
            get_user_model()
            .objects.filter(is_active=True, is_staff=True, groups__name=ADMIN)
            .exclude(pk=user.pk)
        )
        if not others.exists():
            raise ValidationError("The console needs at least one active admin.")
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    role_assign(user=user, role=role)
    return user
