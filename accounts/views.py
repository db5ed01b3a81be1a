from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import services
from accounts.access import Action
from accounts.decorators import staff_required
from accounts.forms import StaffCreateForm, StaffLoginForm, StaffUpdateForm
from accounts.roles import role_of


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = StaffLoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@staff_required(Action.MANAGE_STAFF)
def staff_list(request: HttpRequest) -> HttpResponse:
    users = (
        get_user_model()
        .objects.filter(is_staff=True)
        .prefetch_related("groups")
        .order_by("username")
    )
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.staff_create(actor=request.user, **form.cleaned_data)
        messages.success(request, f"Staff account {user.username} created.")
        return redirect("accounts:staff")
    rows = [(u, role_of(u)) for u in users]
    return render(
        request,
        "accounts/staff.html",
        {"rows": rows, "form": form, "nav": "staff"},
        status=400 if form.errors else 200,
    )


@require_POST
@staff_required(Action.MANAGE_STAFF)
def staff_update(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id, is_staff=True)
    form = StaffUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("accounts:staff")
    try:
        updated = services.staff_update(actor=request.user, user=user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        state = "active" if updated.is_active else "deactivated"
        messages.success(request, f"{updated.username}: {role_of(updated)}, {state}.")
    return redirect("accounts:staff")
