# The live path: the webhook inbox, applied outside the request.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0005_audit_append_only")]

    operations = [
        migrations.CreateModel(
            name="InboxEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("event_id", models.CharField(max_length=64, unique=True)),
                ("kind", models.CharField(max_length=40)),
                ("room_key", models.CharField(max_length=300)),
                ("body", models.TextField()),
                ("received_at", models.DateTimeField()),
                ("applied_at", models.DateTimeField(blank=True, null=True)),
                ("outcome", models.CharField(blank=True, default="", max_length=300)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
            ],
            options={
                "indexes": [
                    models.Index(condition=models.Q(("applied_at__isnull", True)), fields=["id"], name="inbox_pending"),
                    models.Index(fields=["applied_at"], name="inbox_applied"),
                ],
            },
        ),
    ]
