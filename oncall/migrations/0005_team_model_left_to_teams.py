"""Team and Membership (and alerts' TeamRouting) now live in the teams app, in the same
tables: this changes what Django knows, not the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0004_team_routing_moves_to_teams"),
        ("incidents", "0010_team_moves_to_teams"),
        ("oncall", "0004_team_moves_to_teams"),
        ("paging", "0003_team_moves_to_teams"),
        ("postmortems", "0003_team_moves_to_teams"),
        ("runbooks", "0002_team_moves_to_teams"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name="Team",
                ),
            ],
            database_operations=[],
        ),
    ]
