# Console observers (live preview) and evidence.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0009_cases")]

    operations = []
