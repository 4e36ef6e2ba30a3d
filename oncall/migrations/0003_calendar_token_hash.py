"""Calendar feed tokens are kept as their SHA-256 only. Existing rows store the hash of the
token they had, so every feed URL already handed out keeps working."""

import hashlib
import secrets

from django.db import migrations, models


def hash_tokens(apps, schema_editor):
    CalendarToken = apps.get_model("oncall", "CalendarToken")
    for row in CalendarToken.objects.only("pk", "token").iterator():
        row.token_hash = hashlib.sha256(row.token.encode()).hexdigest()
        row.prefix = row.token[:6]
        row.save(update_fields=["token_hash", "prefix"])


def issue_new_tokens(apps, schema_editor):
    """Going back cannot recover a token from its hash: every feed gets a new URL."""
    CalendarToken = apps.get_model("oncall", "CalendarToken")
    for row in CalendarToken.objects.only("pk").iterator():
        row.token = secrets.token_urlsafe(32)
        row.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("oncall", "0002_layer_contactmethod_escalationpolicy_handoffnote_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="calendartoken",
            name="token_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="calendartoken",
            name="prefix",
            field=models.CharField(blank=True, max_length=6),
        ),
        # Not unique while it goes, so that going back can add the column before refilling it.
        migrations.AlterField(
            model_name="calendartoken",
            name="token",
            field=models.CharField(max_length=64),
        ),
        migrations.RunPython(hash_tokens, issue_new_tokens),
        migrations.RemoveField(model_name="calendartoken", name="token"),
        migrations.AlterField(
            model_name="calendartoken",
            name="token_hash",
            field=models.CharField(max_length=64, unique=True),
        ),
    ]
