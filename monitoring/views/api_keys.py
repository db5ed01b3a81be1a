"""Admin page for the ban API's keys: create (the key is shown once) and revoke.

Creating a key answers with a redirect (POST-redirect-GET): the new secret waits in
the session for the one page load that follows and is removed as it is shown, so a
reload neither creates a second key nor shows the secret again.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import Action
from accounts.decorators import staff_required
from monitoring.models import ApiKey
from monitoring.moderation.api_keys import api_key_create, api_key_revoke

# Session key holding a just-created secret until the next page load shows it.
NEW_KEY_SESSION_KEY = "monitoring.api_keys.new_key"


def _page(
    request: HttpRequest, *, new_key: str = "", error: str = "", name: str = "", status: int = 200
) -> HttpResponse:
    response = render(
        request,
        "monitoring/api_keys.html",
        {
            "nav": "api_keys",
            "keys": ApiKey.objects.select_related("created_by").order_by(
                "revoked_at", "-created_at"
            ),
            "new_key": new_key,
            "error": error,
            "name": name,
        },
        status=status,
    )
    if new_key:
        # The page holding the secret must not linger in caches or history.
        response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@staff_required(Action.MANAGE_API_KEYS)
def api_key_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, new_key=request.session.pop(NEW_KEY_SESSION_KEY, ""))
    name = request.POST.get("name", "")
    try:
        created = api_key_create(actor=request.user, name=name)
    except ValidationError as exc:
        return _page(request, error=" ".join(exc.messages), name=name, status=400)
    request.session[NEW_KEY_SESSION_KEY] = created.plaintext
    return redirect("monitoring:api-keys")


@require_POST
@staff_required(Action.MANAGE_API_KEYS)
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, pk=key_id)
    try:
        api_key_revoke(actor=request.user, api_key=api_key)
    except ValidationError as exc:
        return _page(request, error=" ".join(exc.messages), status=409)
    messages.success(request, f"The key {api_key.name} is revoked; requests using it now get 401.")
    return redirect("monitoring:api-keys")
