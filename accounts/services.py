"""Writes to staff accounts. Each change writes its audit row in the same transaction."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from accounts.roles import ADMIN, role_assign, role_of
from monitoring import realtime
from monitoring.models import AuditOutcome
from monitoring.moderation.audit import audit_record


def staff_create(*, actor: Any, username: str, email: str, password: str, role: str) -> Any:
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, email=email, password=password, is_staff=True
        )
        role_assign(user=user, role=role)
        audit_record(
            actor=actor,
            action="staff.create",
            outcome=AuditOutcome.DONE,
            detail={"user_id": user.pk, "username": user.get_username(), "role": role},
        )
    return user


def staff_update(*, actor: Any, user: Any, role: str, is_active: bool) -> Any:
    """Set ``user``'s role and active flag; refuses changes that would lock admins out."""
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().get(pk=user.pk)
        before_role, before_active = role_of(user), user.is_active
        if role == before_role and is_active == before_active:
            return user
        if user.pk == actor.pk and (not is_active or role != ADMIN):
            raise ValidationError("You cannot demote or deactivate your own account.")
        if user.is_superuser and role != ADMIN:
            raise ValidationError(
                f"{user.get_username()} is a superuser and stays an admin; "
                "remove the superuser flag first to give them another role."
            )
        if before_role == ADMIN and (role != ADMIN or not is_active):
            others = (
                get_user_model()
                .objects.filter(is_active=True, is_staff=True)
                .filter(Q(groups__name=ADMIN) | Q(is_superuser=True))
                .exclude(pk=user.pk)
            )
            if not others.exists():
                raise ValidationError("The console needs at least one active admin.")
        user.is_active = is_active
        user.save(update_fields=["is_active"])
        if role != before_role:
            role_assign(user=user, role=role)
        audit_record(
            actor=actor,
            action="staff.update",
            outcome=AuditOutcome.DONE,
            detail={
                "user_id": user.pk,
                "username": user.get_username(),
                "role": {"from": before_role, "to": role},
                "active": {"from": before_active, "to": is_active},
            },
        )
        if role != before_role or not is_active:
            # Open pages still run with the old access: close their sockets on commit.
            realtime.user_sockets_close(user_id=user.pk)
    return user
