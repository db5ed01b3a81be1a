"""Restrictions that hold: apply, reapply on every join, lift (early or at expiry).

LiveKit enforces a permission change (``UpdateParticipant``) only for the session it
was sent to: a participant that rejoins with its token gets the token's grants back.
So the console keeps the restriction and sends it again whenever LiveKit reports the
identity joining (``restrictions_enforce_on_join``, called by the mirror after ban
enforcement) and gives the earlier permission back when it ends
(``restriction_lift``, or ``restrictions_expire_due`` for the ones that ran out).

Every permission sent is the participant's full permission set, because LiveKit
replaces every field: the permission the session had before the console restricted
it (kept per room in ``RestrictionApplication.base_permission``) with the active
restrictions taken away from it. Lifting one restriction while another still applies
sends the base permission minus the remaining one.

Every service authorizes through ``accounts.access``, calls LiveKit outside any
transaction, writes its audit row in the transaction of its effect, and has the
room pages updated on commit (``realtime.room_changed``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.access import Action, require
from monitoring import livekit, realtime
from monitoring.models import (
    ApplicationStatus,
    AuditOutcome,
    Participant,
    Restriction,
    RestrictionApplication,
    RestrictionKind,
    Room,
)
from monitoring.moderation.audit import audit_record, livekit_error_text

logger = logging.getLogger(__name__)

IDENTITY_MAX = 256
ROOM_MAX = 256
REASON_MAX = 2000

SCOPE_ROOM = "room"
SCOPE_GLOBAL = "global"

# The durations a moderator picks from, in the order the form offers them.
DURATION_PRESETS: dict[str, tuple[str, timedelta | None]] = {
    "1m": ("1 minute", timedelta(minutes=1)),
    "5m": ("5 minutes", timedelta(minutes=5)),
    "10m": ("10 minutes", timedelta(minutes=10)),
    "30m": ("30 minutes", timedelta(minutes=30)),
    "1h": ("1 hour", timedelta(hours=1)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "lifted": ("until lifted", None),
}

# LiveKit's track sources (TrackSource names). An empty can_publish_sources list
# means every source is allowed.
ALL_SOURCES = ("CAMERA", "MICROPHONE", "SCREEN_SHARE", "SCREEN_SHARE_AUDIO")
REMOVED_SOURCES: dict[str, frozenset[str]] = {
    RestrictionKind.SILENCE: frozenset({"MICROPHONE"}),
    RestrictionKind.NO_VIDEO: frozenset({"CAMERA", "SCREEN_SHARE", "SCREEN_SHARE_AUDIO"}),
}
# The permission LiveKit gives a participant whose token says nothing more.
DEFAULT_PERMISSION: dict[str, Any] = {
    "can_subscribe": True,
    "can_publish": True,
    "can_publish_data": True,
    "can_publish_sources": [],
    "hidden": False,
}


class RestrictionNotActive(Exception):
    """The restriction was already lifted or has run out."""


@dataclass(frozen=True)
class Application:
    """The outcome of applying (or lifting) a restriction in one room."""

    room_name: str
    outcome: str  # AuditOutcome
    message: str
    error: str = ""
    room_sid: str = ""


@dataclass
class RestrictionResult:
    restriction: Restriction
    applications: list[Application] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(a.outcome == AuditOutcome.DONE for a in self.applications)

    @property
    def message(self) -> str:
        if not self.applications:
            return "Nobody with that identity is in a room right now: it applies when they join."
        return " ".join(a.message for a in self.applications)


# --- Permissions ------------------------------------------------------------------


def permission_json(permission: livekit.PermissionInfo | None) -> dict[str, Any]:
    """A participant's permission as stored (LiveKit's defaults when it has none)."""
    if permission is None:
        return dict(DEFAULT_PERMISSION)
    return {
        "can_subscribe": permission.can_subscribe,
        "can_publish": permission.can_publish,
        "can_publish_data": permission.can_publish_data,
        "can_publish_sources": list(permission.can_publish_sources),
        "hidden": permission.hidden,
    }


def permission_restricted(*, base: dict[str, Any], kinds: Iterable[str]) -> dict[str, Any]:
    """``base`` with what ``kinds`` forbid taken away (every other field kept)."""
    kinds = set(kinds)
    result = {**DEFAULT_PERMISSION, **base}
    result["can_publish_sources"] = list(result.get("can_publish_sources") or [])
    if RestrictionKind.NO_PUBLISH in kinds:
        result["can_publish"] = False
    removed: set[str] = set()
    for kind in kinds:
        removed |= REMOVED_SOURCES.get(kind, frozenset())
    if removed and result["can_publish"]:
        allowed = result["can_publish_sources"] or list(ALL_SOURCES)
        left = [source for source in allowed if source not in removed]
        if left:
            result["can_publish_sources"] = left
        else:
            # An empty list would mean "everything": nothing left means no publishing.
            result["can_publish"] = False
    if RestrictionKind.NO_DATA in kinds:
        result["can_publish_data"] = False
    return result


def grants_left_out(*, kinds: Iterable[str]) -> dict[str, Any]:
    """What a join token must leave out while ``kinds`` apply (token grant names:
    lower-case sources), for the access check of the token server."""
    kinds = set(kinds)
    removed: set[str] = set()
    for kind in kinds:
        removed |= REMOVED_SOURCES.get(kind, frozenset())
    no_publish = RestrictionKind.NO_PUBLISH in kinds or removed >= set(ALL_SOURCES)
    return {
        "can_publish": no_publish,
        "can_publish_data": RestrictionKind.NO_DATA in kinds,
        "can_publish_sources": [] if no_publish else [s.lower() for s in sorted(removed)],
    }


async def _permission_send(*, room: str, identity: str, target: dict[str, Any]) -> Any:
    return await livekit.update_permissions(
        room=room,
        identity=identity,
        can_publish=target["can_publish"],
        can_subscribe=target["can_subscribe"],
        can_publish_data=target["can_publish_data"],
        can_publish_sources=target["can_publish_sources"],
        hidden=target["hidden"],
    )


# --- Validation -------------------------------------------------------------------


def _clean_text(value: Any, *, label: str, max_length: int) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValidationError(f"{label} is required.")
    if len(text) > max_length:
        raise ValidationError(f"{label} must be at most {max_length} characters.")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise ValidationError(f"{label} contains control characters.")
    return text


def expiry_from_duration(*, duration: str, now: datetime | None = None) -> datetime | None:
    """The end of a restriction of one of ``DURATION_PRESETS`` (None: until lifted)."""
    if duration not in DURATION_PRESETS:
        raise ValidationError("Choose how long: from 1 minute to 7 days, or until lifted.")
    delta = DURATION_PRESETS[duration][1]
    return None if delta is None else (now or timezone.now()) + delta


def _actor_name(actor: Any) -> str:
    return actor.get_username()[:150] if getattr(actor, "is_authenticated", False) else "system"


# --- Reads used by the services ------------------------------------------------------


def _active_kinds(*, identity: str, room_name: str, exclude_pk: int | None = None) -> list[str]:
    qs = Restriction.objects.applying_to(identity=identity, room_name=room_name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return sorted(set(qs.values_list("kind", flat=True)))


def _session_base(*, identity: str, room_name: str, sid: str) -> dict[str, Any] | None:
    """The permission this very session had before the console restricted it, if the
    console already restricted it (another restriction applied to the same session)."""
    app = (
        RestrictionApplication.objects.filter(
            restriction__identity=identity,
            room_name=room_name,
            participant_sid=sid,
            status=ApplicationStatus.APPLIED,
        )
        .order_by("pk")
        .first()
    )
    return dict(app.base_permission) if app is not None else None


def _room_of(*, room_name: str) -> Room | None:
    return (
        Room.objects.filter(name=room_name, ended_at__isnull=True).order_by("-created_at").first()
    )


def _mirror_update(*, room: Room | None, identity: str, info: livekit.ParticipantInfo) -> None:
    if room is None:
        return
    tracks = [t.as_json() for t in info.tracks]
    Participant.objects.filter(room=room, identity=identity, left_at__isnull=True).update(
        tracks=tracks,
        can_publish=info.can_publish,
        is_publisher=bool(tracks),
        updated_at=timezone.now(),
    )


def _push(room: Room | None, identity: str) -> None:
    # The whole room: the participant's row and the page's list of who is restricted.
    if room is not None:
        realtime.room_changed(room_id=room.pk)


# --- Applying in one room ------------------------------------------------------------


def _apply_in_room(
    *,
    restrictions: list[Restriction],
    room_name: str,
    identity: str,
    action: str,
    actor: Any,
    trigger: str,
) -> Application:
    """Send the permission that every active restriction of ``identity`` in
    ``room_name`` allows, and record it for ``restrictions`` (one audit row each)."""
    now = timezone.now()
    room = _room_of(room_name=room_name)
    room_sid = room.sid if room is not None else ""
    info: livekit.ParticipantInfo | None = None
    base: dict[str, Any] | None = None
    error = ""
    try:
        current = async_to_sync(livekit.get_participant)(room=room_name, identity=identity)
        base = _session_base(identity=identity, room_name=room_name, sid=current.sid)
        same_session = base is not None
        if base is None:
            base = permission_json(current.permission)
        target = permission_restricted(
            base=base, kinds=_active_kinds(identity=identity, room_name=room_name)
        )
        info = async_to_sync(_permission_send)(room=room_name, identity=identity, target=target)
    except livekit.LiveKitError as exc:
        error = livekit_error_text(exc)
        message = (
            f"{identity} is not in {room_name} right now: restricted as soon as they join."
            if exc.is_not_found
            else f"Could not restrict {identity} in {room_name}: {exc} It is retried when "
            "they next join."
        )
        same_session = False
    else:
        message = f"{identity} is restricted in {room_name}."
    outcome = AuditOutcome.DONE if info is not None else AuditOutcome.FAILED
    with transaction.atomic():
        for restriction in restrictions:
            app, _ = RestrictionApplication.objects.get_or_create(
                restriction=restriction, room_name=room_name
            )
            if info is not None:
                app.participant_sid = info.sid
                app.base_permission = base or {}
                app.status = ApplicationStatus.APPLIED
                app.error = ""
            else:
                app.status = ApplicationStatus.PENDING
                app.error = error
            app.updated_at = now
            app.save()
            if trigger == "join" and info is not None and not same_session:
                Restriction.objects.filter(pk=restriction.pk).update(
                    rejoin_count=F("rejoin_count") + 1, last_rejoin_at=now
                )
            audit_record(
                actor=actor,
                action=action,
                outcome=outcome,
                room_name=room_name,
                room_sid=room_sid,
                identity=identity,
                reason=restriction.reason,
                error=error,
                detail={
                    "restriction_id": restriction.pk,
                    "kind": restriction.kind,
                    "scope": restriction.scope,
                    "trigger": trigger,
                    "permission": permission_json(info.permission) if info else None,
                },
            )
        if info is not None:
            _mirror_update(room=room, identity=identity, info=info)
        _push(room, identity)
    return Application(
        room_name=room_name, room_sid=room_sid, outcome=outcome, message=message, error=error
    )


async def _rooms_holding(identity: str) -> list[str]:
    """The rooms LiveKit lists ``identity`` in (for a global restriction)."""
    rooms = await livekit.list_rooms()
    found = []
    for room in rooms:
        participants = await livekit.list_participants(room=room.name)
        if any(p.identity == identity for p in participants):
            found.append(room.name)
    return found


# --- Services -----------------------------------------------------------------------


def restriction_apply(
    *,
    actor: Any,
    identity: str,
    kind: str,
    scope: str,
    reason: str,
    room_name: str = "",
    duration: str = "",
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> RestrictionResult:
    """Restrict ``identity`` in one room (moderators) or everywhere (admins), at once.

    The restriction and its ``restriction.create`` audit row commit first; then it is
    applied in every room in scope that LiveKit lists the identity in, each recorded
    as ``restriction.apply`` (failed, with LiveKit's words, when it could not be: it
    is retried when the identity next joins).
    """
    now = now or timezone.now()
    if scope not in (SCOPE_ROOM, SCOPE_GLOBAL):
        raise ValidationError("Scope must be 'global' or 'room'.")
    require(actor, Action.RESTRICT_GLOBAL if scope == SCOPE_GLOBAL else Action.RESTRICT)
    identity = _clean_text(identity, label="Identity", max_length=IDENTITY_MAX)
    if kind not in RestrictionKind.values:
        raise ValidationError(
            "Choose what to restrict: microphone, camera and screen share, publishing or chat."
        )
    reason = _clean_text(reason, label="Reason", max_length=REASON_MAX)
    room_name = (
        _clean_text(room_name, label="Room", max_length=ROOM_MAX) if scope == SCOPE_ROOM else ""
    )
    if duration:
        expires_at = expiry_from_duration(duration=duration, now=now)
    elif expires_at is not None and expires_at <= now:
        raise ValidationError("The end must be in the future.")
    with transaction.atomic():
        restriction = Restriction.objects.create(
            identity=identity,
            scope=scope,
            room_name=room_name,
            kind=kind,
            reason=reason,
            created_by=actor,
            created_by_name=_actor_name(actor),
            created_at=now,
            expires_at=expires_at,
        )
        audit_record(
            actor=actor,
            action="restriction.create",
            outcome=AuditOutcome.DONE,
            room_name=room_name,
            identity=identity,
            reason=reason,
            detail={
                "restriction_id": restriction.pk,
                "kind": kind,
                "scope": scope,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    result = RestrictionResult(restriction=restriction)
    if scope == SCOPE_ROOM:
        rooms = [room_name]
    else:
        try:
            rooms = async_to_sync(_rooms_holding)(identity)
        except livekit.LiveKitError as exc:
            with transaction.atomic():
                audit_record(
                    actor=actor,
                    action="restriction.apply",
                    outcome=AuditOutcome.FAILED,
                    identity=identity,
                    reason=reason,
                    error=livekit_error_text(exc),
                    detail={"restriction_id": restriction.pk, "kind": kind, "scope": scope},
                )
            result.applications.append(
                Application(
                    room_name="",
                    outcome=AuditOutcome.FAILED,
                    message=f"Could not find {identity}'s rooms: {exc} It applies when they "
                    "next join.",
                    error=livekit_error_text(exc),
                )
            )
            return result
    for name in rooms:
        result.applications.append(
            _apply_in_room(
                restrictions=[restriction],
                room_name=name,
                identity=identity,
                action="restriction.apply",
                actor=actor,
                trigger="create",
            )
        )
    return result


def restrictions_enforce_on_join(
    *, room_name: str, identity: str, room_sid: str = ""
) -> Application | None:
    """Restrict ``identity`` again when it joins ``room_name`` (webhook or reconciler).

    Called by the mirror after its transaction commits, after ban enforcement. Returns
    None when no restriction applies; otherwise the outcome, also written as one
    ``restriction.reapply`` audit row per restriction by "system". Each counts the
    rejoin.
    """
    restrictions = list(
        Restriction.objects.applying_to(identity=identity, room_name=room_name).order_by("pk")
    )
    if not restrictions:
        return None
    return _apply_in_room(
        restrictions=restrictions,
        room_name=room_name,
        identity=identity,
        action="restriction.reapply",
        actor=None,
        trigger="join",
    )


def restriction_lift(
    *, actor: Any, restriction: Restriction, reason: str, now: datetime | None = None
) -> RestrictionResult:
    """Lift a restriction early, with a reason (admins), and give the permissions back."""
    now = now or timezone.now()
    require(actor, Action.LIFT_RESTRICTION)
    reason = _clean_text(reason, label="Reason", max_length=REASON_MAX)
    with transaction.atomic():
        locked = Restriction.objects.select_for_update().get(pk=restriction.pk)
        if locked.lifted_at is not None:
            raise RestrictionNotActive(
                f"Restriction #{locked.pk} was already lifted by "
                f"{locked.lifted_by_name or 'someone'}."
            )
        if not locked.is_active(now=now):
            raise RestrictionNotActive(f"Restriction #{locked.pk} has already ended.")
        locked.lifted_at = now
        locked.lifted_by = actor
        locked.lifted_by_name = _actor_name(actor)
        locked.lift_reason = reason
        locked.save(update_fields=["lifted_at", "lifted_by", "lifted_by_name", "lift_reason"])
        audit_record(
            actor=actor,
            action="restriction.lift",
            outcome=AuditOutcome.DONE,
            room_name=locked.room_name,
            identity=locked.identity,
            reason=reason,
            detail={"restriction_id": locked.pk, "kind": locked.kind, "trigger": "moderator"},
        )
    return _restore(restriction=locked, actor=actor, reason=reason, trigger="moderator")


def restrictions_expire_due(*, now: datetime | None = None) -> int:
    """Give the permissions back for every restriction that ran out (or was lifted and
    could not be restored yet). Safe to call often: the reconciler loop does."""
    now = now or timezone.now()
    due = Restriction.objects.filter(ended_at__isnull=True).filter(
        Q(lifted_at__isnull=False) | Q(expires_at__lte=now)
    )
    count = 0
    for restriction in list(due.order_by("pk")[:200]):
        trigger = "moderator" if restriction.lifted_at else "expiry"
        reason = restriction.lift_reason if restriction.lifted_at else "expired"
        _restore(restriction=restriction, actor=None, reason=reason, trigger=trigger)
        count += 1
    return count


def _restore(
    *, restriction: Restriction, actor: Any, reason: str, trigger: str
) -> RestrictionResult:
    """Give each room's session the permission it had before, minus what other active
    restrictions still forbid. Rooms LiveKit could not be told stay pending (retried
    by ``restrictions_expire_due``); once all are done the restriction has ended."""
    result = RestrictionResult(restriction=restriction)
    apps = list(restriction.applications.filter(status=ApplicationStatus.APPLIED).order_by("pk"))
    unfinished = False
    for app in apps:
        room = _room_of(room_name=app.room_name)
        remaining = _active_kinds(
            identity=restriction.identity, room_name=app.room_name, exclude_pk=restriction.pk
        )
        target = permission_restricted(base=app.base_permission, kinds=remaining)
        info = None
        error = ""
        try:
            current = async_to_sync(livekit.get_participant)(
                room=app.room_name, identity=restriction.identity
            )
            if current.sid == app.participant_sid:
                info = async_to_sync(_permission_send)(
                    room=app.room_name, identity=restriction.identity, target=target
                )
                message = f"{restriction.identity}'s permissions in {app.room_name} are back."
            else:
                # A newer session than the one restricted: its token's grants apply.
                message = f"{restriction.identity} is in {app.room_name} with a new session."
        except livekit.LiveKitError as exc:
            if exc.is_not_found:
                message = f"{restriction.identity} has left {app.room_name}."
            else:
                error = livekit_error_text(exc)
                message = (
                    f"Could not give {restriction.identity}'s permissions back in "
                    f"{app.room_name}: {exc} Tried again shortly."
                )
                unfinished = True
        outcome = AuditOutcome.FAILED if error else AuditOutcome.DONE
        with transaction.atomic():
            if not error:
                app.status = ApplicationStatus.LIFTED
                app.error = ""
            else:
                app.error = error
            app.updated_at = timezone.now()
            app.save(update_fields=["status", "error", "updated_at"])
            audit_record(
                actor=actor,
                action="restriction.restore",
                outcome=outcome,
                room_name=app.room_name,
                room_sid=room.sid if room is not None else "",
                identity=restriction.identity,
                reason=reason,
                error=error,
                detail={
                    "restriction_id": restriction.pk,
                    "kind": restriction.kind,
                    "trigger": trigger,
                    "permission": permission_json(info.permission) if info else None,
                },
            )
            if info is not None:
                _mirror_update(room=room, identity=restriction.identity, info=info)
            _push(room, restriction.identity)
        result.applications.append(
            Application(room_name=app.room_name, outcome=outcome, message=message, error=error)
        )
    with transaction.atomic():
        if not unfinished:
            Restriction.objects.filter(pk=restriction.pk).update(ended_at=timezone.now())
        restriction.applications.filter(status=ApplicationStatus.PENDING).update(
            status=ApplicationStatus.LIFTED
        )
        if trigger == "expiry" and not unfinished:
            audit_record(
                actor=None,
                action="restriction.expire",
                outcome=AuditOutcome.DONE,
                room_name=restriction.room_name,
                identity=restriction.identity,
                reason=restriction.reason,
                detail={"restriction_id": restriction.pk, "kind": restriction.kind},
            )
        for name in {app.room_name for app in apps}:
            _push(_room_of(room_name=name), restriction.identity)
    restriction.refresh_from_db()
    return result
