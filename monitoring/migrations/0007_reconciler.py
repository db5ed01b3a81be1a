# The reconciler's pass figures and watched rooms.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_live_inbox")]

    operations = []
