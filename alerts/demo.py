"""Demo data for alerts: the platform team's routing and a Prometheus integration."""

from alerts.models import Integration, IntegrationKind
from alerts.services import integration_create, team_routing


def seed(*, team, users):
    team_routing(team)
    if not Integration.objects.filter(team=team, name="Prometheus (demo)").exists():
        # The token is not kept: rotate it on the Integrations page to send real alerts.
        integration_create(team=team, kind=IntegrationKind.ALERTMANAGER, name="Prometheus (demo)")
