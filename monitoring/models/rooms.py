"""The console's mirror of LiveKit: rooms, participants, recordings and what happened.

Rows are written only by ``monitoring.mirror`` (webhooks and the reconciler); pages
read them through ``monitoring.selectors``.
"""

from __future__ import annotations

from django.db import models


class RoomStatus(models.TextChoices):
    IDLE = "idle", "idle"
    LIVE = "live", "live"
    WAITING_RECONNECT = "waitingReconnect", "waiting for reconnect"
    ENDED = "ended", "ended"
    RECORDED = "recorded", "recorded"


class ParticipantRole(models.TextChoices):
    HOST = "host", "host"
    CO_HOST = "co-host", "co-host"
    VIEWER = "viewer", "viewer"
    INGRESS = "ingress", "ingress"
    EGRESS = "egress", "egress"
    AGENT = "agent", "agent"
    SIP = "sip", "SIP caller"


class Room(models.Model):
    """One LiveKit room session, keyed by its sid (a name can be reused later)."""

    sid = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=256, db_index=True)
    status = models.CharField(max_length=20, choices=RoomStatus.choices, default=RoomStatus.IDLE)
    num_participants = models.PositiveIntegerField(default=0)
    num_publishers = models.PositiveIntegerField(default=0)
    max_participants = models.PositiveIntegerField(default=0)
    empty_timeout = models.PositiveIntegerField(default=300)
    departure_timeout = models.PositiveIntegerField(default=20)
    host_identity = models.CharField(max_length=256, blank=True, default="")
    metadata = models.TextField(blank=True, default="")
    active_recording = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    live_since = models.DateTimeField(null=True, blank=True)
    publisher_dropped_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "-created_at"], name="room_status_created"),
            models.Index(fields=["-num_participants"], name="room_busiest"),
            models.Index(fields=["-created_at"], name="room_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sid})"

    @property
    def is_open(self) -> bool:
        return self.status not in (RoomStatus.ENDED, RoomStatus.RECORDED)


class Participant(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    sid = models.CharField(max_length=64)
    identity = models.CharField(max_length=256, db_index=True)
    name = models.CharField(max_length=256, blank=True, default="")
    kind = models.CharField(max_length=20, default="STANDARD")
    role = models.CharField(
        max_length=20, choices=ParticipantRole.choices, default=ParticipantRole.VIEWER
    )
    state = models.CharField(max_length=20, default="ACTIVE")
    is_publisher = models.BooleanField(default=False)
    can_publish = models.BooleanField(default=True)
    # The console's own hidden preview viewer: left out of counts, roles and actions.
    is_observer = models.BooleanField(default=False)
    metadata = models.TextField(blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    # TrackInfo as dicts: {"sid", "type", "source", "muted", "name"}.
    tracks = models.JSONField(default=list, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    disconnect_reason = models.CharField(max_length=40, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "sid"], name="participant_unique_sid"),
        ]
        indexes = [
            models.Index(fields=["room", "left_at"], name="participant_present"),
            models.Index(fields=["identity", "left_at"], name="participant_identity_present"),
        ]

    def __str__(self) -> str:
        return f"{self.identity} in {self.room.name}"

    @property
    def is_present(self) -> bool:
        return self.left_at is None


class RoomEvent(models.Model):
    """What happened in a room: LiveKit webhooks (deduplicated by id) and corrections."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    # LiveKit's event id (EV_...), unique so a redelivered webhook is stored once.
    event_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    kind = models.CharField(max_length=40)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    participant_identity = models.CharField(max_length=256, blank=True, default="")
    summary = models.CharField(max_length=500, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["room", "occurred_at"], name="event_room_time")]
        ordering = ["occurred_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.occurred_at:%H:%M:%S}"


class Egress(models.Model):
    """A recording or stream export of a room."""

    egress_id = models.CharField(max_length=64, unique=True)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="egresses")
    status = models.CharField(max_length=30)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "egresses"

    def __str__(self) -> str:
        return self.egress_id


class Ingress(models.Model):
    ingress_id = models.CharField(max_length=64, unique=True)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="ingresses")
    name = models.CharField(max_length=256, blank=True, default="")
    input_type = models.CharField(max_length=30, blank=True, default="")
    state = models.CharField(max_length=30, blank=True, default="")
    participant_identity = models.CharField(max_length=256, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "ingresses"

    def __str__(self) -> str:
        return self.ingress_id


class SyncState(models.Model):
    """How fresh the mirror is: one row, written by the reconciler after every pass.

    When the last pass failed after the last success, pages say LiveKit cannot be
    reached and that they show the last known state.
    """

    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sync state"

    def __str__(self) -> str:
        return f"sync state (last success {self.last_success_at})"
