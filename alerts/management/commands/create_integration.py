from django.core.management.base import BaseCommand, CommandError

from alerts.models import IntegrationKind
from alerts.services import AlertError, integration_create
from teams.models import Team


class Command(BaseCommand):
    help = (
        "Create an integration for a team (alerts, or with kind 'changes' change events); the "
        "last line printed is its webhook URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=IntegrationKind.values)
        parser.add_argument("name")
        parser.add_argument("--team", required=True, help="The team's slug.")

    def handle(self, *args, kind, name, team, **options):
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"No team with slug {team!r}.")
        try:
            integration, token = integration_create(team=found, kind=kind, name=name)
        except AlertError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Created {integration} for {found}. The token is shown only once.")
        self.stdout.write(f"Bearer token: {token}")
        if integration.kind == IntegrationKind.CHANGES:
            # GitHub cannot send a Bearer header, and Vigil keeps only the token's hash, so
            # GitHub needs the URL with the token in it and the token as the signing secret.
            self.stdout.write(
                "For a GitHub webhook: use the URL below as the Payload URL (content type "
                "application/json), set the token above as the webhook's Secret, and choose "
                "the 'Deployment statuses' event."
            )
        self.stdout.write(integration.webhook_url(token))
