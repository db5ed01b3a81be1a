"""Restrictions from the room page: the restrict dialog, "keep muted" from the mute
dialog, and lifting early with a reason (admins)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import Action, can, require
from accounts.decorators import staff_required
from monitoring.models import Participant, Restriction, RestrictionKind, Room
from monitoring.moderation import restrictions
from monitoring.moderation.actions import ActionInvalid, ActionResult, MuteScope
from monitoring.moderation.reasons import NO_REASON, NOT_A_PRESET, REASON_PRESETS, reason_combine
from monitoring.views.moderation import room_back_url

DURATION_CHOICES = [(k, label) for k, (label, _) in restrictions.DURATION_PRESETS.items()]
DEFAULT_DURATION = "10m"
# What the mute dialog's "keep muted" means for what was chosen to mute.
MUTE_HOLD_KINDS = {
    MuteScope.AUDIO: RestrictionKind.SILENCE,
    MuteScope.VIDEO: RestrictionKind.NO_VIDEO,
}


class RestrictionForm(forms.Form):
    identity = forms.CharField(
        max_length=restrictions.IDENTITY_MAX,
        error_messages={"required": "Say whose identity to restrict."},
    )
    kind = forms.ChoiceField(
        choices=RestrictionKind.choices,
        error_messages={
            "required": "Choose what to take away.",
            "invalid_choice": "Choose what to take away.",
        },
    )
    scope = forms.ChoiceField(
        choices=[(restrictions.SCOPE_ROOM, "This room"), (restrictions.SCOPE_GLOBAL, "Every room")]
    )
    duration = forms.ChoiceField(
        choices=DURATION_CHOICES,
        error_messages={
            "invalid_choice": "Choose how long: from 1 minute to 7 days, or until lifted."
        },
    )
    reason_preset = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(p, p) for p in REASON_PRESETS],
        error_messages={"invalid_choice": NOT_A_PRESET},
    )
    reason = forms.CharField(required=False, max_length=restrictions.REASON_MAX)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        preset, text = data.get("reason_preset") or "", data.get("reason") or ""
        if not preset and not text.strip() and "reason_preset" not in self.errors:
            self.add_error("reason", NO_REASON)
        data["full_reason"] = reason_combine(preset=preset, text=text)
        return data


class LiftForm(forms.Form):
    reason = forms.CharField(
        max_length=restrictions.REASON_MAX,
        error_messages={"required": "Give a reason for lifting the restriction."},
    )


def _render_dialog(
    request: HttpRequest, *, room: Room, form: RestrictionForm, error: str = "", status: int = 200
) -> HttpResponse:
    present = list(
        Participant.objects.filter(room=room, left_at__isnull=True)
        .order_by("identity")
        .values_list("identity", flat=True)[:200]
    )
    context = {
        "nav": "rooms",
        "room": room,
        "form": form,
        "error": error,
        "present": present,
        "kinds": RestrictionKind.choices,
        "durations": DURATION_CHOICES,
        "reason_presets": REASON_PRESETS,
        "can_restrict_global": can(request.user, Action.RESTRICT_GLOBAL),
        "next": room_back_url(request, room),
    }
    template = "monitoring/restriction_dialog.html"
    if request.htmx:
        template += "#restriction-dialog"
    return render(request, template, context, status=status)


@require_GET
@staff_required(Action.RESTRICT)
def restriction_form(request: HttpRequest, room_id: int) -> HttpResponse:
    """The restrict dialog: the identity given, this room, 10 minutes."""
    room = get_object_or_404(Room, pk=room_id)
    kind = request.GET.get("kind", "")
    form = RestrictionForm(
        initial={
            "identity": request.GET.get("identity", "")[: restrictions.IDENTITY_MAX],
            "kind": kind if kind in RestrictionKind.values else RestrictionKind.SILENCE,
            "scope": restrictions.SCOPE_ROOM,
            "duration": DEFAULT_DURATION,
        }
    )
    return _render_dialog(request, room=room, form=form)


def _outcome_lines(result: restrictions.RestrictionResult) -> list[str]:
    restriction = result.restriction
    what = restriction.get_kind_display()
    where = (
        "everywhere"
        if restriction.scope == restrictions.SCOPE_GLOBAL
        else f"in {restriction.room_name}"
    )
    until = (
        f"until {restriction.expires_at:%H:%M} UTC" if restriction.expires_at else "until lifted"
    )
    return [f"{restriction.identity}: {what} {where} {until}.", result.message]


@require_POST
@staff_required(Action.RESTRICT)
def restriction_create(request: HttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id)
    form = RestrictionForm(request.POST)
    if not form.is_valid():
        return _render_dialog(request, room=room, form=form, status=400)
    data = form.cleaned_data
    if data["scope"] == restrictions.SCOPE_GLOBAL:
        require(request.user, Action.RESTRICT_GLOBAL)
    try:
        result = restrictions.restriction_apply(
            actor=request.user,
            identity=data["identity"],
            kind=data["kind"],
            scope=data["scope"],
            room_name=room.name,
            reason=data["full_reason"],
            duration=data["duration"],
        )
    except ValidationError as exc:
        return _render_dialog(
            request, room=room, form=form, error=" ".join(exc.messages), status=400
        )
    lines = _outcome_lines(result)
    if not request.htmx:
        (messages.success if result.ok else messages.warning)(request, lines[0])
        messages.info(request, lines[1])
        return redirect(room_back_url(request, room))
    return render(
        request,
        "monitoring/restriction_dialog.html#restriction-result",
        {"room": room, "ok": result.ok, "lines": lines},
    )


@require_POST
@staff_required(Action.LIFT_RESTRICTION)
def restriction_lift(request: HttpRequest, restriction_id: int) -> HttpResponse:
    """Lift early with a reason; the outcome in place (htmx) or back on the room page."""
    restriction = get_object_or_404(Restriction, pk=restriction_id)
    room = Room.objects.filter(name=restriction.room_name).order_by("-created_at").first()
    back = room_back_url(request, room) if room is not None else reverse("monitoring:bans")
    form = LiftForm(request.POST)
    if not form.is_valid():
        return _lift_answer(request, ok=False, message=form.errors["reason"][0], status=400)
    try:
        result = restrictions.restriction_lift(
            actor=request.user, restriction=restriction, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        return _lift_answer(request, ok=False, message=" ".join(exc.messages), status=400)
    except restrictions.RestrictionNotActive as exc:
        return _lift_answer(request, ok=False, message=str(exc), status=409)
    message = f"Restriction #{restriction.pk} on {restriction.identity} lifted."
    if result.applications:
        message += " " + " ".join(a.message for a in result.applications)
    if not request.htmx:
        (messages.success if result.ok else messages.warning)(request, message)
        return redirect(back)
    return _lift_answer(request, ok=result.ok, message=message, status=200)


def _lift_answer(request: HttpRequest, *, ok: bool, message: str, status: int) -> HttpResponse:
    if request.htmx:
        return render(
            request,
            "monitoring/restriction_dialog.html#lift-result",
            {"ok": ok, "message": message},
            status=status,
        )
    return render(request, "monitoring/bad_request.html", {"message": message}, status=status)


# --- "Keep muted for ..." from the mute dialog --------------------------------------


def mute_hold(*, actor: Any, room: Room, data: Any, reason: str) -> ActionResult:
    """The mute dialog's second choice: a timed restriction instead of a one-off mute,
    so the participant cannot unmute (their microphone, or camera and screen share,
    is taken away until it ends)."""
    target = str(data.get("target", "") or MuteScope.AUDIO)
    if target.startswith("track:"):
        sid = target.removeprefix("track:")
        participant = Participant.objects.filter(
            room=room, identity=str(data.get("identity", "")), left_at__isnull=True
        ).first()
        track = next(
            (t for t in (participant.tracks if participant else []) if t.get("sid") == sid), None
        )
        target = MuteScope.VIDEO if track and track.get("type") == "VIDEO" else MuteScope.AUDIO
    kind = MUTE_HOLD_KINDS.get(target)
    if kind is None:
        raise ActionInvalid("Choose what to keep muted: audio or video.")
    try:
        result = restrictions.restriction_apply(
            actor=actor,
            identity=str(data.get("identity", "")),
            kind=kind,
            scope=restrictions.SCOPE_ROOM,
            room_name=room.name,
            reason=reason,
            duration=str(data.get("duration", "") or DEFAULT_DURATION),
        )
    except ValidationError as exc:
        raise ActionInvalid(" ".join(exc.messages)) from exc
    lines = _outcome_lines(result)
    return ActionResult(
        ok=result.ok,
        status="done" if result.ok else "failed",
        message=" ".join(lines),
        action="restriction.apply",
        code="" if result.ok else "not_found",
    )
