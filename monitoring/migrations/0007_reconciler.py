# The reconciler's pass figures and watched rooms.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_live_inbox")]

    operations = [
        migrations.CreateModel(
            name="ReconcilePass",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField(db_index=True)),
                ("duration_ms", models.PositiveIntegerField(default=0)),
                ("ok", models.BooleanField(default=True)),
                ("error", models.TextField(blank=True, default="")),
                ("rooms_listed", models.PositiveIntegerField(default=0)),
                ("rooms_checked", models.PositiveIntegerField(default=0)),
                ("rooms_disagreeing", models.PositiveIntegerField(default=0)),
                ("rooms_watched", models.PositiveIntegerField(default=0)),
                ("rooms_rotated", models.PositiveIntegerField(default=0)),
                ("rooms_corrected", models.PositiveIntegerField(default=0)),
                ("corrections", models.PositiveIntegerField(default=0)),
                ("livekit_calls", models.PositiveIntegerField(default=0)),
                ("queries", models.PositiveIntegerField(default=0)),
                ("rotation_cursor", models.CharField(blank=True, default="", max_length=64)),
            ],
            options={"ordering": ["-started_at", "-pk"]},
        ),
        migrations.CreateModel(
            name="WatchedRoom",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("channel_name", models.CharField(max_length=200, unique=True)),
                ("wall", models.BooleanField(default=False)),
                ("seen_at", models.DateTimeField(db_index=True)),
                (
                    "room",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="monitoring.room",
                    ),
                ),
            ],
        ),
    ]
