from django.core.management.base import BaseCommand, CommandError

from runbooks.services import RunbookError, runbook_import_dir


class Command(BaseCommand):
    help = (
        "Import a folder of Markdown runbooks with front matter (title, slug, team, tags, "
        "alerts). Unchanged files change nothing; a bad file saves nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--team", help="Put every runbook in this team (its slug).")

    def handle(self, *args, **options):
        try:
            result = runbook_import_dir(
                directory=options["directory"], team_override=options["team"]
            )
        except RunbookError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{len(result.created)} created, {len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged."
        )
