"""Writes for the queue: report intake, cases, claims, resolution and alert thresholds.

Reports about the same target (a room, or one identity in a room) join its open case;
a case's ``open_key`` is unique while it is open, so concurrent reports about a new
target open exactly one case. Every staff change (claim, release, resolve, dismiss,
a staff-filed report, threshold edits) and every alert firing writes an audit row in
the same transaction; pushes to the queue pages happen after commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import Action, can, require
from monitoring import realtime
from monitoring.models import (
    AlertSettings,
    AuditOutcome,
    Case,
    CaseState,
    Report,
    ReportSource,
    Room,
)
from monitoring.moderation import actions
from monitoring.moderation.actions import ActionResult
from monitoring.moderation.audit import audit_record
from monitoring.queue import categories

# Claiming and acting on cases is moderators' work: the permission every moderator has.
CLAIM_PERMISSION = Action.WARN
SETTINGS_PERMISSION = Action.MANAGE_STAFF
TEXT_MAX = 4000
EXCERPT_MAX = 2000
URL_MAX = 2000
NAME_MAX = 256
REPORT_ID_MAX = 200
DISMISS_REASON_MAX = 500


class CaseConflict(Exception):
    """The case cannot be changed that way now (claimed by someone else, already closed)."""


@dataclass(frozen=True)
class Intake:
    report: Report
    case: Case
    created: bool


def target_key(*, room_name: str, identity: str = "") -> str:
    return f"{room_name}\x1f{identity}"


def alert_settings() -> AlertSettings:
    found = AlertSettings.objects.filter(pk=1).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return AlertSettings.objects.create(pk=1)
    except IntegrityError:
        return AlertSettings.objects.get(pk=1)


def claim_idle() -> timedelta:
    return timedelta(minutes=alert_settings().claim_idle_minutes)


def claim_is_live(
    case: Case, *, now: datetime | None = None, idle: timedelta | None = None
) -> bool:
    if case.claimed_by_id is None or case.claim_active_at is None:
        return False
    now = now or timezone.now()
    return now - case.claim_active_at < (idle if idle is not None else claim_idle())


# ------------------------------------------------------------------ report intake


def _clean(value: Any, *, name: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"'{name}' must be a string.", code=name)
    value = value.strip()
    if required and not value:
        raise ValidationError(f"'{name}' is required.", code=name)
    if len(value) > limit:
        raise ValidationError(f"'{name}' must be at most {limit} characters.", code=name)
    return value


def report_receive(
    *,
    report_id: str,
    room_name: str,
    reporter: str,
    category: str,
    identity: str = "",
    text: str = "",
    excerpt: str = "",
    evidence_url: str = "",
    reported_at: datetime | None = None,
    source: str = ReportSource.API,
    api_key: Any = None,
    filed_by: Any = None,
) -> Intake:
    """Store a report and add it to its target's open case (opening one if none is open).

    Idempotent on ``report_id``: a retry returns the stored report and creates nothing
    (the unique ``report_id`` refuses the second insert, so no look-up precedes it).
    Raises ``ValidationError`` (its ``code`` names the field) on bad input.
    """
    report_id = _clean(report_id, name="report_id", limit=REPORT_ID_MAX, required=True)
    room_name = _clean(room_name, name="room", limit=NAME_MAX, required=True)
    identity = _clean(identity, name="identity", limit=NAME_MAX)
    reporter = _clean(reporter, name="reporter", limit=NAME_MAX, required=True)
    category = _clean(category, name="category", limit=60, required=True)
    if source != ReportSource.ALERT and category not in categories.REPORTABLE:
        raise ValidationError(
            f"'category' must be one of {', '.join(categories.REPORTABLE)}.", code="category"
        )
    text = _clean(text, name="text", limit=TEXT_MAX)
    excerpt = _clean(excerpt, name="excerpt", limit=EXCERPT_MAX)
    evidence_url = _clean(evidence_url, name="evidence_url", limit=URL_MAX)
    if evidence_url and not evidence_url.lower().startswith(("https://", "http://")):
        raise ValidationError("'evidence_url' must be an http(s) URL.", code="evidence_url")
    now = timezone.now()
    try:
        intake = _report_store(
            report_id=report_id,
            room_name=room_name,
            identity=identity,
            fields={
                "source": source,
                "reporter": reporter,
                "category": category,
                "text": text,
                "excerpt": excerpt,
                "evidence_url": evidence_url,
                "reported_at": reported_at or now,
                "received_at": now,
                "api_key": api_key,
                "filed_by": filed_by,
            },
            now=now,
        )
    except _DuplicateReport:
        # A retry (the unique report_id refused the insert and rolled everything back).
        stored = Report.objects.select_related("case").get(report_id=report_id)
        return Intake(report=stored, case=stored.case, created=False)
    if source != ReportSource.ALERT:
        from monitoring.queue import alerts

        alerts.report_surge_check(room_name=room_name, now=now)
    return intake


class _DuplicateReport(Exception):
    pass


def _case_for_update(*, room_name: str, identity: str, now: datetime) -> tuple[Case, bool]:
    """The target's open case, locked; opened now if there is none.

    ``INSERT ... ON CONFLICT DO NOTHING`` then a locking read: two reports opening the
    same target at once end up in one case, without a savepoint per report.
    """
    key = target_key(room_name=room_name, identity=identity)
    found = list(Case.objects.select_for_update().filter(open_key=key)[:1])
    if found:
        return found[0], False
    room = (
        Room.objects.filter(name=room_name).order_by("-created_at").first() if room_name else None
    )
    Case.objects.bulk_create(
        [
            Case(
                open_key=key,
                room_name=room_name,
                identity=identity,
                room=room,
                opened_at=now,
                first_report_at=now,
                last_report_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    case = Case.objects.select_for_update().get(open_key=key)
    return case, case.report_count == 0


def _report_store(
    *, report_id: str, room_name: str, identity: str, fields: dict[str, Any], now: datetime
) -> Intake:
    try:
        with transaction.atomic():
            case, opened = _case_for_update(room_name=room_name, identity=identity, now=now)
            counts_as_reporter = fields["source"] != ReportSource.ALERT
            new_reporter = (
                counts_as_reporter
                and not Report.objects.filter(case=case, reporter=fields["reporter"])
                .exclude(source=ReportSource.ALERT)
                .exists()
            )
            # A concurrent retry of the same report_id fails here and rolls all of it back.
            report = Report.objects.create(
                report_id=report_id, case=case, room_name=room_name, identity=identity, **fields
            )
            case.report_count += 1
            case.reporter_count += int(new_reporter)
            category = fields["category"]
            if category not in case.categories:
                case.categories = [*case.categories, category]
            case.severity = max(case.severity, categories.severity(category))
            case.last_report_at = max(case.last_report_at, now)
            if opened:
                case.first_report_at = now
            case.save(
                update_fields=[
                    "report_count",
                    "reporter_count",
                    "categories",
                    "severity",
                    "last_report_at",
                    "first_report_at",
                ]
            )
            realtime.queue_changed(case_ids=[case.pk])
    except IntegrityError:
        raise _DuplicateReport from None
    return Intake(report=report, case=case, created=True)


def report_file(*, actor: Any, room: Room, identity: str, category: str, text: str) -> Intake:
    """A staff member's report from a room or a participant row (a note for colleagues)."""
    require(actor, Action.VIEW)
    text = _clean(text, name="text", limit=TEXT_MAX)
    if category == categories.OTHER and not text:
        raise ValidationError("Say what is wrong when no category fits.", code="text")
    with transaction.atomic():
        intake = report_receive(
            report_id=f"staff:{secrets.token_hex(12)}",
            room_name=room.name,
            identity=identity,
            reporter=actor.get_username(),
            category=category,
            text=text,
            source=ReportSource.STAFF,
            filed_by=actor,
        )
        audit_record(
            actor=actor,
            action="report.file",
            outcome=AuditOutcome.DONE,
            room_name=room.name,
            room_sid=room.sid,
            identity=identity,
            reason=categories.label(category),
            detail={"case_id": intake.case.pk, "report_id": intake.report.report_id, "text": text},
        )
    return intake


