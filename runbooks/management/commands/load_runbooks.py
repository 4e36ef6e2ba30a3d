from django.core.management.base import BaseCommand, CommandError

from runbooks.services import RunbookError, runbook_library_load


class Command(BaseCommand):
    help = "Load Vigil's runbook library (runbooks/library/*.md). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--team", help="Slug of the team that owns them (default: platform).")

    def handle(self, *args, **options):
        try:
            result = runbook_library_load(team_override=options["team"])
        except RunbookError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Runbook library: {len(result.created)} created, {len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged, {len(result.kept)} kept with local edits."
        )
