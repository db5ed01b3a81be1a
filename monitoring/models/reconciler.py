"""What the reconciler records: the figures of each pass, and which rooms are watched.

``ReconcilePass`` rows say how long each interval pass took, what it cost (LiveKit
calls, database queries) and what it corrected; ``/healthz`` shows the last one and
``manage.py benchmark`` prints them. The last row's ``rotation_cursor`` is where the
next pass's slice of fully checked rooms begins.

``WatchedRoom`` rows are the open room pages and walls (one per websocket channel):
their rooms are polled every ``ROOMWATCH_WATCH_POLL_MS`` for what LiveKit sends no
webhook for (self-mutes, metadata, attributes, permissions).
"""

from __future__ import annotations

from django.db import models

from monitoring.models.rooms import Room


class ReconcilePass(models.Model):
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True, default="")
    rooms_listed = models.PositiveIntegerField(default=0)
    # Rooms whose participants were listed (ListParticipants) and compared one by one.
    rooms_checked = models.PositiveIntegerField(default=0)
    rooms_disagreeing = models.PositiveIntegerField(default=0)
    rooms_watched = models.PositiveIntegerField(default=0)
    rooms_rotated = models.PositiveIntegerField(default=0)
    rooms_corrected = models.PositiveIntegerField(default=0)
    corrections = models.PositiveIntegerField(default=0)
    livekit_calls = models.PositiveIntegerField(default=0)
    queries = models.PositiveIntegerField(default=0)
    # The room sid the next pass's rotating slice starts after ("" = the beginning).
    rotation_cursor = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"reconcile pass at {self.started_at:%H:%M:%S} ({self.duration_ms} ms)"

    def as_json(self) -> dict[str, object]:
        return {
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "ok": self.ok,
            "error": self.error,
            "rooms_listed": self.rooms_listed,
            "rooms_checked": self.rooms_checked,
            "rooms_disagreeing": self.rooms_disagreeing,
            "rooms_watched": self.rooms_watched,
            "rooms_rotated": self.rooms_rotated,
            "rooms_corrected": self.rooms_corrected,
            "corrections": self.corrections,
            "livekit_calls": self.livekit_calls,
            "queries": self.queries,
        }


class WatchedRoom(models.Model):
    """One open room page (``room`` set) or wall (``wall``), by its websocket channel."""

    channel_name = models.CharField(max_length=200, unique=True)
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    wall = models.BooleanField(default=False)
    # Renewed while the socket is open; rows of sockets that died unseen go stale.
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{'wall' if self.wall else f'room {self.room_id}'} watched by {self.channel_name}"
