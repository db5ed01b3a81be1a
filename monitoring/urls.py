from django.urls import include, path

from monitoring import webhooks
from monitoring.views import (
    api_keys,
    audit,
    bans,
    health,
    moderation,
    preview,
    queue,
    rooms,
    summary,
)
from monitoring.views import restrictions as restriction_views

app_name = "monitoring"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("livekit/webhook", webhooks.livekit_webhook, name="livekit-webhook"),
    path("", rooms.room_list, name="rooms"),
    path("rooms/<int:room_id>/", rooms.room_detail, name="room"),
    path(
        "rooms/<int:room_id>/actions/<slug:action>/form",
        moderation.action_form,
        name="action-form",
    ),
    path("rooms/<int:room_id>/actions/<slug:action>", moderation.action_perform, name="action"),
    path("rooms/<int:room_id>/watch-token/", preview.watch_token, name="watch-token"),
    path("rooms/<int:room_id>/evidence", preview.evidence_upload, name="evidence-upload"),
    path("evidence/<int:evidence_id>.png", preview.evidence_file, name="evidence"),
    path("rooms/<int:room_id>/ban/form", bans.room_ban_form, name="room-ban-form"),
    path("rooms/<int:room_id>/ban", bans.room_ban_create, name="room-ban"),
    path(
        "rooms/<int:room_id>/restrict/form",
        restriction_views.restriction_form,
        name="restriction-form",
    ),
    path(
        "rooms/<int:room_id>/restrict",
        restriction_views.restriction_create,
        name="restriction-create",
    ),
    path(
        "restrictions/<int:restriction_id>/lift",
        restriction_views.restriction_lift,
        name="restriction-lift",
    ),
    path("audit/", audit.audit_list, name="audit"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
    path("wall/", rooms.wall, name="wall"),
    path("summary/", summary.summary_figures, name="summary"),
    path("wall/<int:room_id>/pin", rooms.wall_pin, name="wall_pin"),
    path("bans/", bans.ban_list, name="bans"),
    path("bans/new", bans.ban_create, name="ban-create"),
    path("bans/<int:ban_id>/lift", bans.ban_lift, name="ban-lift"),
    path("bans/history", bans.ban_history, name="ban-history"),
    path("api-keys/", api_keys.api_key_list, name="api-keys"),
    path("api-keys/<int:key_id>/revoke", api_keys.api_key_revoke_view, name="api-key-revoke"),
    path("queue/", queue.queue_page, name="queue"),
    path("queue/figures.csv", queue.figures_export, name="queue-figures"),
    path("queue/alerts/", queue.alert_settings, name="queue-alerts"),
    path("queue/cases/<int:case_id>/", queue.case_page, name="queue-case"),
    path("queue/cases/<int:case_id>/claim", queue.case_claim, name="queue-claim"),
    path("queue/cases/<int:case_id>/release", queue.case_release, name="queue-release"),
    path("queue/cases/<int:case_id>/act", queue.case_act, name="queue-act"),
    path("queue/cases/<int:case_id>/dismiss", queue.case_dismiss, name="queue-dismiss"),
    path("rooms/<int:room_id>/report/form", queue.report_form, name="room-report-form"),
    path("rooms/<int:room_id>/report", queue.report_create, name="room-report"),
    path("api/v1/", include("monitoring.api.urls")),
]
