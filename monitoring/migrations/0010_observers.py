# Console observers (live preview) and evidence.
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import monitoring.models.observers


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0009_cases"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="is_observer",
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name="Evidence",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                ("captured_by_name", models.CharField(max_length=150)),
                ("room_name", models.CharField(db_index=True, max_length=256)),
                ("room_sid", models.CharField(blank=True, default="", max_length=64)),
                ("identity", models.CharField(blank=True, default="", max_length=256)),
                (
                    "image",
                    models.FileField(
                        storage=monitoring.models.observers._evidence_storage,
                        upload_to="frames/%Y/%m/%d/",
                    ),
                ),
                ("size", models.PositiveIntegerField(default=0)),
                ("sha256", models.CharField(max_length=64)),
                ("attached_at", models.DateTimeField(blank=True, null=True)),
                (
                    "audit_entry",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="evidence",
                        to="monitoring.auditentry",
                    ),
                ),
                (
                    "captured_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="evidence_captured",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["captured_by", "room_name", "attached_at"],
                        name="evidence_pending",
                    )
                ],
            },
        ),
    ]
