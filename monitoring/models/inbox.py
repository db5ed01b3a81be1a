"""The webhook inbox: every verified LiveKit event, recorded before it is answered.

The webhook request only verifies, de-duplicates (by LiveKit's event id) and inserts
a row here; appliers (``monitoring.live.applier``) apply pending rows to the mirror
outside any request, each room's events in the order they were received.
"""

from __future__ import annotations

from django.db import models


class InboxEvent(models.Model):
    # LiveKit's event id (EV_...): a redelivery finds the row already there.
    event_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=40)
    # The queue the event belongs to (room sid, else room name): events of one key are
    # applied one at a time, in ``id`` order.
    room_key = models.CharField(max_length=300)
    body = models.TextField()
    received_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)
    # What applying did ("applied", "duplicate", "ignored", "failed: ...").
    outcome = models.CharField(max_length=300, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"],
                name="inbox_pending",
                condition=models.Q(applied_at__isnull=True),
            ),
            models.Index(fields=["applied_at"], name="inbox_applied"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"
