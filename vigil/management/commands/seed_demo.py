"""Load Vigil's demo data. Idempotent: running it twice leaves the same data."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import demo as accounts_demo
from alerts import demo as alerts_demo
from changes import demo as changes_demo
from incidents import demo as incidents_demo
from oncall import demo as oncall_demo
from postmortems import demo as postmortems_demo
from runbooks import demo as runbooks_demo
from status import demo as status_demo


class Command(BaseCommand):
    help = "Create the demo team, its people (one per role) and the seed document's data."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("Demo users are never created in production (VIGIL_ENV).")
        with transaction.atomic():
            users = accounts_demo.seed()
            team = oncall_demo.seed(users=users)
            incident = incidents_demo.seed(team=team, users=users)
            postmortems_demo.seed(team=team, users=users)
            runbooks_demo.seed(team=team, users=users)
            alerts_demo.seed(team=team, users=users)
            changes_demo.seed(team=team, users=users, incident=incident)
            status_demo.seed(team=team, users=users, incident=incident)
        self.stdout.write(
            f"Demo data ready: log in as {', '.join(sorted(users))} "
            f"with password {accounts_demo.DEMO_PASSWORD!r}."
        )
