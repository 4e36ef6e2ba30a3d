from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0005_alter_integration_kind"),
    ]

    operations = [
        migrations.AlterField(
            model_name="integration",
            name="kind",
            field=models.CharField(
                choices=[
                    ("alertmanager", "Prometheus Alertmanager (webhook v4)"),
                    ("generic", "Generic JSON"),
                    ("vigil", "Vigil checks and scans"),
                    ("changes", "Change events (deploys, config, flags)"),
                ],
                max_length=16,
            ),
        ),
    ]
