"""Record a change from a deploy script:

    manage.py record_change --team platform --service checkout --summary "Deploy v1.6.0" \\
        --version v1.6.0 --previous-version v1.5.2 --environment production --id "$CI_RUN_ID"

It goes on the timeline of every incident whose window holds it. A refused change exits 1
with the reason; an --id already recorded says so and exits 0, so a retried script is safe.
"""

from django.core.management.base import BaseCommand, CommandError

from changes import payloads
from changes.models import ChangeKind, ChangeSource
from changes.services import change_line, change_record
from common.inputs import InputError
from teams.models import Team


class Command(BaseCommand):
    help = "Record a deploy, config or flag change for a team (for deploy scripts)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the change's version here, not Django's: ours replaces it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="The team's slug.")
        parser.add_argument("--service", required=True, help="The service changed.")
        parser.add_argument("--summary", required=True, help="What changed, in one line.")
        parser.add_argument("--kind", choices=ChangeKind.values, default=ChangeKind.DEPLOY)
        parser.add_argument("--environment", default="", help="e.g. production")
        parser.add_argument("--version", default="", help="What the change put in place.")
        parser.add_argument(
            "--previous-version", default="", help="What it replaced (for the rollback)."
        )
        parser.add_argument("--author", default="", help="Who made the change.")
        parser.add_argument("--url", default="", help="An http(s) link to the deploy.")
        parser.add_argument(
            "--at", default="", help="When, ISO 8601 with a zone (2026-12-02T03:10:00Z); now."
        )
        parser.add_argument(
            "--id", dest="external_id", default="", help="Your key: the same again records nothing."
        )

    def handle(self, *args, **options):
        slug = options["team"].strip()
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise CommandError(f"No team with slug {slug!r}.")
        try:
            change, created = change_record(
                team=team,
                service=options["service"],
                summary=options["summary"],
                source=ChangeSource.CLI,
                kind=options["kind"],
                environment=options["environment"],
                version=options["version"],
                previous_version=options["previous_version"],
                author=options["author"],
                occurred_at=payloads.parse_time(options["at"], "--at"),
                url=options["url"],
                external_id=options["external_id"],
            )
        except InputError as exc:
            raise CommandError(f"The change was not recorded: {exc}") from exc
        when = f"{change.occurred_at:%Y-%m-%d %H:%M:%S %Z}"
        if not created:
            self.stdout.write(
                f"Already recorded as change {change.pk} ({change.service.name}: "
                f"{change.summary}, {when}); nothing new was stored."
            )
            return
        self.stdout.write(f"Recorded for {team}, {when}: {change_line(change)}")
        self.stdout.write(f"Change id: {change.pk}")
