from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("oncall", "0006_every_team_has_escalation_policy"),
    ]

    operations = [
        migrations.AddField(
            model_name="swaprequest",
            name="emailed_for",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
    ]
