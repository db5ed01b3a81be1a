"""The queue of cases: the list, one case, claim / release / act / dismiss, the alert
thresholds, response figures as CSV, and the staff report dialog.

Forms post with htmx (their HTML is also pushed, rendered without a request, so the
CSRF token comes from ``<body hx-headers>``) and work as plain forms too. A success
sends the browser to the resulting page (``HX-Redirect`` or a redirect) with a
message; a refusal answers its status (400, 403, 409) with the reason in words.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Action
from accounts.decorators import staff_required
from monitoring.models import Case, Room
from monitoring.moderation import actions, reasons
from monitoring.moderation.actions import ActionInvalid
from monitoring.queue import categories, selectors, services
from monitoring.queue.services import CaseConflict


def _done(request: HttpRequest, url: str, message: str, *, ok: bool = True) -> HttpResponse:
    (messages.success if ok else messages.error)(request, message)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    if getattr(request, "htmx", False):
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return render(
        request, "monitoring/bad_request.html", {"message": message, "nav": "queue"}, status=status
    )


def _case(case_id: int) -> Case:
    return get_object_or_404(Case.objects.select_related("room", "claimed_by"), pk=case_id)


def _case_url(case: Case) -> str:
    return reverse("monitoring:queue-case", args=[case.pk])


@require_GET
@staff_required(Action.VIEW)
def queue_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"nav": "queue", "queue": selectors.queue_view()}
    template = "monitoring/queue.html"
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        return render(request, template + "#queue-list", context)
    context["figures"] = selectors.response_figures()
    return render(request, template, context)


@require_GET
@staff_required(Action.VIEW)
def case_page(request: HttpRequest, case_id: int) -> HttpResponse:
    detail = selectors.case_detail(case_id=case_id)
    if detail is None:
        raise Http404("No such case.")
    context = {
        "nav": "queue",
        "detail": detail,
        "case": detail.case,
        "claim_live": detail.claim_live,
    }
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        return render(request, "monitoring/queue_case.html#case-status", context)
    context.update(
        {
            "case_actions": services.CASE_ACTIONS,
            "presets": reasons.REASON_PRESETS,
            "reason_max": actions.REASON_MAX,
            "message_max": actions.WARNING_MAX,
            "token": actions.new_token(),
        }
    )
    return render(request, "monitoring/queue_case.html", context)


def _back(request: HttpRequest, case: Case) -> str:
    return reverse("monitoring:queue") if request.POST.get("from") == "queue" else _case_url(case)


@require_POST
@staff_required(Action.VIEW)
def case_claim(request: HttpRequest, case_id: int) -> HttpResponse:
    services.ensure_permission(request.user)
    case = _case(case_id)
    try:
        services.case_claim(actor=request.user, case=case)
    except CaseConflict as exc:
        return _refused(request, str(exc), status=409)
    return _done(request, _back(request, case), f"You have claimed case #{case.pk}.")


@require_POST
@staff_required(Action.VIEW)
def case_release(request: HttpRequest, case_id: int) -> HttpResponse:
    services.ensure_permission(request.user)
    case = _case(case_id)
    try:
        services.case_release(actor=request.user, case=case)
    except CaseConflict as exc:
        return _refused(request, str(exc), status=409)
    return _done(request, _back(request, case), f"Case #{case.pk} is back in the queue.")


@require_POST
@staff_required(Action.VIEW)
def case_dismiss(request: HttpRequest, case_id: int) -> HttpResponse:
    services.ensure_permission(request.user)
    case = _case(case_id)
    try:
        services.case_dismiss(actor=request.user, case=case, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        return _refused(request, " ".join(exc.messages), status=400)
    except CaseConflict as exc:
        return _refused(request, str(exc), status=409)
    return _done(request, _case_url(case), f"Case #{case.pk} dismissed.")


@require_POST
@staff_required(Action.VIEW)
def case_act(request: HttpRequest, case_id: int) -> HttpResponse:
    services.ensure_permission(request.user)
    case = _case(case_id)
    data = request.POST
    preset = str(data.get("reason_preset", "")).strip()
    if preset and preset not in reasons.REASON_PRESETS:
        return _refused(request, reasons.NOT_A_PRESET, status=400)
    reason = reasons.reason_combine(preset=preset, text=str(data.get("reason", "")))
    try:
        outcome = services.case_act(
            actor=request.user,
            case=case,
            action=str(data.get("action", "")),
            reason=reason,
            message=str(data.get("message", "")),
            token=str(data.get("token", "")),
        )
    except ActionInvalid as exc:
        return _refused(request, str(exc), status=400)
    except CaseConflict as exc:
        return _refused(request, str(exc), status=409)
    result = outcome.result
    if outcome.resolved:
        return _done(request, _case_url(case), f"{result.message} Case #{case.pk} resolved.")
    if result.status == "busy":
        return _refused(request, result.message, status=409)
    return _done(request, _case_url(case), result.message, ok=False)


@require_http_methods(["GET", "POST"])
@staff_required(services.SETTINGS_PERMISSION)
def alert_settings(request: HttpRequest) -> HttpResponse:
    current = services.alert_settings()
    errors: dict[str, list[str]] = {}
    values = {name: getattr(current, name) for name, *_ in services.SETTING_FIELDS}
    if request.method == "POST":
        try:
            services.alert_settings_update(actor=request.user, values=request.POST)
        except ValidationError as exc:
            errors = exc.message_dict
            values = {name: request.POST.get(name, "") for name, *_ in services.SETTING_FIELDS}
        else:
            messages.success(request, "Alert thresholds saved.")
            return redirect("monitoring:queue-alerts")
    fields = [
        {
            "name": name,
            "label": label,
            "min": low,
            "max": high,
            "value": values[name],
            "errors": errors.get(name, []),
        }
        for name, label, low, high in services.SETTING_FIELDS
    ]
    return render(
        request,
        "monitoring/queue_alerts.html",
        {"nav": "queue", "fields": fields},
        status=400 if errors else 200,
    )


@require_GET
@staff_required(Action.VIEW)
def figures_export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(selectors.figures_csv(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="queue-figures-{stamp}.csv"'
    return response


def _report_context(request: HttpRequest, room: Room, data: Any, error: str = "") -> dict[str, Any]:
    return {
        "nav": "rooms",
        "room": room,
        "identity": str(data.get("identity", ""))[:256],
        "category": str(data.get("category", "")),
        "text": str(data.get("text", "")),
        "choices": [(slug, categories.label(slug)) for slug in categories.REPORTABLE],
        "text_max": services.TEXT_MAX,
        "next": reverse("monitoring:room", args=[room.pk]),
        "error": error,
    }


@require_GET
@staff_required(Action.VIEW)
def report_form(request: HttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id)
    template = "monitoring/queue_report_dialog.html"
    if getattr(request, "htmx", False):
        template += "#report-dialog"
    return render(request, template, _report_context(request, room, request.GET))


@require_POST
@staff_required(Action.VIEW)
def report_create(request: HttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id)
    data = request.POST
    category = str(data.get("category", ""))
    if category not in categories.REPORTABLE:
        error = "Choose a category."
    else:
        try:
            intake = services.report_file(
                actor=request.user,
                room=room,
                identity=str(data.get("identity", "")).strip(),
                category=category,
                text=str(data.get("text", "")),
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            return _done(
                request,
                _case_url(intake.case),
                f"Report filed: it is in case #{intake.case.pk} on the queue.",
            )
    template = "monitoring/queue_report_dialog.html"
    if getattr(request, "htmx", False):
        template += "#report-dialog"
    return render(request, template, _report_context(request, room, data, error), status=400)
