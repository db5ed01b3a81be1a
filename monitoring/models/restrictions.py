"""Timed restrictions: what an identity may not do in one room or everywhere, until when.

A restriction is a permission change LiveKit enforces (``UpdateParticipant``), kept by
the console because LiveKit forgets it when the participant rejoins with its token.
One ``RestrictionApplication`` per room it was applied in remembers the participant
session it was applied to and the permission that session had before, so lifting it
gives that permission back exactly.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from monitoring.models.moderation import ScopedPenaltyQuerySet


class RestrictionKind(models.TextChoices):
    SILENCE = "silence", "silenced (no microphone)"
    NO_VIDEO = "no_video", "no camera or screen share"
    NO_PUBLISH = "no_publish", "no publishing"
    NO_DATA = "no_data", "no chat or data"


class RestrictionQuerySet(ScopedPenaltyQuerySet):
    """``active()`` and ``applying_to()`` as bans have them (the same scope values)."""


class Restriction(models.Model):
    identity = models.CharField(max_length=256)
    scope = models.CharField(max_length=10)  # "room" or "global", as bans
    room_name = models.CharField(max_length=256, blank=True, default="")
    kind = models.CharField(max_length=20, choices=RestrictionKind.choices)
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="restrictions_created",
    )
    created_by_name = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # None: until a moderator lifts it.
    expires_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="restrictions_lifted",
    )
    lifted_by_name = models.CharField(max_length=150, blank=True, default="")
    lift_reason = models.TextField(blank=True, default="")
    # Set once the console has given the permissions back (lifted or expired).
    ended_at = models.DateTimeField(null=True, blank=True)
    # Proof that it holds: how often the identity came back and was restricted again.
    rejoin_count = models.PositiveIntegerField(default=0)
    last_rejoin_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["identity", "lifted_at"], name="restriction_identity_open"),
            models.Index(fields=["ended_at", "expires_at"], name="restriction_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="global", room_name="") | (Q(scope="room") & ~Q(room_name="")),
                name="restriction_scope_matches_room",
            ),
        ]

    def __str__(self) -> str:
        where = self.room_name if self.scope == "room" else "everywhere"
        return f"{self.identity} {self.get_kind_display()} ({where})"

    def is_active(self, *, now=None) -> bool:  # type: ignore[no-untyped-def]
        now = now or timezone.now()
        return self.lifted_at is None and (self.expires_at is None or self.expires_at > now)


class ApplicationStatus(models.TextChoices):
    APPLIED = "applied", "applied"
    # Could not be applied (participant gone, LiveKit down): retried on the next join.
    PENDING = "pending", "not applied yet"
    LIFTED = "lifted", "lifted"


class RestrictionApplication(models.Model):
    restriction = models.ForeignKey(
        Restriction, on_delete=models.CASCADE, related_name="applications"
    )
    room_name = models.CharField(max_length=256)
    participant_sid = models.CharField(max_length=64, blank=True, default="")
    # The participant's permission before the console restricted this session
    # (PermissionInfo fields as JSON); what lifting restores.
    base_permission = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=ApplicationStatus.choices, default=ApplicationStatus.PENDING
    )
    error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["restriction", "room_name"], name="restriction_application_room"
            ),
        ]
        indexes = [models.Index(fields=["room_name", "status"], name="restriction_app_room")]

    def __str__(self) -> str:
        return f"{self.restriction} in {self.room_name}: {self.status}"
