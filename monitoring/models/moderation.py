"""Moderation records: bans, the append-only audit log, and API keys."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class BanScope(models.TextChoices):
    GLOBAL = "global", "global"
    ROOM = "room", "room"


class ScopedPenaltyQuerySet(models.QuerySet[Any]):
    """Bans and restrictions alike: an identity, a scope (one room or global), an
    optional expiry and a lift."""

    def active(self, *, now=None):  # type: ignore[no-untyped-def]
        now = now or timezone.now()
        return self.filter(lifted_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )

    def applying_to(self, *, identity: str, room_name: str, now=None):  # type: ignore[no-untyped-def]
        return (
            self.active(now=now)
            .filter(identity=identity)
            .filter(Q(scope=BanScope.GLOBAL) | Q(scope=BanScope.ROOM, room_name=room_name))
        )


class BanQuerySet(ScopedPenaltyQuerySet):
    pass


class Ban(models.Model):
    identity = models.CharField(max_length=256)
    scope = models.CharField(max_length=10, choices=BanScope.choices)
    # The room's name (names outlive sessions); empty for global bans.
    room_name = models.CharField(max_length=256, blank=True, default="")
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bans_created",
    )
    created_by_name = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bans_lifted",
    )
    lifted_by_name = models.CharField(max_length=150, blank=True, default="")
    lift_reason = models.TextField(blank=True, default="")
    # Set while the ban may still apply, cleared when it is lifted or found expired:
    # a unique column, so two submissions of the same ban cannot both be stored.
    active_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Proof that it holds: how often the identity came back and was removed again.
    rejoin_count = models.PositiveIntegerField(default=0)
    last_rejoin_at = models.DateTimeField(null=True, blank=True)

    objects = BanQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["identity", "lifted_at"], name="ban_identity_open"),
            models.Index(fields=["-created_at"], name="ban_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="global", room_name="") | (Q(scope="room") & ~Q(room_name="")),
                name="ban_scope_matches_room",
            ),
        ]

    def __str__(self) -> str:
        where = self.room_name if self.scope == BanScope.ROOM else "everywhere"
        return f"{self.identity} banned ({where})"

    def is_active(self, *, now=None) -> bool:  # type: ignore[no-untyped-def]
        now = now or timezone.now()
        return self.lifted_at is None and (self.expires_at is None or self.expires_at > now)


class AuditOutcome(models.TextChoices):
    DONE = "done", "done"
    FAILED = "failed", "failed"


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to edit or delete an audit row (the database refuses too)."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: object) -> int:
        raise AuditLogIsAppendOnly("Audit entries cannot be edited.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """One row per action, ban, unban, enforcement or API-key change. Never edited.

    Append-only at two levels: this model refuses saves of existing rows and deletes,
    and database triggers (migration 0005) refuse UPDATE and DELETE. The one change
    allowed is ``actor`` becoming NULL when a staff account is removed; ``actor_name``
    keeps who it was.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    # Kept as text so the row still says who acted after an account is removed;
    # "system" for enforcement, "api:<key name>" for the JSON API.
    actor_name = models.CharField(max_length=150)
    actor_role = models.CharField(max_length=30, blank=True, default="")
    action = models.CharField(max_length=40, db_index=True)
    room_name = models.CharField(max_length=256, blank=True, default="", db_index=True)
    room_sid = models.CharField(max_length=64, blank=True, default="")
    identity = models.CharField(max_length=256, blank=True, default="", db_index=True)
    reason = models.TextField(blank=True, default="")
    outcome = models.CharField(max_length=10, choices=AuditOutcome.choices)
    error = models.TextField(blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["actor_name", "-created_at"], name="audit_actor_time")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("Audit entries cannot be edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit entries cannot be deleted.")


class ApiKey(models.Model):
    """A key for the platform's token server; only a hash of the secret is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=128)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ActionRequest(models.Model):
    """One submitted moderator action form, claimed before LiveKit is called.

    Each rendered form carries a fresh ``token``: a double click or a resubmitted
    form finds its token taken and gets the first result instead of acting twice.
    While an action runs, ``target`` holds "<action>:<room>:<identity>[:<track>]" so
    a second moderator's identical action waits for the first to finish; it is
    cleared when the action ends.
    """

    token = models.CharField(max_length=64, unique=True)
    target = models.CharField(max_length=700, unique=True, null=True, blank=True)
    action = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="action_requests",
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, blank=True, default="")
    message = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.action} {self.token}"
