"""One road to start an escalation: every new incident that is to page reaches paging through
incident_declared (page=True), whether a person or an alert declared it."""

import pytest

from incidents import signals
from incidents.models import Severity
from incidents.services import incident_declare
from paging.models import Escalation
from paging.services import on_incident_declared
from tests.alerts_fixtures import am_payload, integration_for, oncall_team, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """The declarations paging heard, with their page flag; paging's own receiver stays on."""
    calls = []

    def listen(sender, *, incident, by, page, **kwargs):
        calls.append((incident.pk, by, page))

    signals.incident_declared.connect(listen, dispatch_uid="test_escalation_road")
    yield calls
    signals.incident_declared.disconnect(dispatch_uid="test_escalation_road")


def test_an_alert_opened_incident_pages_through_the_declaration(client, heard):
    team, _people = oncall_team()
    integration, token = integration_for(team)
    assert post(client, integration, am_payload(), token=token).status_code == 202
    escalation = Escalation.objects.get()
    assert heard == [(escalation.incident_id, None, True)]


def test_without_the_receiver_no_alert_opened_incident_pages(client):
    """Nothing else starts a new incident's escalation: with paging's receiver off, none runs."""
    team, _people = oncall_team()
    integration, token = integration_for(team)
    signals.incident_declared.disconnect(
        on_incident_declared, dispatch_uid="paging_incident_declared"
    )
    try:
        assert post(client, integration, am_payload(), token=token).status_code == 202
    finally:
        signals.incident_declared.connect(
            on_incident_declared, dispatch_uid="paging_incident_declared"
        )
    assert not Escalation.objects.exists()


def test_a_declaration_pages_only_when_asked(heard):
    team, people = oncall_team()
    sev1 = Severity.objects.get(name="SEV1")
    by = people["primary"]
    quiet = incident_declare(title="Checked by hand", severity=sev1, team=team, by=by)
    loud = incident_declare(title="Paging", severity=sev1, team=team, by=None, page=True)
    assert list(Escalation.objects.values_list("incident_id", flat=True)) == [loud.pk]
    assert heard == [(quiet.pk, by, False), (loud.pk, None, True)]