# ------------------------------------------------------------------ alerts


def alert_fire(
    *, rule: str, room_name: str, identity: str = "", detail: dict[str, Any], now: datetime
) -> Case | None:
    """Open or update the target's case for an alert rule; once per rule per open case.

    Returns the case when this firing is new (the caller may notify), else None.
    """
    key = target_key(room_name=room_name, identity=identity)
    open_case = Case.objects.filter(open_key=key).only("pk", "alerts").first()
    if open_case is not None and rule in open_case.alerts:
        return None
    summary = detail.get("summary", "")
    with transaction.atomic():
        case, _ = _case_for_update(room_name=room_name, identity=identity, now=now)
        if rule in case.alerts:
            return None
        try:
            with transaction.atomic():
                Report.objects.create(
                    report_id=f"alert:{rule}:{case.pk}",
                    case=case,
                    source=ReportSource.ALERT,
                    room_name=room_name,
                    identity=identity,
                    reporter="console",
                    category=rule,
                    text=summary,
                    reported_at=now,
                    received_at=now,
                )
        except IntegrityError:
            return None
        case.alerts = [*case.alerts, rule]
        case.report_count += 1
        if rule not in case.categories:
            case.categories = [*case.categories, rule]
        case.severity = max(case.severity, categories.severity(rule))
        case.last_report_at = max(case.last_report_at, now)
        case.save(
            update_fields=["alerts", "report_count", "categories", "severity", "last_report_at"]
        )
        audit_record(
            actor=None,
            action="alert.fire",
            outcome=AuditOutcome.DONE,
            room_name=room_name,
            identity=identity,
            reason=categories.label(rule),
            detail={"case_id": case.pk, "rule": rule, **detail},
        )
        realtime.queue_changed(case_ids=[case.pk])
        from monitoring.queue import notify

        notify.alert_opened_on_commit(case=case, rule=rule, detail=detail)
    return case


