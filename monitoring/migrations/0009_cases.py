# Viewer reports, cases and alert rules.
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0008_restrictions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("report_surge_reporters", models.PositiveIntegerField(default=5)),
                ("report_surge_minutes", models.PositiveIntegerField(default=10)),
                ("join_surge_count", models.PositiveIntegerField(default=30)),
                ("join_surge_seconds", models.PositiveIntegerField(default=10)),
                ("rejoin_count", models.PositiveIntegerField(default=3)),
                ("rejoin_minutes", models.PositiveIntegerField(default=10)),
                ("corrections_threshold", models.PositiveIntegerField(default=20)),
                ("claim_idle_minutes", models.PositiveIntegerField(default=15)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name_plural": "alert settings",
            },
        ),
        migrations.CreateModel(
            name="Case",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("room_name", models.CharField(blank=True, default="", max_length=256)),
                ("identity", models.CharField(blank=True, default="", max_length=256)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("open", "open"),
                            ("resolved", "resolved"),
                            ("dismissed", "dismissed"),
                        ],
                        default="open",
                        max_length=10,
                    ),
                ),
                ("open_key", models.CharField(blank=True, max_length=600, null=True, unique=True)),
                ("opened_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("first_report_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "last_report_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                ("report_count", models.PositiveIntegerField(default=0)),
                ("reporter_count", models.PositiveIntegerField(default=0)),
                ("categories", models.JSONField(blank=True, default=list)),
                ("severity", models.PositiveSmallIntegerField(default=1)),
                ("alerts", models.JSONField(blank=True, default=list)),
                ("claimed_at", models.DateTimeField(blank=True, null=True)),
                ("claim_active_at", models.DateTimeField(blank=True, null=True)),
                ("first_claimed_at", models.DateTimeField(blank=True, null=True)),
                ("first_claimed_by_name", models.CharField(blank=True, default="", max_length=150)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                ("closed_by_name", models.CharField(blank=True, default="", max_length=150)),
                ("close_reason", models.TextField(blank=True, default="")),
                (
                    "action_entry",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="resolved_cases",
                        to="monitoring.auditentry",
                    ),
                ),
                (
                    "claimed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="cases_claimed",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "closed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="cases_closed",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "room",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="cases",
                        to="monitoring.room",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Report",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("report_id", models.CharField(max_length=200, unique=True)),
                (
                    "source",
                    models.CharField(
                        choices=[("api", "platform"), ("staff", "staff"), ("alert", "alert")],
                        max_length=10,
                    ),
                ),
                ("room_name", models.CharField(blank=True, default="", max_length=256)),
                ("identity", models.CharField(blank=True, default="", max_length=256)),
                ("reporter", models.CharField(max_length=256)),
                ("category", models.CharField(max_length=60)),
                ("text", models.TextField(blank=True, default="")),
                ("excerpt", models.TextField(blank=True, default="")),
                ("evidence_url", models.CharField(blank=True, default="", max_length=2000)),
                ("reported_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("received_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "api_key",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to="monitoring.apikey",
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reports",
                        to="monitoring.case",
                    ),
                ),
                (
                    "filed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("state", "open")),
                fields=["-severity", "-reporter_count", "-last_report_at"],
                name="case_open_priority",
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["room_name", "identity", "-opened_at"], name="case_target"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["state", "closed_at"], name="case_closed"),
        ),
        migrations.AddIndex(
            model_name="report",
            index=models.Index(fields=["room_name", "received_at"], name="report_room_time"),
        ),
        migrations.AddIndex(
            model_name="report",
            index=models.Index(fields=["case", "reporter"], name="report_case_reporter"),
        ),
    ]
