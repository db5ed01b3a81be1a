"""Bans that hold: create, lift and enforce on join (the reads are in ``selectors``).

LiveKit has no ban of its own (a removed participant's token stays valid), so the
console keeps the list and enforces it: once when the ban is made, by removing the
identity from every room in scope as LiveKit reports them, and again whenever the
identity shows up in a room later (``ban_enforce_on_join``, called by the mirror).

Expiry needs no scheduler: every query compares ``expires_at`` with the current time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.access import Action, require
from monitoring import livekit
from monitoring.models import ApiKey, AuditOutcome, Ban, BanScope
from monitoring.moderation import observers
from monitoring.moderation.audit import audit_record, livekit_error_text

IDENTITY_MAX = 256
ROOM_MAX = 256
REASON_MAX = 2000

# The console's expiry choices, in the order the form offers them.
EXPIRY_PRESETS: dict[str, tuple[str, timedelta | None]] = {
    "10m": ("10 minutes", timedelta(minutes=10)),
    "1h": ("1 hour", timedelta(hours=1)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "permanent": ("Permanent", None),
}


class BanConflict(Exception):
    """The same identity already has an active ban of the same scope (and room)."""

    def __init__(self, existing: Ban | None) -> None:
        self.existing = existing
        if existing is None:
            message = "An identical ban was being created at the same moment; it was kept once."
        else:
            where = (
                "everywhere" if existing.scope == BanScope.GLOBAL else f"in {existing.room_name}"
            )
            until = (
                f"until {existing.expires_at:%Y-%m-%d %H:%M} UTC"
                if existing.expires_at
                else "permanently"
            )
            message = (
                f"{existing.identity} is already banned {where} {until} (ban #{existing.pk}). "
                "Lift that ban first to change it."
            )
        super().__init__(message)


class BanNotActive(Exception):
    """The ban was already lifted or has expired, so there is nothing to lift."""


@dataclass(frozen=True)
class Removal:
    """The outcome of removing the banned identity from one room (or of finding rooms)."""

    room_name: str
    outcome: str
    error: str = ""
    room_sid: str = ""


@dataclass
class BanResult:
    ban: Ban
    removals: list[Removal] = field(default_factory=list)

    @property
    def failures(self) -> list[Removal]:
        return [r for r in self.removals if r.outcome == AuditOutcome.FAILED]

    @property
    def removed_from(self) -> list[str]:
        return [r.room_name for r in self.removals if r.outcome == AuditOutcome.DONE]


def _active_key(*, identity: str, scope: str, room_name: str) -> str:
    return hashlib.sha256(f"{scope}\x00{room_name}\x00{identity}".encode()).hexdigest()


def _actor_fields(*, actor: Any, api_key: ApiKey | None) -> dict[str, Any]:
    if api_key is not None:
        return {"actor": None, "actor_name": f"api:{api_key.name}"}
    return {"actor": actor, "actor_name": None}


def _authorize(*, actor: Any, api_key: ApiKey | None, action: Action) -> None:
    """Staff users need ``action``; an API key only needs to be unrevoked."""
    if api_key is None:
        require(actor, action)
    elif not api_key.is_active:
        raise PermissionDenied("This API key has been revoked.")


def _actor_display_name(*, actor: Any, api_key: ApiKey | None) -> str:
    """Who made or lifted a ban, as the ban row stores it."""
    name = f"api:{api_key.name}" if api_key is not None else actor.get_username()
    return name[:150]


def _clean_text(value: Any, *, label: str, max_length: int, required: bool = True) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ValidationError(f"{label} is required.")
    if len(text) > max_length:
        raise ValidationError(f"{label} must be at most {max_length} characters.")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise ValidationError(f"{label} contains control characters.")
    return text


def expiry_from_preset(*, preset: str, now: datetime | None = None) -> datetime | None:
    """The expiry time for one of ``EXPIRY_PRESETS`` (None means permanent)."""
    if preset not in EXPIRY_PRESETS:
        raise ValidationError(f"Unknown expiry {preset!r}.")
    delta = EXPIRY_PRESETS[preset][1]
    return None if delta is None else (now or timezone.now()) + delta


# --- Services ---------------------------------------------------------------------


def ban_create(
    *,
    actor: Any,
    identity: str,
    scope: str,
    reason: str,
    room_name: str = "",
    expires_at: datetime | None = None,
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> BanResult:
    """Ban ``identity`` and remove it from every room in scope, as LiveKit lists them.

    ``actor`` is the staff user (checked with ``require``); API calls pass ``api_key``
    instead. A second active ban of the same identity, scope and room is refused with
    ``BanConflict`` (a unique key makes that hold under concurrent submissions too).
    The ban and its audit row commit first; the removals happen after, each recorded.
    """
    now = now or timezone.now()
    if scope not in BanScope.values:
        raise ValidationError("Scope must be 'global' or 'room'.")
    _authorize(
        actor=actor,
        api_key=api_key,
        action=Action.BAN_GLOBAL if scope == BanScope.GLOBAL else Action.BAN_ROOM,
    )
    identity = _clean_text(identity, label="Identity", max_length=IDENTITY_MAX)
    if livekit.observer_staff_id(identity) is not None:
        raise ValidationError(
            f"{identity} is the console's own preview viewer (a staff member watching), "
            "not a participant of the platform: it cannot be banned."
        )
    reason = _clean_text(reason, label="Reason", max_length=REASON_MAX)
    if scope == BanScope.ROOM:
        room_name = _clean_text(room_name, label="Room", max_length=ROOM_MAX)
    else:
        room_name = ""
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise ValidationError("The expiry needs a time zone.")
        if expires_at <= now:
            raise ValidationError("The expiry must be in the future.")

    key = _active_key(identity=identity, scope=scope, room_name=room_name)
    who = _actor_fields(actor=actor, api_key=api_key)
    try:
        with transaction.atomic():
            # A ban that ran out frees its key; lifting frees it too.
            Ban.objects.filter(active_key=key, expires_at__lte=now).update(active_key=None)
            existing = (
                Ban.objects.active(now=now)
                .filter(identity=identity, scope=scope, room_name=room_name)
                .first()
            )
            if existing is not None:
                raise BanConflict(existing)
            ban = Ban.objects.create(
                identity=identity,
                scope=scope,
                room_name=room_name,
                reason=reason,
                created_by=actor if api_key is None else None,
                created_by_name=_actor_display_name(actor=actor, api_key=api_key),
                created_at=now,
                expires_at=expires_at,
                active_key=key,
            )
            # Frames the moderator captured from this room's preview go with the ban.
            evidence = (
                observers.evidence_take(actor=actor, room_name=room_name)
                if scope == BanScope.ROOM and api_key is None
                else []
            )
            entry = audit_record(
                **who,
                action="ban.create",
                outcome=AuditOutcome.DONE,
                room_name=room_name,
                identity=identity,
                reason=reason,
                detail={
                    "ban_id": ban.pk,
                    "scope": scope,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                    **observers.evidence_detail(evidence),
                },
            )
            observers.evidence_attach(evidence=evidence, entry=entry)
    except IntegrityError as exc:
        # Another submission stored the same ban between our check and our insert.
        raise BanConflict(Ban.objects.filter(active_key=key).first()) from exc

    removals = _enforce_in_scope(ban=ban, who=who)
    return BanResult(ban=ban, removals=removals)


def ban_lift(
    *,
    actor: Any,
    ban: Ban,
    reason: str,
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> Ban:
    """Lift an active ban, with a reason. Admins only (or an API key)."""
    now = now or timezone.now()
    _authorize(actor=actor, api_key=api_key, action=Action.UNBAN)
    reason = _clean_text(reason, label="Reason", max_length=REASON_MAX)
    who = _actor_fields(actor=actor, api_key=api_key)
    with transaction.atomic():
        locked = Ban.objects.select_for_update().get(pk=ban.pk)
        if locked.lifted_at is not None:
            raise BanNotActive(
                f"Ban #{locked.pk} was already lifted by {locked.lifted_by_name or 'someone'}."
            )
        if not locked.is_active(now=now):
            raise BanNotActive(f"Ban #{locked.pk} has already expired.")
        locked.lifted_at = now
        locked.lifted_by = actor if api_key is None else None
        locked.lifted_by_name = _actor_display_name(actor=actor, api_key=api_key)
        locked.lift_reason = reason
        locked.active_key = None
        locked.save(
            update_fields=["lifted_at", "lifted_by", "lifted_by_name", "lift_reason", "active_key"]
        )
        audit_record(
            **who,
            action="ban.lift",
            outcome=AuditOutcome.DONE,
            room_name=locked.room_name,
            identity=locked.identity,
            reason=reason,
            detail={"ban_id": locked.pk, "scope": locked.scope},
        )
    return locked


def ban_enforce_on_join(*, room_name: str, identity: str, room_sid: str = "") -> Removal | None:
    """Remove ``identity`` from ``room_name`` again if a ban applies to it there.

    Called by the mirror after its transaction commits, when LiveKit reports
    ``participant_joined`` or the reconciler finds the participant. Returns None when
    no ban applies; otherwise the removal's outcome, also written as a ``ban.enforce``
    audit row by "system". Synchronous: from async code wrap it in ``sync_to_async``.
    The console's own observers are never removed.
    """
    if livekit.observer_staff_id(identity) is not None:
        return None
    ban = (
        Ban.objects.applying_to(identity=identity, room_name=room_name)
        .order_by("scope", "-created_at")
        .first()
    )
    if ban is None:
        return None
    removal = _remove_one(room_name=room_name, room_sid=room_sid, identity=identity)
    with transaction.atomic():
        if removal.outcome == AuditOutcome.DONE:
            Ban.objects.filter(pk=ban.pk).update(
                rejoin_count=F("rejoin_count") + 1, last_rejoin_at=timezone.now()
            )
        _audit_removal(ban=ban, removal=removal, who={"actor": None}, trigger="join")
    return removal


def bans_expire(*, now: datetime | None = None) -> int:
    """Release the keys of bans that ran out. Housekeeping only: expiry applies anyway."""
    now = now or timezone.now()
    return Ban.objects.filter(active_key__isnull=False, expires_at__lte=now).update(active_key=None)


# --- Enforcement ------------------------------------------------------------------


def _removal_failed(*, room_name: str, room_sid: str = "", exc: livekit.LiveKitError) -> Removal:
    return Removal(
        room_name=room_name,
        room_sid=room_sid,
        outcome=AuditOutcome.FAILED,
        error=livekit_error_text(exc),
    )


def _remove_one(*, room_name: str, room_sid: str, identity: str) -> Removal:
    try:
        async_to_sync(livekit.remove_participant)(room=room_name, identity=identity)
    except livekit.LiveKitError as exc:
        if exc.is_not_found:
            # Already gone (left, or removed by a concurrent enforcement): the ban holds.
            return Removal(
                room_name=room_name, room_sid=room_sid, outcome=AuditOutcome.DONE, error=""
            )
        return _removal_failed(room_name=room_name, room_sid=room_sid, exc=exc)
    return Removal(room_name=room_name, room_sid=room_sid, outcome=AuditOutcome.DONE)


async def _remove_in_rooms(*, identity: str, room_name: str) -> list[Removal]:
    """Ask LiveKit which rooms in scope hold ``identity`` and remove it from each."""
    if room_name:
        rooms: list[tuple[str, str]] = [(room_name, "")]
    else:
        try:
            listed = await livekit.list_rooms()
        except livekit.LiveKitError as exc:
            return [_removal_failed(room_name="", exc=exc)]
        rooms = [(r.name, getattr(r, "sid", "") or "") for r in listed]
    removals: list[Removal] = []
    for name, sid in rooms:
        try:
            participants = await livekit.list_participants(room=name)
        except livekit.LiveKitError as exc:
            removals.append(_removal_failed(room_name=name, room_sid=sid, exc=exc))
            continue
        if not any(p.identity == identity for p in participants):
            continue
        try:
            await livekit.remove_participant(room=name, identity=identity)
        except livekit.LiveKitError as exc:
            if exc.is_not_found:
                continue  # left between the listing and the removal
            removals.append(_removal_failed(room_name=name, room_sid=sid, exc=exc))
        else:
            removals.append(Removal(room_name=name, room_sid=sid, outcome=AuditOutcome.DONE))
    return removals


def _enforce_in_scope(*, ban: Ban, who: dict[str, Any]) -> list[Removal]:
    removals = async_to_sync(_remove_in_rooms)(identity=ban.identity, room_name=ban.room_name)
    for removal in removals:
        with transaction.atomic():
            _audit_removal(ban=ban, removal=removal, who=who, trigger="ban")
    return removals


def _audit_removal(*, ban: Ban, removal: Removal, who: dict[str, Any], trigger: str) -> None:
    audit_record(
        **who,
        action="ban.enforce",
        outcome=removal.outcome,
        room_name=removal.room_name,
        room_sid=removal.room_sid,
        identity=ban.identity,
        reason=ban.reason,
        error=removal.error,
        detail={"ban_id": ban.pk, "scope": ban.scope, "trigger": trigger},
    )
