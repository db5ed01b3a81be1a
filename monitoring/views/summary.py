"""The summary figures fragment, refetched by the room list and the wall after pushes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import Action
from accounts.decorators import staff_required
from monitoring.figures import summary_figures_get


@require_GET
@staff_required(Action.VIEW)
def summary_figures(request: HttpRequest) -> HttpResponse:
    return render(request, "monitoring/_summary_figures.html", {"figures": summary_figures_get()})