# ------------------------------------------------------------------ claims


def _locked_open(case: Case) -> Case:
    # No select_related: a row locked after waiting is re-read, a joined row is not.
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if not locked.is_open:
        raise CaseConflict(f"Case #{locked.pk} is already {locked.state}.")
    return locked


def case_claim(*, actor: Any, case: Case) -> Case:
    """Take the case: others see who has it. A lapsed claim (idle too long) can be taken over."""
    require(actor, CLAIM_PERMISSION)
    now = timezone.now()
    idle = claim_idle()
    with transaction.atomic():
        locked = _locked_open(case)
        previous = locked.claimed_by
        if (
            previous is not None
            and previous.pk == actor.pk
            and claim_is_live(locked, now=now, idle=idle)
        ):
            locked.claim_active_at = now
            locked.save(update_fields=["claim_active_at"])
            return locked
        if previous is not None and claim_is_live(locked, now=now, idle=idle):
            raise CaseConflict(f"{previous.get_username()} has claimed this case.")
        locked.claimed_by = actor
        locked.claimed_at = now
        locked.claim_active_at = now
        fields = ["claimed_by", "claimed_at", "claim_active_at"]
        if locked.first_claimed_at is None:
            locked.first_claimed_at = now
            locked.first_claimed_by_name = actor.get_username()
            fields += ["first_claimed_at", "first_claimed_by_name"]
        locked.save(update_fields=fields)
        detail: dict[str, Any] = {"case_id": locked.pk}
        if previous is not None:
            detail["took_over_from"] = previous.get_username()
        audit_record(
            actor=actor,
            action="case.claim",
            outcome=AuditOutcome.DONE,
            room_name=locked.room_name,
            identity=locked.identity,
            detail=detail,
        )
        realtime.queue_changed(case_ids=[locked.pk])
    return locked


def case_release(*, actor: Any, case: Case) -> Case:
    """Give the case back to the queue (the claimer, or an admin)."""
    require(actor, CLAIM_PERMISSION)
    with transaction.atomic():
        locked = _locked_open(case)
        if locked.claimed_by_id is None:
            raise CaseConflict("Nobody has claimed this case.")
        if locked.claimed_by_id != actor.pk and not can(actor, SETTINGS_PERMISSION):
            raise CaseConflict(
                f"{locked.claimed_by.get_username()} has claimed this case; "
                "only they can release it."
            )
        holder = locked.claimed_by.get_username()
        _unclaim(locked)
        audit_record(
            actor=actor,
            action="case.release",
            outcome=AuditOutcome.DONE,
            room_name=locked.room_name,
            identity=locked.identity,
            detail={"case_id": locked.pk, "claimed_by": holder},
        )
        realtime.queue_changed(case_ids=[locked.pk])
    return locked


