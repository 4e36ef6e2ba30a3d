"""Teams move here from oncall (Team, Membership) and alerts (TeamRouting) with their tables
and rows: the models are created in Django's state only, over the tables that exist, and the
content types move with them, so permissions and the admin's history stay attached."""

import accounts.models
import datetime
import django.db.models.deletion
import teams.models
from django.conf import settings
from django.db import migrations, models


MOVED = [("oncall", "team"), ("oncall", "membership"), ("alerts", "teamrouting")]


def _move(apps, pairs):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for old_label, new_label, model in pairs:
        old = ContentType.objects.filter(app_label=old_label, model=model).first()
        if old is None:
            continue  # a new database: post_migrate makes the content type later
        ContentType.objects.filter(app_label=new_label, model=model).delete()
        old.app_label = new_label
        old.save(update_fields=["app_label"])


def content_types_to_teams(apps, schema_editor):
    _move(apps, [(label, "teams", model) for label, model in MOVED])


def content_types_back(apps, schema_editor):
    _move(apps, [("teams", label, model) for label, model in MOVED])


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("oncall", "0003_calendar_token_hash"),
        ("alerts", "0003_alert_group_recent_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Membership',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('role', models.CharField(choices=[('viewer', 'Viewer'), ('responder', 'Responder'), ('manager', 'Manager'), ('admin', 'Admin')], default='responder', max_length=16)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'oncall_membership',
                        'ordering': ['team__name', 'user__username'],
                    },
                ),
                migrations.CreateModel(
                    name='Team',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('slug', models.SlugField(max_length=100, unique=True)),
                        ('time_zone', models.CharField(default='UTC', max_length=64, validators=[accounts.models.validate_time_zone])),
                        ('engineering_lead', models.ForeignKey(blank=True, help_text="The last step of the team's default escalation path.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='teams_led', to=settings.AUTH_USER_MODEL)),
                        ('members', models.ManyToManyField(related_name='teams', through='teams.Membership', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'oncall_team',
                        'ordering': ['name'],
                    },
                ),
                migrations.AddField(
                    model_name='membership',
                    name='team',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='teams.team'),
                ),
                migrations.CreateModel(
                    name='TeamRouting',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('business_days', models.JSONField(default=teams.models.default_business_days, help_text='Weekdays, Monday = 0.')),
                        ('business_start', models.TimeField(default=datetime.time(9, 0))),
                        ('business_end', models.TimeField(default=datetime.time(17, 0))),
                        ('severity_map', models.JSONField(default=teams.models.default_severity_map, help_text='Alert severity label → SEV name.')),
                        ('incidents_webhook_url', models.URLField(blank=True, help_text='#incidents')),
                        ('oncall_webhook_url', models.URLField(blank=True, help_text='#on-call')),
                        ('alerts_webhook_url', models.URLField(blank=True, help_text='#alerts')),
                        ('pagerduty_routing_key', models.CharField(blank=True, max_length=64)),
                        ('reopen_window_minutes', models.PositiveIntegerField(default=30, help_text='An alert group that fires again this many minutes after its incident was resolved reopens that incident instead of opening a new one (0: never reopen).')),
                        ('team', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='routing', to='teams.team')),
                    ],
                    options={
                        'db_table': 'alerts_teamrouting',
                    },
                ),
                migrations.AddConstraint(
                    model_name='membership',
                    constraint=models.UniqueConstraint(fields=('team', 'user'), name='one_membership_per_team'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_teams, content_types_back),
    ]
