"""Apply recorded webhooks (``InboxEvent`` rows) to the mirror, outside any request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AppliedEvent:
    """One inbox event the applier has applied and committed (what hooks receive)."""

    event_id: str
    kind: str
    room_id: int
    identity: str
    occurred_at: datetime


# Dotted paths of callables ``hook(events: list[AppliedEvent]) -> None`` the applier
# calls after each committed batch (in the applier's thread, never in a request).
# A hook that raises is logged and does not undo or stop the applier.
AFTER_APPLY_HOOKS: tuple[str, ...] = ()
