"""The bans page: active and past bans, search and filters, create, lift, history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import Action, can
from accounts.decorators import staff_required
from monitoring.models import Ban, BanScope, Participant, Room
from monitoring.moderation import bans, selectors
from monitoring.moderation.reasons import NO_REASON, NOT_A_PRESET, REASON_PRESETS, reason_combine
from monitoring.moderation.selectors import BanState
from monitoring.views.moderation import room_back_url

PAGE_SIZE = 50
SCOPE_CHOICES = [("", "Any scope"), (BanScope.ROOM, "Room"), (BanScope.GLOBAL, "Global")]
STATE_CHOICES = [
    (BanState.ACTIVE, "Active"),
    (BanState.EXPIRED, "Expired"),
    (BanState.LIFTED, "Lifted"),
    (BanState.ALL, "All"),
]
EXPIRY_CHOICES = [(k, label) for k, (label, _) in bans.EXPIRY_PRESETS.items()] + [
    ("date", "Until a date…")
]


class BanFilterForm(forms.Form):
    identity = forms.CharField(required=False, max_length=256)
    scope = forms.ChoiceField(required=False, choices=SCOPE_CHOICES)
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES)


class _BanForm(forms.Form):
    """What both ban forms share: the ban ends after an ``expiry`` preset, or, when that
    is "date", at ``expires_on``."""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("expiry") == "date" and not data.get("expires_on"):
            self.add_error("expires_on", "Pick the date and time the ban ends.")
        return data

    def expires_at(self) -> Any:
        if self.cleaned_data["expiry"] == "date":
            return self.cleaned_data["expires_on"]
        return bans.expiry_from_preset(preset=self.cleaned_data["expiry"])


class BanCreateForm(_BanForm):
    identity = forms.CharField(max_length=bans.IDENTITY_MAX)
    scope = forms.ChoiceField(choices=[(BanScope.ROOM, "This room"), (BanScope.GLOBAL, "Global")])
    room_name = forms.CharField(required=False, max_length=bans.ROOM_MAX, label="Room")
    reason_preset = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(p, p) for p in REASON_PRESETS],
        error_messages={"invalid_choice": NOT_A_PRESET},
    )
    reason = forms.CharField(required=False, max_length=bans.REASON_MAX)
    expiry = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="24h")
    expires_on = forms.DateTimeField(
        required=False,
        label="Expires on (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("scope") == BanScope.ROOM and not (data.get("room_name") or "").strip():
            self.add_error("room_name", "Name the room for a room ban.")
        _reason_clean(self, data)
        return data


def _reason_clean(form: forms.Form, data: dict[str, Any]) -> None:
    """A preset alone, a preset with detail, or free text alone: ``full_reason``."""
    preset, text = data.get("reason_preset") or "", data.get("reason") or ""
    if not preset and not text.strip() and "reason_preset" not in form.errors:
        form.add_error("reason", NO_REASON)
    data["full_reason"] = reason_combine(preset=preset, text=text)


class BanLiftForm(forms.Form):
    reason = forms.CharField(
        max_length=bans.REASON_MAX,
        error_messages={"required": "Give a reason for lifting the ban."},
    )


def _page(
    request: HttpRequest,
    *,
    create_form: BanCreateForm | None = None,
    status: int = 200,
    lift_errors: dict[int, str] | None = None,
) -> HttpResponse:
    filters = BanFilterForm(request.GET or None)
    cleaned = filters.cleaned_data if filters.is_valid() else {}
    state = cleaned.get("state") or BanState.ACTIVE
    now = timezone.now()
    qs = selectors.bans_filter(
        identity=cleaned.get("identity", ""), scope=cleaned.get("scope", ""), state=state, now=now
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    if create_form is None:
        initial = {
            "identity": request.GET.get("ban_identity", ""),
            "room_name": request.GET.get("ban_room", ""),
        }
        create_form = BanCreateForm(initial={**initial, "expiry": "24h"})
    context = {
        "nav": "bans",
        "filters": filters,
        "state": state,
        "page": page,
        "rows": [(b, selectors.ban_state(ban=b, now=now)) for b in page.object_list],
        "create_form": create_form,
        "can_ban_room": can(request.user, Action.BAN_ROOM),
        "can_ban_global": can(request.user, Action.BAN_GLOBAL),
        "can_unban": can(request.user, Action.UNBAN),
        "reason_presets": REASON_PRESETS,
        "room_names": selectors.ban_room_names_list(),
        "lift_errors": lift_errors or {},
        "querystring": _querystring(request),
    }
    template = "monitoring/bans.html#ban-table" if request.htmx else "monitoring/bans.html"
    return render(request, template, context, status=status)


def _querystring(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@require_GET
@staff_required(Action.VIEW_BANS)
def ban_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _ban_summary(result: bans.BanResult) -> tuple[bool, list[str]]:
    """Whether the ban took full effect, and what to tell the moderator (first line first)."""
    ban = result.ban
    where = "everywhere" if ban.scope == BanScope.GLOBAL else f"in {ban.room_name}"
    summary = f"{ban.identity} is banned {where}."
    if result.removed_from:
        summary += f" Removed from {', '.join(result.removed_from)}."
    else:
        summary += " They were not in any room in scope."
    lines = [summary]
    for failure in result.failures:
        place = failure.room_name or "the room list"
        lines.append(
            f"LiveKit could not enforce the ban in {place}: {failure.error}. "
            "The ban is recorded and will be enforced when they are seen again."
        )
    return not result.failures, lines


@require_POST
@staff_required(Action.BAN_ROOM)
def ban_create(request: HttpRequest) -> HttpResponse:
    form = BanCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, create_form=form, status=400)
    data = form.cleaned_data
    try:
        result = bans.ban_create(
            actor=request.user,
            identity=data["identity"],
            scope=data["scope"],
            room_name=data["room_name"],
            reason=data["full_reason"],
            expires_at=form.expires_at(),
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _page(request, create_form=form, status=400)
    except bans.BanConflict as exc:
        form.add_error(None, str(exc))
        return _page(request, create_form=form, status=409)
    ok, lines = _ban_summary(result)
    (messages.success if ok else messages.warning)(request, lines[0])
    for line in lines[1:]:
        messages.error(request, line)
    return redirect(reverse("monitoring:bans"))


@require_POST
@staff_required(Action.UNBAN)
def ban_lift(request: HttpRequest, ban_id: int) -> HttpResponse:
    ban = get_object_or_404(Ban, pk=ban_id)
    form = BanLiftForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, lift_errors={ban.pk: form.errors["reason"][0]})
    try:
        bans.ban_lift(actor=request.user, ban=ban, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        return _page(request, status=400, lift_errors={ban.pk: " ".join(exc.messages)})
    except bans.BanNotActive as exc:
        return _page(request, status=409, lift_errors={ban.pk: str(exc)})
    messages.success(request, f"Ban #{ban.pk} on {ban.identity} lifted.")
    return redirect(reverse("monitoring:bans"))


@require_GET
@staff_required(Action.VIEW_BANS)
def ban_history(request: HttpRequest) -> HttpResponse:
    identity = request.GET.get("identity", "").strip()
    if not identity or len(identity) > bans.IDENTITY_MAX:
        return render(
            request,
            "monitoring/bans_history.html",
            {
                "nav": "bans",
                "identity": identity,
                "error": "Name an identity (up to 256 characters) to see its ban history.",
            },
            status=400,
        )
    now = timezone.now()
    history = selectors.bans_filter(identity=identity, exact_identity=True, now=now)
    events = selectors.ban_audit_entries_list(identity=identity)
    return render(
        request,
        "monitoring/bans_history.html",
        {
            "nav": "bans",
            "identity": identity,
            "rows": [(b, selectors.ban_state(ban=b, now=now)) for b in history],
            "events": events,
        },
    )


# --- The ban dialog, opened from a room's row, tile, page or participant ------------


class RoomBanForm(_BanForm):
    """The dialog's form: the room is the one it was opened from; a preset and/or text."""

    identity = forms.CharField(
        max_length=bans.IDENTITY_MAX,
        error_messages={"required": "Say whose identity to ban."},
    )
    scope = forms.ChoiceField(choices=[(BanScope.ROOM, "This room"), (BanScope.GLOBAL, "Global")])
    reason_preset = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(p, p) for p in REASON_PRESETS],
        error_messages={"invalid_choice": NOT_A_PRESET},
    )
    reason = forms.CharField(required=False, max_length=bans.REASON_MAX)
    expiry = forms.ChoiceField(choices=EXPIRY_CHOICES)
    expires_on = forms.DateTimeField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        _reason_clean(self, data)
        return data


