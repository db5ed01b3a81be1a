"""One-time form tokens and per-target claims (``ActionRequest``) for moderator actions.

Each rendered action form carries a fresh token (:func:`new_token`). Before LiveKit is
called, :func:`action_request_claim` records the token together with the action's
target ("<action>:<room>:<identity>:<extra>"): a double click or a resubmitted form
finds its token taken and is told the first result, and a second moderator's
identical action finds the target taken and is told to wait. When the action ends,
:func:`action_request_finish` records its outcome and frees the target.

A claim older than any LiveKit call can take belongs to a worker that died; the next
claim on that target takes it over.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.models import ActionRequest, AuditOutcome

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Refusal:
    """Why a claim was not granted, in words for the moderator.

    ``status`` is "repeated" (this form was already submitted; ``ok`` is how that
    first submission ended) or "busy" (the same action on the same target is running).
    """

    ok: bool
    status: str
    message: str


def new_token() -> str:
    """A one-time token for one rendered action form."""
    return secrets.token_urlsafe(24)


def token_is_well_formed(token: str) -> bool:
    """Whether ``token`` looks like one :func:`new_token` made."""
    return bool(TOKEN_PATTERN.match(token))


def _stale_after() -> timedelta:
    # Longer than any LiveKit call can take; a claim this old belongs to a dead worker.
    return timedelta(seconds=4 * float(settings.LIVEKIT_TIMEOUT_SECONDS) + 30)


def action_request_claim(*, token: str, target: str, action: str, actor: Any) -> Refusal | None:
    """Take the token and the target, or say why not (repeated form / busy target)."""
    for _attempt in range(2):
        try:
            with transaction.atomic():
                ActionRequest.objects.create(token=token, target=target, action=action, actor=actor)
            return None
        except IntegrityError:
            previous = ActionRequest.objects.filter(token=token).first()
            if previous is not None:
                if previous.finished_at is None:
                    return Refusal(
                        ok=False,
                        status="busy",
                        message="This action is already being carried out; wait for its result.",
                    )
                return Refusal(
                    ok=previous.outcome == AuditOutcome.DONE,
                    status="repeated",
                    message=f"Already submitted once: {previous.message}",
                )
            holder = ActionRequest.objects.filter(target=target).first()
            if holder is None:
                continue  # released in between: try again
            if holder.created_at < timezone.now() - _stale_after():
                ActionRequest.objects.filter(pk=holder.pk, target=target).update(target=None)
                continue
            return Refusal(
                ok=False,
                status="busy",
                message="Another moderator is doing exactly this right now; "
                "their result will appear on the page.",
            )
    return Refusal(
        ok=False,
        status="busy",
        message="Another moderator is doing exactly this right now.",
    )


def action_request_finish(*, token: str, outcome: str, message: str) -> None:
    """Record how the claimed action ended (a repeat of its form is told this) and free
    its target for the next action."""
    ActionRequest.objects.filter(token=token).update(
        target=None, finished_at=timezone.now(), outcome=outcome, message=message
    )
