"""Viewer reports, the cases they are grouped into, and the alert rules' thresholds."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CaseState(models.TextChoices):
    OPEN = "open", "open"
    RESOLVED = "resolved", "resolved"
    DISMISSED = "dismissed", "dismissed"


class ReportSource(models.TextChoices):
    API = "api", "platform"
    STAFF = "staff", "staff"
    ALERT = "alert", "alert"


class Case(models.Model):
    """Everything reported about one target (a room, or one identity in a room) while open.

    ``open_key`` is set while the case is open and cleared when it closes: a unique
    column, so two reports arriving at once about a new target open one case.
    A case about the console itself (health alerts) has an empty ``room_name``.
    """

    room_name = models.CharField(max_length=256, blank=True, default="")
    identity = models.CharField(max_length=256, blank=True, default="")
    # The room's latest session when the case was opened or last reported (its audience
    # orders the queue); null for console cases or rooms the mirror never saw.
    room = models.ForeignKey(
        "monitoring.Room", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    state = models.CharField(max_length=10, choices=CaseState.choices, default=CaseState.OPEN)
    open_key = models.CharField(max_length=600, null=True, blank=True, unique=True)
    opened_at = models.DateTimeField(default=timezone.now)
    first_report_at = models.DateTimeField(default=timezone.now)
    last_report_at = models.DateTimeField(default=timezone.now, db_index=True)
    report_count = models.PositiveIntegerField(default=0)
    reporter_count = models.PositiveIntegerField(default=0)
    categories = models.JSONField(default=list, blank=True)
    severity = models.PositiveSmallIntegerField(default=1)
    # Alert rules that fired on this case ("join_surge", ...).
    alerts = models.JSONField(default=list, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases_claimed",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The claimer's last activity on the case; the claim lapses after the idle time.
    claim_active_at = models.DateTimeField(null=True, blank=True)
    first_claimed_at = models.DateTimeField(null=True, blank=True)
    first_claimed_by_name = models.CharField(max_length=150, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases_closed",
    )
    closed_by_name = models.CharField(max_length=150, blank=True, default="")
    close_reason = models.TextField(blank=True, default="")
    # The moderator action that resolved the case (its audit row).
    action_entry = models.ForeignKey(
        "monitoring.AuditEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="resolved_cases",
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["-severity", "-reporter_count", "-last_report_at"],
                condition=models.Q(state="open"),
                name="case_open_priority",
            ),
            models.Index(fields=["room_name", "identity", "-opened_at"], name="case_target"),
            models.Index(fields=["state", "closed_at"], name="case_closed"),
        ]

    def __str__(self) -> str:
        return f"case #{self.pk} {self.target_label}"

    @property
    def target_label(self) -> str:
        if not self.room_name:
            return "the console"
        return f"{self.identity} in {self.room_name}" if self.identity else self.room_name

    @property
    def is_open(self) -> bool:
        return self.state == CaseState.OPEN


class Report(models.Model):
    """One report: from the platform's API (``report_id`` is theirs), staff, or an alert."""

    report_id = models.CharField(max_length=200, unique=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reports")
    source = models.CharField(max_length=10, choices=ReportSource.choices)
    room_name = models.CharField(max_length=256, blank=True, default="")
    identity = models.CharField(max_length=256, blank=True, default="")
    reporter = models.CharField(max_length=256)
    category = models.CharField(max_length=60)
    text = models.TextField(blank=True, default="")
    excerpt = models.TextField(blank=True, default="")
    evidence_url = models.CharField(max_length=2000, blank=True, default="")
    reported_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    api_key = models.ForeignKey(
        "monitoring.ApiKey", null=True, blank=True, on_delete=models.SET_NULL
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        indexes = [
            models.Index(fields=["room_name", "received_at"], name="report_room_time"),
            models.Index(fields=["case", "reporter"], name="report_case_reporter"),
        ]

    def __str__(self) -> str:
        return f"report {self.report_id} ({self.category})"


class AlertSettings(models.Model):
    """The alert rules' thresholds and the claim idle time: one row, edited by admins."""

    report_surge_reporters = models.PositiveIntegerField(default=5)
    report_surge_minutes = models.PositiveIntegerField(default=10)
    join_surge_count = models.PositiveIntegerField(default=30)
    join_surge_seconds = models.PositiveIntegerField(default=10)
    rejoin_count = models.PositiveIntegerField(default=3)
    rejoin_minutes = models.PositiveIntegerField(default=10)
    corrections_threshold = models.PositiveIntegerField(default=20)
    claim_idle_minutes = models.PositiveIntegerField(default=15)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return "alert settings"
