"""Reads of the moderation records: the audit log, the bans and the restrictions.

Keyword-only and typed, like the services beside them; the views and the JSON API
parse and authorize, call these, and render what they return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from monitoring.models import (
    ApplicationStatus,
    AuditEntry,
    Ban,
    BanScope,
    Restriction,
    RestrictionApplication,
    Room,
)

# How many ban audit rows an identity's history shows, and room names the ban form offers.
BAN_HISTORY_EVENTS_MAX = 200
ROOM_NAMES_MAX = 200


class BanState:
    ACTIVE = "active"
    EXPIRED = "expired"
    LIFTED = "lifted"
    ALL = "all"
    CHOICES = (ACTIVE, EXPIRED, LIFTED, ALL)


# --- The audit log ------------------------------------------------------------------


def audit_entries_filter(
    *,
    actor: str = "",
    action: str = "",
    room: str = "",
    identity: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Audit rows matching every filter given (empty ones match all), newest first.

    ``actor`` matches the recorded name exactly (any case), ``room`` and ``identity``
    match part of the value, ``since`` and ``until`` are inclusive.
    """
    lookups = {
        "actor_name__iexact": actor,
        "action": action,
        "room_name__icontains": room,
        "identity__icontains": identity,
        "outcome": outcome,
        "created_at__gte": since,
        "created_at__lte": until,
    }
    given = {lookup: value for lookup, value in lookups.items() if value}
    return AuditEntry.objects.filter(**given).order_by("-created_at", "-pk")


def audit_filter_choices() -> dict[str, list[str]]:
    """What the audit page's filter menus offer: the actions and actors on record."""
    return {
        "action_choices": list(
            AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
        ),
        "actor_choices": list(
            AuditEntry.objects.order_by("actor_name")
            .values_list("actor_name", flat=True)
            .distinct()
        ),
    }


def ban_audit_entries_list(*, identity: str) -> QuerySet[AuditEntry]:
    """The latest ban, lift and enforcement rows about ``identity``."""
    return AuditEntry.objects.filter(identity=identity, action__startswith="ban.")[
        :BAN_HISTORY_EVENTS_MAX
    ]


# --- Bans ---------------------------------------------------------------------------


def bans_filter(
    *,
    identity: str = "",
    scope: str = "",
    state: str = BanState.ALL,
    room_name: str = "",
    exact_identity: bool = False,
    now: datetime | None = None,
) -> QuerySet[Ban]:
    """Bans matching the page's or the API's filters, newest first."""
    now = now or timezone.now()
    qs = Ban.objects.all()
    if identity:
        qs = (
            qs.filter(identity=identity)
            if exact_identity
            else qs.filter(identity__icontains=identity)
        )
    if scope:
        qs = qs.filter(scope=scope)
    if room_name:
        qs = qs.filter(room_name=room_name)
    if state == BanState.ACTIVE:
        qs = qs.active(now=now)
    elif state == BanState.LIFTED:
        qs = qs.filter(lifted_at__isnull=False)
    elif state == BanState.EXPIRED:
        qs = qs.filter(lifted_at__isnull=True, expires_at__lte=now)
    return qs.order_by("-created_at", "-pk")


def ban_applying(*, identity: str, room_name: str = "", now: datetime | None = None) -> Ban | None:
    """The ban that refuses ``identity`` in ``room_name`` (global ones only if no room).

    When several apply, a global ban wins, then the one lasting longest.
    """
    qs = Ban.objects.active(now=now).filter(identity=identity)
    qs = (
        qs.filter(Q(scope=BanScope.GLOBAL) | Q(scope=BanScope.ROOM, room_name=room_name))
        if (room_name)
        else qs.filter(scope=BanScope.GLOBAL)
    )
    bans = list(qs)
    if not bans:
        return None
    return sorted(
        bans,
        key=lambda b: (
            b.scope != BanScope.GLOBAL,
            b.expires_at is not None,
            -(b.expires_at.timestamp() if b.expires_at else 0),
        ),
    )[0]


def ban_state(*, ban: Ban, now: datetime | None = None) -> str:
    if ban.lifted_at is not None:
        return BanState.LIFTED
    return BanState.ACTIVE if ban.is_active(now=now) else BanState.EXPIRED


