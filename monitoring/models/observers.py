"""Evidence frames captured from a room's live preview."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models
from django.utils import timezone


class EvidenceStorage(Storage):
    """``STORAGES["evidence"]``, looked up on every use (so a changed setting applies)."""

    @property
    def _backend(self) -> Storage:
        return storages["evidence"]

    def __getattr__(self, name: str) -> Any:
        return getattr(storages["evidence"], name)

    def _open(self, name: str, mode: str = "rb") -> Any:
        return self._backend.open(name, mode)

    def _save(self, name: str, content: Any) -> str:
        return self._backend.save(name, content)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self._backend.get_available_name(name, max_length=max_length)

    def delete(self, name: str) -> None:
        self._backend.delete(name)

    def exists(self, name: str) -> bool:
        return self._backend.exists(name)

    def size(self, name: str) -> int:
        return self._backend.size(name)

    def path(self, name: str) -> str:
        return self._backend.path(name)

    def url(self, name: str | None) -> str:
        raise NotImplementedError("Evidence has no public URL: it is served by a view.")

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        return ("monitoring.models.observers.EvidenceStorage", (), {})


evidence_storage = EvidenceStorage()


def _evidence_storage() -> Storage:  # referenced by migration 0010
    return evidence_storage


class Evidence(models.Model):
    """One PNG frame a staff member grabbed from a preview.

    It waits for that staff member's next moderation action on the room, which takes
    it (``attached_at``) and names it in its audit row (``detail["evidence"]``). The
    file lives in the ``evidence`` storage, never under static/, and is served only by
    a view that checks access.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="evidence_captured",
    )
    captured_by_name = models.CharField(max_length=150)
    room_name = models.CharField(max_length=256, db_index=True)
    room_sid = models.CharField(max_length=64, blank=True, default="")
    identity = models.CharField(max_length=256, blank=True, default="")
    image = models.FileField(storage=_evidence_storage, upload_to="frames/%Y/%m/%d/")
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    attached_at = models.DateTimeField(null=True, blank=True)
    audit_entry = models.ForeignKey(
        "monitoring.AuditEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evidence",
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["captured_by", "room_name", "attached_at"], name="evidence_pending"
            )
        ]

    def __str__(self) -> str:
        return f"evidence #{self.pk} of {self.room_name}"
