"""Demo data for alerts: a Prometheus integration for the platform team (its routing
settings are made with the team)."""

from alerts.models import Integration, IntegrationKind
from alerts.services import integration_create


def seed(*, team, users):
    if not Integration.objects.filter(team=team, name="Prometheus (demo)").exists():
        # The token is not kept: rotate it on the Integrations page to send real alerts.
        integration_create(team=team, kind=IntegrationKind.ALERTMANAGER, name="Prometheus (demo)")
