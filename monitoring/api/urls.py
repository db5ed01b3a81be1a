from __future__ import annotations

from django.urls import path, re_path

from monitoring.api import access, reports, views

app_name = "api"

urlpatterns = [
    path("bans/check", views.ban_check, name="ban-check"),
    path("bans", views.ban_collection, name="bans"),
    path("bans/<int:ban_id>", views.ban_detail, name="ban"),
    path("bans/<int:ban_id>/revoke", views.ban_revoke, name="ban-revoke"),
    path("access/check", access.access_check, name="access-check"),
    path("reports", reports.report_create, name="reports"),
    # Anything else under /api/v1/ answers in JSON too, not with the HTML 404 page.
    re_path(r"^.*$", views.not_found, name="not-found"),
]
