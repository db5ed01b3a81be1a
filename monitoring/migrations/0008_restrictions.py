# Timed restrictions and enforcement counters.
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# The console's permissions for restrictions (accounts.access.Action), on the
# accounts.Capability content type like the others; roles_sync grants them.
PERMISSIONS = (
    ("restrict", "Restrict an identity in one room"),
    ("restrict_global", "Restrict an identity in every room"),
    ("lift_restriction", "Lift a restriction early"),
)


def permissions_create(apps, schema_editor):  # type: ignore[no-untyped-def]
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    content_type, _ = content_type_model.objects.get_or_create(
        app_label="accounts", model="capability"
    )
    for codename, name in PERMISSIONS:
        permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0007_reconciler"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="ban",
            name="last_rejoin_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="ban",
            name="rejoin_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="Restriction",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("identity", models.CharField(max_length=256)),
                ("scope", models.CharField(max_length=10)),
                ("room_name", models.CharField(blank=True, default="", max_length=256)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("silence", "silenced (no microphone)"),
                            ("no_video", "no camera or screen share"),
                            ("no_publish", "no publishing"),
                            ("no_data", "no chat or data"),
                        ],
                        max_length=20,
                    ),
                ),
                ("reason", models.TextField()),
                ("created_by_name", models.CharField(blank=True, default="", max_length=150)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("lifted_at", models.DateTimeField(blank=True, null=True)),
                ("lifted_by_name", models.CharField(blank=True, default="", max_length=150)),
                ("lift_reason", models.TextField(blank=True, default="")),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("rejoin_count", models.PositiveIntegerField(default=0)),
                ("last_rejoin_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="restrictions_created",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "lifted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="restrictions_lifted",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["identity", "lifted_at"], name="restriction_identity_open"
                    ),
                    models.Index(fields=["ended_at", "expires_at"], name="restriction_due"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("room_name", ""), ("scope", "global"))
                        | (models.Q(("scope", "room")) & ~models.Q(("room_name", ""))),
                        name="restriction_scope_matches_room",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="RestrictionApplication",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("room_name", models.CharField(max_length=256)),
                ("participant_sid", models.CharField(blank=True, default="", max_length=64)),
                ("base_permission", models.JSONField(blank=True, default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("applied", "applied"),
                            ("pending", "not applied yet"),
                            ("lifted", "lifted"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("error", models.TextField(blank=True, default="")),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "restriction",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="applications",
                        to="monitoring.restriction",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["room_name", "status"], name="restriction_app_room")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("restriction", "room_name"), name="restriction_application_room"
                    ),
                ],
            },
        ),
        migrations.RunPython(permissions_create, migrations.RunPython.noop),
    ]