def _unclaim(case: Case) -> None:
    case.claimed_by = None
    case.claimed_at = None
    case.claim_active_at = None
    case.save(update_fields=["claimed_by", "claimed_at", "claim_active_at"])


def claims_expire(*, now: datetime | None = None) -> int:
    """Release claims idle longer than the configured time; say how many (audited as system)."""
    now = now or timezone.now()
    cutoff = now - claim_idle()
    ids = list(
        Case.objects.filter(
            state=CaseState.OPEN, claimed_by__isnull=False, claim_active_at__lt=cutoff
        ).values_list("pk", flat=True)[:500]
    )
    released = 0
    for case_id in ids:
        with transaction.atomic():
            locked = (
                Case.objects.select_for_update(skip_locked=True)
                .filter(pk=case_id, state=CaseState.OPEN, claim_active_at__lt=cutoff)
                .first()
            )
            if locked is None or locked.claimed_by is None:
                continue
            holder = locked.claimed_by.get_username()
            _unclaim(locked)
            audit_record(
                actor=None,
                action="case.claim_lapsed",
                outcome=AuditOutcome.DONE,
                room_name=locked.room_name,
                identity=locked.identity,
                detail={"case_id": locked.pk, "claimed_by": holder},
            )
            realtime.queue_changed(case_ids=[locked.pk])
            released += 1
    return released


def _ensure_claim(*, actor: Any, case: Case) -> Case:
    """Acting or dismissing needs the claim: take it if free, refuse if someone else has it."""
    return case_claim(actor=actor, case=case)


# ------------------------------------------------------------------ closing


def _close(
    *,
    actor: Any,
    case: Case,
    state: str,
    reason: str,
    audit_action: str,
    entry: Any = None,
    extra: dict[str, Any] | None = None,
) -> Case:
    with transaction.atomic():
        locked = _locked_open(case)
        if locked.claimed_by_id not in (None, actor.pk) and claim_is_live(locked):
            raise CaseConflict(f"{locked.claimed_by.get_username()} has claimed this case.")
        now = timezone.now()
        locked.state = state
        locked.open_key = None
        locked.closed_at = now
        locked.closed_by = actor
        locked.closed_by_name = actor.get_username()
        locked.close_reason = reason
        locked.action_entry = entry
        if locked.first_claimed_at is None:
            locked.first_claimed_at = now
            locked.first_claimed_by_name = actor.get_username()
        locked.save()
        audit_record(
            actor=actor,
            action=audit_action,
            outcome=AuditOutcome.DONE,
            room_name=locked.room_name,
            identity=locked.identity,
            reason=reason,
            detail={
                "case_id": locked.pk,
                "reports": locked.report_count,
                **({"action_audit_id": entry.pk, "action": entry.action} if entry else {}),
                **(extra or {}),
            },
        )
        realtime.queue_changed(case_ids=[locked.pk])
    return locked


def case_dismiss(*, actor: Any, case: Case, reason: str) -> Case:
    """Close the case without acting; the reason is required (it is what colleagues read)."""
    require(actor, CLAIM_PERMISSION)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why this case needs no action.")
    if len(reason) > DISMISS_REASON_MAX:
        raise ValidationError(f"The reason must be at most {DISMISS_REASON_MAX} characters.")
    _ensure_claim(actor=actor, case=case)
    return _close(
        actor=actor,
        case=case,
        state=CaseState.DISMISSED,
        reason=reason,
        audit_action="case.dismiss",
    )


# What a moderator can do from a case: the existing actions, on the case's target.
CASE_ACTIONS: dict[str, tuple[str, bool]] = {
    # slug: (label, needs an identity)
    "kick": ("Kick", True),
    "mute": ("Mute all audio", True),
    "revoke": ("Revoke publishing", True),
    "warn": ("Warn", True),
    "warn-room": ("Warn the whole room", False),
    "end": ("End stream", False),
}


def _runner(
    *, action: str, actor: Any, room: Room, identity: str, reason: str, message: str, token: str
) -> Callable[[], ActionResult]:
    common = {"actor": actor, "room": room, "reason": reason, "token": token or None}
    runs: dict[str, Callable[[], ActionResult]] = {
        "kick": lambda: actions.participant_kick(identity=identity, **common),
        "mute": lambda: actions.participant_mute(
            identity=identity, scope=actions.MuteScope.AUDIO, **common
        ),
        "revoke": lambda: actions.participant_set_publishing(
            identity=identity, can_publish=False, **common
        ),
        "warn": lambda: actions.participant_warn(identity=identity, message=message, **common),
        "warn-room": lambda: actions.room_warn(message=message, **common),
        "end": lambda: actions.room_end(**common),
    }
    return runs[action]


