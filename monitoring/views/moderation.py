"""Moderator actions over htmx: a form (reason presets + free text), then one POST.

``GET .../actions/<action>/form`` renders the action's form: as a dialog appended to
the page for htmx (outside the live fragments, so a push cannot wipe a half-typed
reason), or as a page of its own without JavaScript. ``POST .../actions/<action>``
runs the service and answers with the result in place (htmx) or redirects back with
a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.access import Action, require
from accounts.decorators import staff_required
from monitoring.models import Participant, Room
from monitoring.moderation import actions, reasons
from monitoring.moderation.actions import ActionInvalid, ActionResult, MuteScope


@dataclass(frozen=True)
class ActionSpec:
    title: str
    button: str
    permission: Action
    run: Callable[[Any, Room, Any, str, str], ActionResult]
    per_participant: bool = True
    # Shown in the dialog (the one confirmation) before anything irreversible.
    confirm: str = ""
    asks_message: bool = False
    asks_scope: bool = False


def _run_end(actor: Any, room: Room, data: Any, reason: str, token: str) -> ActionResult:
    return actions.room_end(actor=actor, room=room, reason=reason, token=token)


def _run_warn_room(actor: Any, room: Room, data: Any, reason: str, token: str) -> ActionResult:
    return actions.room_warn(
        actor=actor, room=room, message=data.get("message", ""), reason=reason, token=token
    )


def _run_kick(actor: Any, room: Room, data: Any, reason: str, token: str) -> ActionResult:
    return actions.participant_kick(
        actor=actor, room=room, identity=data.get("identity", ""), reason=reason, token=token
    )


def _mute_runner(muted: bool) -> Callable[[Any, Room, Any, str, str], ActionResult]:
    def run(actor: Any, room: Room, data: Any, reason: str, token: str) -> ActionResult:
        if muted and data.get("mode") == "hold":
            # "Keep muted for ...": a timed restriction they cannot undo, not a mute.
            from monitoring.views.restrictions import mute_hold

            return mute_hold(actor=actor, room=room, data=data, reason=reason)
        # One radio group "target": "track:<sid>", "audio" or "video".
        target = str(data.get("target", ""))
        scope, track = data.get("scope", MuteScope.TRACK), data.get("track", "")
        if target.startswith("track:"):
            scope, track = MuteScope.TRACK, target.removeprefix("track:")
        elif target:
            scope, track = target, ""
        return actions.participant_mute(
            actor=actor,
            room=room,
            identity=data.get("identity", ""),
            scope=scope,
            track_sid=track,
            muted=muted,
            reason=reason,
            token=token,
        )

    return run


def _publishing_runner(can_publish: bool) -> Callable[[Any, Room, Any, str, str], ActionResult]:
    def run(actor: Any, room: Room, data: Any, reason: str, token: str) -> ActionResult:
        return actions.participant_set_publishing(
            actor=actor,
            room=room,
            identity=data.get("identity", ""),
            can_publish=can_publish,
            reason=reason,
            token=token,
        )

    return run


def _run_warn(actor: Any, room: Room, data: Any, reason: str, token: str) -> ActionResult:
    return actions.participant_warn(
        actor=actor,
        room=room,
        identity=data.get("identity", ""),
        message=data.get("message", ""),
        reason=reason,
        token=token,
    )


ACTIONS: dict[str, ActionSpec] = {
    "end": ActionSpec(
        "End stream",
        "End stream",
        Action.END_STREAM,
        _run_end,
        per_participant=False,
        confirm="End this stream? Everyone is disconnected and recordings stop.",
    ),
    "warn-room": ActionSpec(
        "Warn the whole room",
        "Send warning",
        Action.WARN,
        _run_warn_room,
        per_participant=False,
        asks_message=True,
    ),
    "kick": ActionSpec(
        "Kick",
        "Kick",
        Action.KICK,
        _run_kick,
        confirm="Remove this participant from the room?",
    ),
    "mute": ActionSpec("Mute", "Mute", Action.MUTE, _mute_runner(True), asks_scope=True),
    "unmute": ActionSpec("Unmute", "Unmute", Action.MUTE, _mute_runner(False), asks_scope=True),
    "revoke": ActionSpec(
        "Revoke publishing",
        "Revoke publishing",
        Action.REVOKE_PUBLISHING,
        _publishing_runner(False),
        confirm="Stop this participant publishing? Their tracks are unpublished.",
    ),
    "restore": ActionSpec(
        "Allow publishing",
        "Allow publishing",
        Action.REVOKE_PUBLISHING,
        _publishing_runner(True),
    ),
    "warn": ActionSpec("Warn", "Send warning", Action.WARN, _run_warn, asks_message=True),
}


def _spec(action: str) -> ActionSpec:
    spec = ACTIONS.get(action)
    if spec is None:
        raise Http404("No such moderator action.")
    return spec


def room_back_url(request: HttpRequest, room: Room) -> str:
    """Where a dialog opened on a room's row, tile, page or participant goes back to:
    the ``next`` it was given when that is one of this site's pages, else the room's page."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("monitoring:room", args=[room.pk])