def ban_room_names_list() -> QuerySet[Room, str]:
    """Room names the ban form suggests, in order."""
    return Room.objects.order_by("name").values_list("name", flat=True).distinct()[:ROOM_NAMES_MAX]


# --- Restrictions -------------------------------------------------------------------


@dataclass(frozen=True)
class RestrictionShown:
    """An active restriction as a participant row or the room page shows it: whether it
    holds in this room now, or could not be applied (and why)."""

    restriction: Restriction
    applied: bool
    error: str = ""


def restrictions_for_identities(
    *, room_name: str, identities: Iterable[str], now: datetime | None = None
) -> dict[str, list[RestrictionShown]]:
    """The active restrictions of each identity in ``room_name`` (one query each kind)."""
    identities = set(identities)
    if not identities:
        return {}
    found = list(
        Restriction.objects.active(now=now)
        .filter(identity__in=identities)
        .filter(Q(scope="global") | Q(scope="room", room_name=room_name))
        .order_by("created_at", "pk")
    )
    apps = {
        app.restriction_id: app
        for app in RestrictionApplication.objects.filter(restriction__in=found, room_name=room_name)
    }
    shown: dict[str, list[RestrictionShown]] = {}
    for restriction in found:
        app = apps.get(restriction.pk)
        shown.setdefault(restriction.identity, []).append(
            RestrictionShown(
                restriction=restriction,
                applied=app is not None and app.status == ApplicationStatus.APPLIED,
                error=app.error if app is not None else "",
            )
        )
    return shown


@dataclass(frozen=True)
class RoomHolds:
    """Who is kept restricted or out of a room: its room-scoped restrictions and bans,
    and the global ones of the identities present."""

    restrictions: list[RestrictionShown]
    bans: list[Ban]


def room_holds(*, room: Room, now: datetime | None = None) -> RoomHolds:
    # Who is present stays a subquery: a room of thousands is never read into Python.
    present = room.participants.filter(left_at__isnull=True).values("identity")
    held = Restriction.objects.active(now=now).filter(
        Q(scope="room", room_name=room.name) | Q(scope="global", identity__in=present)
    )
    identities = set(held.values_list("identity", flat=True))
    by_identity = restrictions_for_identities(room_name=room.name, identities=identities, now=now)
    restrictions = [shown for rows in by_identity.values() for shown in rows]
    restrictions.sort(key=lambda s: (s.restriction.identity, s.restriction.created_at))
    bans = list(
        Ban.objects.active(now=now)
        .filter(
            Q(scope=BanScope.ROOM, room_name=room.name)
            | Q(scope=BanScope.GLOBAL, identity__in=present)
        )
        .order_by("identity", "-created_at")
    )
    return RoomHolds(restrictions=restrictions, bans=bans)


def restrictions_filter(
    *, identity: str = "", active_only: bool = True, now: datetime | None = None
) -> QuerySet[Restriction]:
    qs = Restriction.objects.active(now=now) if active_only else Restriction.objects.all()
    if identity:
        qs = qs.filter(identity__icontains=identity)
    return qs.order_by("-created_at", "-pk")


@dataclass(frozen=True)
class WarningShown:
    """The latest warning a participant was sent, and how its app answered."""

    at: datetime
    acknowledgement: str  # acknowledged, refused, no_answer ("" before acknowledgements)


def warnings_latest(*, room_name: str, identities: Iterable[str]) -> dict[str, WarningShown]:
    """Each identity's latest delivered warning in ``room_name`` (one query)."""
    identities = set(identities)
    if not identities:
        return {}
    latest: dict[str, WarningShown] = {}
    rows = (
        AuditEntry.objects.filter(
            action="participant.warn", outcome="done", room_name=room_name, identity__in=identities
        )
        .order_by("-created_at")
        .values_list("identity", "created_at", "detail")[:500]
    )
    for identity, at, detail in rows:
        if identity not in latest:
            ack = detail.get("acknowledgement", "") if isinstance(detail, dict) else ""
            latest[identity] = WarningShown(at=at, acknowledgement=str(ack))
    return latest