@dataclass(frozen=True)
class CaseActOutcome:
    case: Case
    result: ActionResult
    resolved: bool


def case_act(
    *,
    actor: Any,
    case: Case,
    action: str,
    reason: str,
    message: str = "",
    token: str = "",
) -> CaseActOutcome:
    """Carry out one of the existing actions on the case's target; when it is done the
    case resolves with that action's audit row linked. A failed action leaves the case
    open (its failure is in the audit log like any other)."""
    require(actor, CLAIM_PERMISSION)
    if action not in CASE_ACTIONS:
        raise actions.ActionInvalid("Choose one of the listed actions.")
    label, needs_identity = CASE_ACTIONS[action]
    if needs_identity and not case.identity:
        raise actions.ActionInvalid(f"{label} needs a participant; this case is about a room.")
    if not case.room_name:
        raise actions.ActionInvalid("This case is about the console; there is no room to act on.")
    room = case.room or Room.objects.filter(name=case.room_name).order_by("-created_at").first()
    if room is None:
        raise actions.ActionInvalid("The console has never seen this room; nothing to act on.")
    if not case.is_open:
        raise CaseConflict(f"Case #{case.pk} is already {case.state}.")
    _ensure_claim(actor=actor, case=case)
    run = _runner(
        action=action,
        actor=actor,
        room=room,
        identity=case.identity,
        reason=reason,
        message=message,
        token=token,
    )
    result = run()
    if not result.ok or result.entry is None:
        with transaction.atomic():
            Case.objects.filter(pk=case.pk).update(claim_active_at=timezone.now())
        case.refresh_from_db()
        return CaseActOutcome(case=case, result=result, resolved=False)
    closed = _close(
        actor=actor,
        case=case,
        state=CaseState.RESOLVED,
        reason=result.entry.reason,
        audit_action="case.resolve",
        entry=result.entry,
    )
    return CaseActOutcome(case=closed, result=result, resolved=True)


# ------------------------------------------------------------------ settings

SETTING_FIELDS: tuple[tuple[str, str, int, int], ...] = (
    # field, label, minimum, maximum
    ("report_surge_reporters", "Report surge: distinct reporters", 2, 10_000),
    ("report_surge_minutes", "Report surge: within minutes", 1, 1440),
    ("join_surge_count", "Join surge: participants up by", 2, 100_000),
    ("join_surge_seconds", "Join surge: within seconds", 1, 3600),
    ("rejoin_count", "Banned rejoin: enforcements", 2, 1000),
    ("rejoin_minutes", "Banned rejoin: within minutes", 1, 1440),
    ("corrections_threshold", "Reconciler corrections per pass", 1, 100_000),
    ("claim_idle_minutes", "Release a claim after idle minutes", 1, 1440),
)


def alert_settings_update(*, actor: Any, values: dict[str, Any]) -> AlertSettings:
    """Set the thresholds (all fields at once); refuse the whole change on any bad value."""
    require(actor, SETTINGS_PERMISSION)
    cleaned: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name, label, low, high in SETTING_FIELDS:
        raw = str(values.get(name, "")).strip()
        try:
            number = int(raw)
        except ValueError:
            errors[name] = f"{label}: give a whole number."
            continue
        if not low <= number <= high:
            errors[name] = f"{label}: between {low} and {high}."
            continue
        cleaned[name] = number
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = alert_settings()
        locked = AlertSettings.objects.select_for_update().get(pk=current.pk)
        before = {name: getattr(locked, name) for name in cleaned}
        for name, number in cleaned.items():
            setattr(locked, name, number)
        locked.save()
        audit_record(
            actor=actor,
            action="alerts.settings",
            outcome=AuditOutcome.DONE,
            detail={
                "changed": {n: [before[n], cleaned[n]] for n in cleaned if before[n] != cleaned[n]}
            },
        )
    return locked


def ensure_permission(actor: Any) -> None:
    if not can(actor, CLAIM_PERMISSION):
        raise PermissionDenied("Your role can read the queue but not work on cases.")