def _reason(data: Any) -> str:
    preset = str(data.get("reason_preset", "")).strip()
    if preset and preset not in reasons.REASON_PRESETS:
        raise ActionInvalid(reasons.NOT_A_PRESET)
    return reasons.reason_combine(preset=preset, text=str(data.get("reason", "")))


def _form_context(
    request: HttpRequest,
    *,
    room: Room,
    action: str,
    spec: ActionSpec,
    data: Any,
    error: str = "",
) -> dict[str, Any]:
    identity = str(data.get("identity", ""))[:256]
    participant = (
        Participant.objects.filter(room=room, identity=identity, left_at__isnull=True).first()
        if identity
        else None
    )
    tracks = (
        list(participant.tracks) if participant and isinstance(participant.tracks, list) else []
    )
    return {
        "room": room,
        "action": action,
        "spec": spec,
        "identity": identity,
        "participant": participant,
        "tracks": tracks,
        "track": str(data.get("track", ""))[:64],
        "scope": str(data.get("scope", "") or MuteScope.TRACK),
        "presets": reasons.REASON_PRESETS,
        "reason_preset": str(data.get("reason_preset", "")),
        "reason_text": str(data.get("reason", "")),
        "message_text": str(data.get("message", "")),
        "reason_max": actions.REASON_MAX,
        "message_max": actions.WARNING_MAX,
        "token": actions.new_token(),
        "next": room_back_url(request, room),
        "error": error,
        "remote_unmute": actions.remote_unmute_allowed(),
        "nav": "rooms",
    }


@require_GET
@staff_required(Action.VIEW)
def action_form(request: HttpRequest, room_id: int, action: str) -> HttpResponse:
    spec = _spec(action)
    require(request.user, spec.permission)
    room = get_object_or_404(Room, pk=room_id)
    context = _form_context(request, room=room, action=action, spec=spec, data=request.GET)
    if spec.per_participant and not context["identity"]:
        context["error"] = "Say which participant this is for."
        return _render_form(request, context, status=400)
    return _render_form(request, context)


def _render_form(
    request: HttpRequest, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    template = "monitoring/action_form.html"
    if getattr(request, "htmx", False):
        template += "#action-dialog"
    return render(request, template, context, status=status)


def _status_for(result: ActionResult) -> int:
    if result.ok:
        return 200
    if result.status == "busy":
        return 409
    if result.status == "repeated":
        return 200
    if result.code == "not_found":
        return 404  # the room or participant is gone
    if result.code == "deadline_exceeded":
        return 504
    if result.code in ("failed_precondition", "invalid_argument"):
        return 409  # LiveKit refused given the room's state
    return 502  # LiveKit down or failing


@require_POST
@staff_required(Action.VIEW)
def action_perform(request: HttpRequest, room_id: int, action: str) -> HttpResponse:
    spec = _spec(action)
    require(request.user, spec.permission)
    room = get_object_or_404(Room, pk=room_id)
    data = request.POST
    try:
        result = spec.run(request.user, room, data, _reason(data), data.get("token", ""))
    except ActionInvalid as exc:
        if getattr(request, "htmx", False):
            context = _form_context(
                request, room=room, action=action, spec=spec, data=data, error=str(exc)
            )
            return _render_form(request, context, status=400)
        messages.error(request, str(exc))
        return redirect(room_back_url(request, room))
    status = _status_for(result)
    if getattr(request, "htmx", False):
        return render(
            request,
            "monitoring/_action_result.html",
            {"result": result, "room": room, "spec": spec},
            status=status,
        )
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect(room_back_url(request, room))
