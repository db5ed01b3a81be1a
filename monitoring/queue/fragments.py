"""The HTML a queue change is pushed as: the queue page's and the case page's own
partials, rendered once per role outside any request."""

from __future__ import annotations

from collections.abc import Iterable

from django.template.loader import render_to_string
from django.utils import timezone

from accounts.roles import ROLE_NAMES
from monitoring.models import Case
from monitoring.queue import selectors, services
from monitoring.realtime import role_context

QUEUE_PAGE = "monitoring/queue.html"
CASE_PAGE = "monitoring/queue_case.html"


def count_fragment(*, total: int) -> str:
    return render_to_string("monitoring/_queue_count.html", {"queue_open": total, "oob": True})


def queue_fragments(*, case_ids: Iterable[int]) -> tuple[str, dict[str, list[str]]]:
    """The nav count (for every page) and, per role, the queue list plus the status
    block of each changed case (for the queue and case pages)."""
    now = timezone.now()
    view = selectors.queue_view(now=now)
    idle = view.idle
    changed = list(
        Case.objects.select_related("claimed_by", "action_entry").filter(pk__in=list(case_ids))
    )
    for case in changed:
        case.claim_live = services.claim_is_live(case, now=now, idle=idle)  # type: ignore[attr-defined]
    by_role: dict[str, list[str]] = {}
    for role in ROLE_NAMES:
        context = {**role_context(role), "queue": view, "oob": True}
        messages = [render_to_string(QUEUE_PAGE + "#queue-list", context)]
        for case in changed:
            messages.append(
                render_to_string(
                    CASE_PAGE + "#case-status",
                    {**context, "case": case, "claim_live": case.claim_live},
                )
            )
        by_role[role] = messages
    return count_fragment(total=view.total_open), by_role
