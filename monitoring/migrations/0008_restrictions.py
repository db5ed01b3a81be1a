# Timed restrictions and enforcement counters.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0007_reconciler")]

    operations = []
