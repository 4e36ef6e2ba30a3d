from django.core.management.base import BaseCommand

from runbooks.models import Runbook
from runbooks.services import runbook_export_dir


class Command(BaseCommand):
    help = "Write every runbook to DIR/<slug>.md with front matter, ready to keep in git."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--team", help="Only this team's runbooks (its slug).")

    def handle(self, *args, **options):
        runbooks = Runbook.objects.all()
        if options["team"]:
            runbooks = runbooks.filter(team__slug=options["team"])
        written = runbook_export_dir(directory=options["directory"], queryset=runbooks)
        self.stdout.write(f"{len(written)} runbooks written to {options['directory']}.")
