# Viewer reports, cases and alert rules.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0008_restrictions")]

    operations = []
