"""Live preview: observer tokens for the page's player, and evidence frames.

Thin views: parse, authorize, call ``monitoring.moderation.observers``, answer.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.access import Action
from accounts.decorators import staff_required
from monitoring import livekit, selectors
from monitoring.models import Evidence
from monitoring.moderation import observers


def _room_or_404(room_id: int):
    room = selectors.room_get(room_id=room_id)
    if room is None:
        raise Http404("This room is not in the console's mirror.")
    return room


@never_cache
@require_GET
@staff_required(Action.VIEW)
def watch_token(request: HttpRequest, room_id: int) -> HttpResponse:
    """``{url, token, identity, expires_at}``: a hidden, subscribe-only join token for
    this room. ``?renew=<identity>`` renews the caller's own earlier token."""
    room = _room_or_404(room_id)
    try:
        minted = observers.observer_token_for(
            actor=request.user, room=room, renew_identity=request.GET.get("renew", "")
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    except livekit.LiveKitError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse(minted.as_json())


@require_POST
@staff_required(Action.VIEW)
def evidence_upload(request: HttpRequest, room_id: int) -> HttpResponse:
    """Store the PNG frame in the body; it goes with the next action on this room."""
    room = _room_or_404(room_id)
    max_bytes = settings.ROOMWATCH_EVIDENCE_MAX_BYTES
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) == 0:
        return JsonResponse({"error": "No image was sent."}, status=400)
    if int(length) > max_bytes:
        return JsonResponse(
            {"error": f"The image is larger than {max_bytes // 1024} KiB."}, status=413
        )
    if request.content_type != "image/png":
        return JsonResponse({"error": "Send the frame as image/png."}, status=415)
    data = request.read(max_bytes + 1)
    try:
        stored = observers.evidence_store(
            actor=request.user,
            room=room,
            data=data,
            identity=request.GET.get("identity", ""),
            max_bytes=max_bytes,
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse(
        {
            "id": stored.evidence.pk,
            "message": "Frame captured: it will be attached to your next action on this room.",
        },
        status=201,
    )


@never_cache
@require_GET
@staff_required(Action.VIEW_AUDIT)
def evidence_file(request: HttpRequest, evidence_id: int) -> HttpResponse:
    """The stored frame, to staff who may read the audit log (never a public URL)."""
    evidence = get_object_or_404(Evidence, pk=evidence_id)
    try:
        handle = evidence.image.open("rb")
    except FileNotFoundError:
        raise Http404("The stored image is missing.") from None
    response = FileResponse(handle, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="evidence-{evidence.pk}.png"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