def _render_ban_dialog(
    request: HttpRequest, *, room: Room, form: RoomBanForm, error: str = "", status: int = 200
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
        "reason_presets": REASON_PRESETS,
        "can_ban_global": can(request.user, Action.BAN_GLOBAL),
        "next": room_back_url(request, room),
    }
    template = "monitoring/ban_dialog.html"
    if request.htmx:
        template += "#ban-dialog"
    return render(request, template, context, status=status)


@require_GET
@staff_required(Action.BAN_ROOM)
def room_ban_form(request: HttpRequest, room_id: int) -> HttpResponse:
    """The ban dialog for one room: the identity given (or the host), room scope, 24 h."""
    room = get_object_or_404(Room, pk=room_id)
    identity = request.GET.get("identity", "")[: bans.IDENTITY_MAX] or room.host_identity or ""
    form = RoomBanForm(initial={"identity": identity, "scope": BanScope.ROOM, "expiry": "24h"})
    return _render_ban_dialog(request, room=room, form=form)


@require_POST
@staff_required(Action.BAN_ROOM)
def room_ban_create(request: HttpRequest, room_id: int) -> HttpResponse:
    """Ban from the dialog; htmx gets the outcome in place of the dialog."""
    room = get_object_or_404(Room, pk=room_id)
    form = RoomBanForm(request.POST)
    if not form.is_valid():
        return _render_ban_dialog(request, room=room, form=form, status=400)
    data = form.cleaned_data
    try:
        result = bans.ban_create(
            actor=request.user,
            identity=data["identity"],
            scope=data["scope"],
            room_name=room.name,
            reason=data["full_reason"],
            expires_at=form.expires_at(),
        )
    except ValidationError as exc:
        return _render_ban_dialog(
            request, room=room, form=form, error=" ".join(exc.messages), status=400
        )
    except bans.BanConflict as exc:
        return _render_ban_dialog(request, room=room, form=form, error=str(exc), status=409)
    ok, lines = _ban_summary(result)
    if not request.htmx:
        (messages.success if ok else messages.warning)(request, lines[0])
        for line in lines[1:]:
            messages.error(request, line)
        return redirect(room_back_url(request, room))
    return render(
        request,
        "monitoring/ban_dialog.html#ban-result",
        {"room": room, "ban": result.ban, "ok": ok, "lines": lines},
    )
